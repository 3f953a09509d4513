"""Datasets whose counts stay on disk: backed ``.h5ad`` and ``.loom`` files.

``X`` of these datasets is a :class:`~scvi.dataset.backed_matrix.BackedMatrix`: it
is read in row chunks by the mini-batch loader of the Posteriors (with read-ahead
on a background thread), and the filters and gene selections that need all cells
stream over it. Cell and gene annotations are read into memory as usual.
"""

import logging
import os
from typing import Dict, Optional

import anndata
import h5py
import numpy as np
import scipy.sparse as sp_sparse

from .anndataset import extract_data_from_anndata
from .backed_matrix import BackedMatrix
from .backed_sources import CSRSource, DenseRowsSource, open_hdf5
from .dataset import GeneExpressionDataset
from .loom import LoomDataset, read_loom

logger = logging.getLogger(__name__)

__all__ = [
    "BackedAnnDataset",
    "BackedLoomDataset",
    "open_h5ad_counts",
    "open_loom_counts",
]


def _attr(node, *names):
    """The first of the attributes ``names`` of an HDF5 node, decoded; or None."""
    for name in names:
        if name in node.attrs:
            value = node.attrs[name]
            return value.decode() if isinstance(value, bytes) else value
    return None


def open_h5ad_counts(path: str, key: str = "X") -> BackedMatrix:
    """The counts ``key`` of an ``.h5ad`` file, left on disk.

    Parameters
    ----------
    path
        The ``.h5ad`` file.
    key
        Path of the matrix in the file (``"X"``, or ``"raw/X"``).

    Returns
    -------
    BackedMatrix
        (n_obs, n_vars) counts: a CSR group, or a dense array, read by rows.

    Raises
    ------
    ValueError
        If the file cannot be opened (e.g. truncated), has no ``key``, stores it
        in a layout that cannot be read by rows (CSC), or its arrays are
        inconsistent; the message names the file.
    """
    path = os.fspath(path)
    file = open_hdf5(path, ".h5ad")
    try:
        node = file.get(key)
        if node is None:
            raise ValueError(f"{path} has no {key!r} matrix: not an .h5ad of counts")
        if isinstance(node, h5py.Dataset):
            source = DenseRowsSource(path, node, cells_along_columns=False)
        else:
            encoding = _attr(node, "encoding-type", "h5sparse_format")
            shape = _attr(node, "shape", "h5sparse_shape")
            if encoding in ("csc_matrix", "csc"):
                raise ValueError(
                    f"{path}: {key} is stored as CSC (by genes); reading cells "
                    "needs CSR: rewrite it with adata.X = adata.X.tocsr()"
                )
            if encoding not in ("csr_matrix", "csr") or shape is None:
                raise ValueError(
                    f"{path}: {key} is a group but not a CSR matrix "
                    f"(encoding {encoding!r}, shape {shape!r})"
                )
            source = CSRSource(path, node, tuple(shape))
    except BaseException:
        file.close()
        raise
    source.file = file  # the file stays open as long as the source lives
    return BackedMatrix(source)


def open_loom_counts(path: str) -> BackedMatrix:
    """The counts ``/matrix`` (genes x cells) of a ``.loom`` file, left on disk,
    as a (n_cells, n_genes) :class:`BackedMatrix`.

    Raises
    ------
    ValueError
        If the file cannot be opened or has no 2-D ``/matrix``.
    """
    path = os.fspath(path)
    file = open_hdf5(path, ".loom")
    try:
        matrix = file.get("matrix")
        if not isinstance(matrix, h5py.Dataset) or matrix.ndim != 2:
            raise ValueError(f"{path} has no 2-D /matrix dataset: not a .loom file")
        source = DenseRowsSource(path, matrix, cells_along_columns=True)
    except BaseException:
        file.close()
        raise
    source.file = file
    return BackedMatrix(source)


def _annotations(path: str, shape) -> anndata.AnnData:
    """obs, var, uns and obsm of an ``.h5ad`` file around an empty ``X`` of
    ``shape`` (the counts themselves are not read)."""
    try:
        backed = anndata.read_h5ad(path, backed="r")
    except Exception as error:  # anndata raises many kinds
        raise ValueError(
            f"{path}: cannot read the annotations (obs, var) of the .h5ad file; it "
            f"may be truncated or corrupt: {error}"
        ) from None
    try:
        if tuple(backed.shape) != tuple(shape):
            raise ValueError(
                f"{path}: X has shape {tuple(shape)} but obs x var is "
                f"{tuple(backed.shape)}"
            )
        return anndata.AnnData(
            X=sp_sparse.csr_matrix(tuple(shape), dtype=np.float32),
            obs=backed.obs.copy(),
            var=backed.var.copy(),
            uns=dict(backed.uns),
            obsm={k: backed.obsm[k] for k in backed.obsm.keys()},
        )
    finally:
        backed.file.close()


class BackedAnnDataset(GeneExpressionDataset):
    """A dataset over an ``.h5ad`` file whose counts stay on disk.

    Annotations are read as :class:`~scvi.dataset.AnnDatasetFromAnnData` reads
    them (``obs`` columns for batches, labels and cell types, ``var`` names, cell
    measurements from ``obsm``), but ``X`` is a
    :class:`~scvi.dataset.backed_matrix.BackedMatrix`: the file is read in row
    chunks when mini-batches are drawn, and library sizes, cell and gene filters
    and gene selection (``"variance"``, ``"seurat_v3"``, ``"poisson_zeros"``)
    stream over it. Operations that need the whole matrix in memory raise a
    ValueError saying so.

    Parameters
    ----------
    path
        The ``.h5ad`` file (CSR ``X`` is best; dense ``X`` works too).
    batch_label, ctype_label, class_label, cell_measurements_col_mappings
        As for :class:`~scvi.dataset.AnnDatasetFromAnnData`.

    Raises
    ------
    ValueError
        If the file is truncated or corrupt, has no ``X``, stores it as CSC, or
        holds negative, NaN or infinite counts; the message names the file.

    Examples
    --------
    >>> dataset = BackedAnnDataset("data/big.h5ad")
    >>> dataset.filter_genes_by_count(10)  # streamed
    >>> trainer = UnsupervisedTrainer(VAE(dataset.nb_genes), dataset)
    >>> trainer.train(n_epochs=1)  # mini-batches read by chunks
    """

    def __init__(
        self,
        path: str,
        batch_label: str = "batch_indices",
        ctype_label: str = "cell_types",
        class_label: str = "labels",
        cell_measurements_col_mappings: Optional[Dict[str, str]] = None,
    ):
        super().__init__()
        self.path = os.fspath(path)
        counts = open_h5ad_counts(self.path)
        data = extract_data_from_anndata(
            _annotations(self.path, counts.shape),
            batch_label=batch_label,
            ctype_label=ctype_label,
            class_label=class_label,
            cell_measurements_col_mappings=cell_measurements_col_mappings,
        )
        data["X"] = counts
        self.populate_from_data(**data)


class BackedLoomDataset(LoomDataset):
    """A dataset over a ``.loom`` file whose counts stay on disk.

    Attributes are read as :class:`~scvi.dataset.LoomDataset` reads them; the
    counts (``/matrix``, genes x cells) are read by blocks of cells when needed,
    as for :class:`BackedAnnDataset`. Cells without any count are left out
    (streamed).

    Parameters
    ----------
    path
        The ``.loom`` file.
    **loom_options
        ``batch_indices_attribute_name``, ``labels_attribute_name``,
        ``code_labels_name_into_int``, ``gene_names_attribute_name`` and
        ``cell_types_attribute_name`` of :class:`~scvi.dataset.LoomDataset`.

    Raises
    ------
    ValueError
        If the file is truncated or corrupt or has no 2-D ``/matrix``.
    """

    def __init__(self, path: str, **loom_options):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such .loom file")
        self.path = path
        super().__init__(
            os.path.basename(path),
            save_path=os.path.dirname(path) or ".",
            **loom_options,
        )

    def _read_loom(self, path: str) -> dict:
        counts = open_loom_counts(path)
        loom = read_loom(path, with_matrix=False)
        loom["X"] = counts
        return loom
