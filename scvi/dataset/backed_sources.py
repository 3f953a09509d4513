"""Row readers of count matrices stored on disk (HDF5: ``.h5ad`` and ``.loom``).

A source answers ``shape``, ``dtype`` and :meth:`read_rows` (any sorted set of file
rows, as a CSR matrix) without holding the matrix in memory. Sorted rows are
grouped into spans of nearby rows and each span is read with one slice, so that a
chunk of neighbouring cells costs one read per stored array.

* :class:`CSRSource`: a CSR group (``data``, ``indices``, ``indptr``) of an
  ``.h5ad`` file; ``indptr`` (n_cells + 1 integers) is kept in memory.
* :class:`DenseRowsSource`: a dense 2-D dataset, cells along its rows (dense
  ``.h5ad`` ``X``) or along its columns (``/matrix`` of a ``.loom``, genes x cells).

Every open or read error names the file and what is wrong with it.
"""

from typing import Tuple

import h5py
import numpy as np
import scipy.sparse as sp_sparse

# rows further apart than this are read with separate slices
_GAP_ROWS = 64


def open_hdf5(path: str, what: str) -> h5py.File:
    """Open ``path`` read-only; a file HDF5 cannot open gives a ValueError.

    Parameters
    ----------
    path
        File to open.
    what
        File kind named in the error (e.g. ``".h5ad"``).
    """
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what} file") from None
    except OSError as error:
        raise ValueError(
            f"{path} cannot be opened as a {what} (HDF5) file; it may be truncated "
            f"or corrupt: {error}"
        ) from None


def row_spans(rows: np.ndarray, gap: int = _GAP_ROWS):
    """Group sorted unique ``rows`` into ``(first, stop)`` spans of nearby rows.

    Two consecutive rows less than ``gap`` apart share a span; the rows in between
    are read and dropped.
    """
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) > gap) + 1
    firsts = rows[np.concatenate([[0], breaks])]
    lasts = rows[np.concatenate([breaks - 1, [rows.size - 1]])]
    return list(zip(firsts.tolist(), (lasts + 1).tolist()))


class _Source:
    """Common reading logic; subclasses implement :meth:`_read_span`."""

    path: str
    shape: Tuple[int, int]
    dtype: np.dtype

    def _read_span(self, start: int, stop: int) -> sp_sparse.csr_matrix:
        raise NotImplementedError

    def read_rows(self, rows: np.ndarray) -> sp_sparse.csr_matrix:
        """The file rows ``rows`` (sorted, unique) as a CSR matrix, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        blocks = []
        for first, stop in row_spans(rows):
            try:
                block = self._read_span(first, stop)
            except (OSError, RuntimeError, KeyError) as error:
                raise ValueError(
                    f"{self.path}: reading rows {first}..{stop - 1} of the counts "
                    f"failed; the file may be truncated or corrupt: {error}"
                ) from None
            wanted = rows[(rows >= first) & (rows < stop)] - first
            if wanted.size != stop - first:
                block = block[wanted]
            blocks.append(block)
        if not blocks:
            return sp_sparse.csr_matrix((0, self.shape[1]), dtype=self.dtype)
        if len(blocks) == 1:
            return blocks[0]
        return sp_sparse.vstack(blocks, format="csr")

    def entries_per_row(self) -> float:
        """Average number of stored entries of a row (to size reading chunks)."""
        return float(self.shape[1])


class CSRSource(_Source):
    """Rows of a CSR matrix stored as an HDF5 group (``data``, ``indices``,
    ``indptr``), as ``.h5ad`` files store a sparse ``X``.

    Parameters
    ----------
    path
        File name, for error messages.
    group
        The open :class:`h5py.Group`.
    shape
        (n_rows, n_columns) of the matrix.

    Raises
    ------
    ValueError
        If an array is missing or the arrays do not describe a CSR matrix of
        ``shape`` (e.g. a truncated ``data``).
    """

    def __init__(self, path: str, group: h5py.Group, shape: Tuple[int, int]):
        self.path = path
        self.shape = (int(shape[0]), int(shape[1]))
        missing = [n for n in ("data", "indices", "indptr") if n not in group]
        if missing:
            raise ValueError(
                f"{path}: the sparse counts {group.name} have no {missing} array(s); "
                "a CSR matrix needs data, indices and indptr"
            )
        self.data, self.indices = group["data"], group["indices"]
        try:
            self.indptr = np.asarray(group["indptr"][()], dtype=np.int64)
        except (OSError, RuntimeError) as error:
            raise ValueError(
                f"{path}: cannot read {group.name}/indptr; the file may be truncated "
                f"or corrupt: {error}"
            ) from None
        self.dtype = np.dtype(self.data.dtype)
        self._check(group.name)

    def _check(self, name: str) -> None:
        n_rows = self.shape[0]
        indptr = self.indptr
        if indptr.shape != (n_rows + 1,):
            raise ValueError(
                f"{self.path}: {name}/indptr has {indptr.size} entries, {n_rows + 1} "
                f"expected for {n_rows} rows"
            )
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise ValueError(
                f"{self.path}: {name}/indptr must start at 0 and never decrease"
            )
        nnz = int(indptr[-1])
        for array in (self.data, self.indices):
            if array.ndim != 1 or array.shape[0] != nnz:
                raise ValueError(
                    f"{self.path}: {array.name} has shape {array.shape}, ({nnz},) "
                    "expected from indptr; the file may be truncated"
                )
        if not np.issubdtype(self.indices.dtype, np.integer):
            raise ValueError(f"{self.path}: {name}/indices must hold integers")

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.indptr[-1])

    def entries_per_row(self) -> float:
        return self.nnz / max(self.shape[0], 1)

    def _read_span(self, start: int, stop: int) -> sp_sparse.csr_matrix:
        first, last = int(self.indptr[start]), int(self.indptr[stop])
        indices = self.indices[first:last]
        if indices.size and (indices.min() < 0 or indices.max() >= self.shape[1]):
            raise ValueError(
                f"{self.path}: column indices of rows {start}..{stop - 1} lie outside "
                f"[0, {self.shape[1]}); the file is corrupt"
            )
        return sp_sparse.csr_matrix(
            (self.data[first:last], indices, self.indptr[start : stop + 1] - first),
            shape=(stop - start, self.shape[1]),
        )


class DenseRowsSource(_Source):
    """Rows of a dense 2-D HDF5 dataset, returned as CSR.

    Parameters
    ----------
    path
        File name, for error messages.
    dataset
        The open :class:`h5py.Dataset`.
    cells_along_columns
        True for a ``.loom`` ``/matrix`` (genes x cells): a row of the source is
        then a column of the dataset.
    """

    def __init__(self, path: str, dataset: h5py.Dataset, cells_along_columns: bool):
        if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 2:
            raise ValueError(f"{path}: {dataset.name} is not a 2-D array of counts")
        if not np.issubdtype(dataset.dtype, np.number):
            raise ValueError(
                f"{path}: {dataset.name} must hold numbers, got {dataset.dtype}"
            )
        self.path = path
        self.dataset = dataset
        self.transposed = cells_along_columns
        rows, cols = dataset.shape
        self.shape = (cols, rows) if cells_along_columns else (rows, cols)
        self.dtype = np.dtype(dataset.dtype)

    def _read_span(self, start: int, stop: int) -> sp_sparse.csr_matrix:
        if self.transposed:
            return sp_sparse.csr_matrix(self.dataset[:, start:stop].T)
        return sp_sparse.csr_matrix(self.dataset[start:stop])
