"""A count matrix left on disk and read in row chunks: :class:`BackedMatrix`.

It takes the place of ``X`` in a :class:`~scvi.dataset.GeneExpressionDataset` built
by :class:`~scvi.dataset.BackedAnnDataset` or :class:`~scvi.dataset.BackedLoomDataset`.
Subsetting (``X[rows]``, ``X[:, genes]``) gives a lazy view: nothing is read until
rows are asked for with :meth:`BackedMatrix.read`, :meth:`~BackedMatrix.tocsr` or
:meth:`~BackedMatrix.toarray`. Reductions over all cells (:meth:`~BackedMatrix.sum`,
:meth:`~BackedMatrix.map_chunks`) stream over row chunks, so filters and gene
selection work without the matrix in memory. Anything that would need the whole
matrix as an array (``np.asarray(X)``) raises a ValueError saying so.
"""

import warnings
from typing import Callable, Iterator, Optional

import numpy as np
import scipy.sparse as sp_sparse

from ._checks import as_index

# stored entries read per chunk by the streaming reductions
_CHUNK_ENTRIES = 1 << 22


def _positions(key, length: int, name: str) -> Optional[np.ndarray]:
    """A row or column key as int64 positions; None for ``slice(None)``."""
    if isinstance(key, slice):
        if key == slice(None):
            return None
        return np.arange(length, dtype=np.int64)[key]
    if isinstance(key, (int, np.integer)):
        key = [key]
    return as_index(key, length, name)


class BackedMatrix:
    """Counts on disk, (n_cells, n_genes), read by row chunks.

    Parameters
    ----------
    source
        A row reader of :mod:`scvi.dataset.backed_sources`.
    rows
        File row of each row of this view (None: every file row, in order).
    columns
        Stored column of each column of this view (None: every column).
    """

    ndim = 2

    def __init__(self, source, rows=None, columns=None):
        self.source = source
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.columns = None if columns is None else np.asarray(columns, np.int64)
        n_rows = source.shape[0] if self.rows is None else self.rows.size
        n_cols = source.shape[1] if self.columns is None else self.columns.size
        self.shape = (int(n_rows), int(n_cols))
        self._row_sums = None

    # ------------------------------------------------------------ description
    @property
    def path(self) -> str:
        """The file holding the counts."""
        return self.source.path

    @property
    def dtype(self) -> np.dtype:
        """Data type of the stored counts."""
        return self.source.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (
            f"<BackedMatrix {self.shape[0]} x {self.shape[1]} of {self.dtype} read "
            f"from {self.path}>"
        )

    def __array__(self, *args, **kwargs):
        raise self.in_memory_error()

    def copy(self):
        """Not possible: a copy would hold the whole matrix in memory (raises)."""
        raise self.in_memory_error()

    def in_memory_error(self) -> ValueError:
        """The error of operations that need the whole matrix in memory."""
        return ValueError(
            f"the counts ({self.shape[0]} x {self.shape[1]}) are backed by "
            f"{self.path} and read in row chunks; this operation needs the whole "
            "matrix in memory, which a backed dataset does not do. Load rows "
            "explicitly with X[rows].tocsr(), or use an in-memory dataset "
            "(e.g. AnnDatasetFromAnnData)."
        )

    # ------------------------------------------------------------ subsetting
    def __getitem__(self, key) -> "BackedMatrix":
        """A lazy view: ``X[rows]``, ``X[rows, columns]`` or ``X[:, columns]``.

        Keys are slices, integer positions or boolean masks.
        """
        row_key, col_key = key if isinstance(key, tuple) else (key, slice(None))
        local = _positions(row_key, self.shape[0], "rows")
        cols = _positions(col_key, self.shape[1], "columns")
        rows = self.rows
        if local is not None:
            rows = local if self.rows is None else self.rows[local]
        if cols is None:
            cols = self.columns
        elif self.columns is not None:
            cols = self.columns[cols]
        view = BackedMatrix(self.source, rows, cols)
        if self._row_sums is not None and cols is self.columns:
            # same genes: the row sums of the view are known
            view._row_sums = self._row_sums if local is None else self._row_sums[local]
        return view

    # ------------------------------------------------------------ reading
    def read(self, positions) -> sp_sparse.csr_matrix:
        """The rows ``positions`` of this view, in their order, as CSR.

        Parameters
        ----------
        positions
            Row positions (any order, repeats allowed).
        """
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        file_rows = positions if self.rows is None else self.rows[positions]
        if file_rows.size > 1 and np.all(np.diff(file_rows) > 0):
            block = self.source.read_rows(file_rows)
        else:
            unique, inverse = np.unique(file_rows, return_inverse=True)
            block = self.source.read_rows(unique)[inverse]
        if self.columns is not None:
            block = block[:, self.columns]
        if not block.has_canonical_format:  # duplicates would skew the moments
            block.sum_duplicates()
        return block

    def tocsr(self) -> sp_sparse.csr_matrix:
        """Every row of this view in memory, as CSR (explicit, may be large)."""
        return self.read(np.arange(self.shape[0]))

    def toarray(self) -> np.ndarray:
        """Every row of this view in memory, dense (explicit, may be large)."""
        return self.tocsr().toarray()

    def chunk_rows(self) -> int:
        """Rows per chunk of the streaming reductions (about 4M stored entries)."""
        return int(max(1, _CHUNK_ENTRIES // max(self.source.entries_per_row(), 1.0)))

    def chunks(
        self, chunk_rows: Optional[int] = None
    ) -> Iterator[sp_sparse.csr_matrix]:
        """The rows of this view in order, as consecutive CSR chunks."""
        step = chunk_rows or self.chunk_rows()
        for start in range(0, self.shape[0], step):
            yield self.read(np.arange(start, min(start + step, self.shape[0])))

    # ------------------------------------------------------------ reductions
    def map_chunks(self, function: Callable, *args):
        """Sum of ``function(chunk, *args)`` over the row chunks.

        For additive reductions over cells (column sums, moments, counts):
        ``function`` returns an array or a tuple of arrays, added up elementwise.
        """
        total = None
        for chunk in self.chunks():
            part = function(chunk, *args)
            if total is None:
                total = part
            elif isinstance(part, tuple):
                total = tuple(a + b for a, b in zip(total, part))
            else:
                total = total + part
        return total

    def sum(self, axis: Optional[int] = None, dtype=None):
        """Sum over all entries (None), over cells (0, shape (1, n_genes)) or over
        genes (1, shape (n_cells, 1)), streamed by row chunks, as scipy does."""
        if axis not in (None, 0, 1, -1, -2):
            raise ValueError(f"axis must be None, 0 or 1, got {axis!r}")
        dtype = np.dtype(dtype or np.float64)
        if axis in (1, -1):
            return self.row_sums().astype(dtype).reshape(-1, 1)
        columns = self.map_chunks(lambda c: np.asarray(c.sum(axis=0, dtype=dtype)))
        if columns is None:
            columns = np.zeros((1, self.shape[1]), dtype=dtype)
        return columns.sum(dtype=dtype) if axis is None else columns

    def row_sums(self) -> np.ndarray:
        """Total count of each row, float64 of shape (n_rows,) (cached)."""
        if self._row_sums is None:
            parts = [
                np.asarray(c.sum(axis=1, dtype=np.float64)).reshape(-1)
                for c in self.chunks()
            ]
            self._row_sums = np.concatenate(parts) if parts else np.zeros(0)
        return self._row_sums

    def validate_counts(self, name: str = "X") -> None:
        """Check, chunk by chunk, that the values are counts (as
        :func:`~scvi.dataset._checks.check_counts` does for arrays in memory).

        Row sums are computed in the same pass and kept.

        Raises
        ------
        ValueError
            If a value is negative, NaN or infinite (the file is named).
        """
        if not np.issubdtype(self.dtype, np.number):
            raise ValueError(
                f"{name} in {self.path} must hold numbers, got {self.dtype}"
            )
        fractional = False
        sums = []
        for chunk in self.chunks():
            values = chunk.data
            if values.size:
                if not np.all(np.isfinite(values)):
                    raise ValueError(
                        f"{name} in {self.path} contains NaN or infinite values; "
                        "counts expected"
                    )
                if values.min() < 0:
                    raise ValueError(
                        f"{name} in {self.path} contains negative values; counts "
                        "must be >= 0"
                    )
                fractional = fractional or not np.array_equal(values, np.floor(values))
            sums.append(np.asarray(chunk.sum(axis=1, dtype=np.float64)).reshape(-1))
        self._row_sums = np.concatenate(sums) if sums else np.zeros(0)
        if fractional:
            warnings.warn(
                f"{name} in {self.path} contains non-integer values; scvi models "
                "expect raw counts",
                UserWarning,
                stacklevel=3,
            )


def is_backed(matrix) -> bool:
    """Whether ``matrix`` is a :class:`BackedMatrix` (counts read from disk)."""
    return isinstance(matrix, BackedMatrix)
