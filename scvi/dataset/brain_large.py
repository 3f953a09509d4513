"""The 1.3 million mouse brain cells of 10x Genomics, read chunk by chunk."""

import logging
import os
from typing import Iterator, Optional, Tuple

import h5py
import numpy as np
import scipy.sparse as sp_sparse

from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

BRAIN_LARGE_URL = (
    "http://cf.10xgenomics.com/samples/cell-exp/1.3.0/1M_neurons/"
    "1M_neurons_filtered_gene_bc_matrices_h5.h5"
)
_MATRIX_KEYS = ("data", "indices", "indptr", "shape")
# at most this many non-zero values are read at once, whatever the chunk size
_MAX_NNZ_PER_READ = 1 << 21


class BrainLargeDataset(DownloadableDataset):
    """Loads brain-large dataset.

    This dataset contains 1.3 million brain cells from `10x Genomics`_.
    We randomly shuffle the data to get a 1M subset of cells and order genes by
    variance to retain first 10,000 and then 720 sampled variable genes. This
    dataset is then sampled multiple times in cells for the runtime and
    goodness-of-fit analysis. We report imputation scores on the 10k cells and 720
    genes samples only.

    The file is a 10x HDF5 matrix: a group (one per genome, e.g. ``mm10``, or
    ``matrix``) holding ``data``, ``indices``, ``indptr`` and ``shape`` of a
    (genes x cells) compressed sparse column matrix, and optionally gene names.
    Gene variances are estimated on the first ``sample_size_gene_var`` cells; the
    ``nb_genes_to_keep`` most variable genes are kept, in order of decreasing
    variance. The cells are then read in chunks of ``loading_batch_size`` (and
    never more than about two million values at once) and the kept-gene CSR matrix
    is filled in place, so that the full matrix is never held in memory: the peak
    is the size of the result plus a bounded working set. ``X`` is a float32 CSR
    matrix; every cell is in batch 0 with label 0.

    Parameters
    ----------
    filename : str, optional
        File name to use when saving/loading the data; ``brain_large.h5`` by
        default.
    save_path : str
        Location to use when saving/loading the data.
    sample_size_gene_var : int
        Number of cells to use to estimate gene variances.
    max_cells_to_keep : int, optional
        Maximum number of cells to keep (the first ones of the file).
    nb_genes_to_keep : int
        Number of genes to keep, ordered by decreasing variance.
    loading_batch_size : int
        Number of cells to use for each chunk loaded.
    delayed_populating : bool
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> gene_dataset = BrainLargeDataset()

    .. _10x Genomics:
        https://support.10xgenomics.com/single-cell-gene-expression/datasets
    """

    def __init__(
        self,
        filename: Optional[str] = None,
        save_path: str = "data",
        sample_size_gene_var: int = 10000,
        max_cells_to_keep: Optional[int] = None,
        nb_genes_to_keep: int = 720,
        loading_batch_size: int = 100000,
        delayed_populating: bool = False,
    ):
        for name, value in (
            ("sample_size_gene_var", sample_size_gene_var),
            ("nb_genes_to_keep", nb_genes_to_keep),
            ("loading_batch_size", loading_batch_size),
            (
                "max_cells_to_keep",
                1 if max_cells_to_keep is None else max_cells_to_keep,
            ),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be a positive int, got {value}")
        self.sample_size_gene_var = int(sample_size_gene_var)
        self.max_cells_to_keep = max_cells_to_keep
        self.nb_genes_to_keep = int(nb_genes_to_keep)
        self.loading_batch_size = int(loading_batch_size)
        super().__init__(
            urls=BRAIN_LARGE_URL,
            filenames=filename or "brain_large.h5",
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def populate(self) -> None:
        """Populates a :class:`DownloadableDataset` object's data attributes.

        E.g. by calling one of :class:`GeneExpressionDataset`'s ``populate_from...``
        methods.
        """
        logger.info("Preprocessing Brain Large data")
        path = os.path.join(self.save_path, self.filenames[0])
        try:
            handle = h5py.File(path, "r")
        except OSError as error:
            raise ValueError(f"could not open {path} as HDF5: {error}") from error
        with handle:
            group = _matrix_group(handle, path)
            X, genes = read_top_variance_genes(
                group,
                nb_genes_to_keep=self.nb_genes_to_keep,
                sample_size_gene_var=self.sample_size_gene_var,
                max_cells_to_keep=self.max_cells_to_keep,
                loading_batch_size=self.loading_batch_size,
            )
            gene_names = _gene_names(group)
        logger.info("%d cells subsampled", X.shape[0])
        logger.info("%d genes subsampled", X.shape[1])
        # without names in the file, genes are named after their position in it
        names = genes.astype(str) if gene_names is None else gene_names[genes]
        self.populate_from_data(X, gene_names=names)
        logger.info("Finished preprocessing data")


def _matrix_group(handle: h5py.File, path: str) -> h5py.Group:
    """The group holding the CSC matrix (``matrix``, or the one genome group)."""
    groups = [
        name
        for name, item in handle.items()
        if isinstance(item, h5py.Group) and all(k in item for k in _MATRIX_KEYS)
    ]
    if not groups:
        raise ValueError(
            f"{path} has no group with the datasets {list(_MATRIX_KEYS)}; found "
            f"{list(handle)}"
        )
    if "matrix" in groups:
        return handle["matrix"]
    if len(groups) > 1:
        raise ValueError(f"{path} holds several genomes {groups}; expected one")
    return handle[groups[0]]


def _gene_names(group: h5py.Group) -> Optional[np.ndarray]:
    """Gene names of a 10x HDF5 group (Cell Ranger 2 or 3 layout), or None."""
    for key in ("gene_names", "features/name", "genes", "features/id"):
        if key in group:
            return np.asarray(group[key][()]).astype(str)
    return None


def _slices(
    indptr: np.ndarray, stop: int, batch_size: int
) -> Iterator[Tuple[int, int, int, int]]:
    """Cell ranges ``[a, b)`` of at most ``batch_size`` cells and about
    ``_MAX_NNZ_PER_READ`` values (at least one cell), with their value range."""
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, stop)
        a = start
        while a < end:
            limit = indptr[a] + _MAX_NNZ_PER_READ
            b = a + int(np.searchsorted(indptr[a + 1 : end + 1], limit, side="right"))
            b = max(b, a + 1)
            yield a, b, int(indptr[a]), int(indptr[b])
            a = b


def _variance_order(group, indptr, n_cells: int, n_genes: int, batch_size: int):
    """Genes by decreasing variance over the first ``n_cells`` cells.

    Ties are broken by position. For integer counts the comparison is exact: genes
    are ranked on ``n * sum(x^2) - sum(x)^2`` (``n^2`` times the variance) in
    integer arithmetic, so that equal variances are recognized as equal.
    """
    sums = np.zeros(n_genes, dtype=np.float64)
    squares = np.zeros(n_genes, dtype=np.float64)
    integral = True
    data_ds = group["data"].astype(np.float64)
    for _, _, lo, hi in _slices(indptr, n_cells, batch_size):
        genes = group["indices"][lo:hi]
        values = data_ds[lo:hi]
        integral = integral and bool(np.all(values == np.floor(values)))
        sums += np.bincount(genes, weights=values, minlength=n_genes)
        squares += np.bincount(genes, weights=values * values, minlength=n_genes)
    if integral and squares.max(initial=0) < 2**53:
        # exact: float64 holds these integer sums without rounding
        s1 = sums.astype(np.int64).astype(object)
        s2 = squares.astype(np.int64).astype(object)
        score = n_cells * s2 - s1 * s1
    else:
        means = sums / n_cells
        score = squares / n_cells - means * means
    return np.argsort(-score, kind="stable")


def read_top_variance_genes(
    group: h5py.Group,
    nb_genes_to_keep: int = 720,
    sample_size_gene_var: int = 10000,
    max_cells_to_keep: Optional[int] = None,
    loading_batch_size: int = 100000,
) -> Tuple[sp_sparse.csr_matrix, np.ndarray]:
    """Read the most variable genes of a 10x HDF5 (genes x cells) CSC matrix.

    Parameters
    ----------
    group
        HDF5 group with ``data``, ``indices``, ``indptr`` and ``shape``.
    nb_genes_to_keep
        Number of genes to keep, ordered by decreasing variance (ties by position).
    sample_size_gene_var
        Number of first cells on which the gene variances are estimated.
    max_cells_to_keep
        Number of first cells to keep; all by default.
    loading_batch_size
        Number of cells read per chunk.

    Returns
    -------
    X, genes
        The (cells, kept genes) float32 CSR matrix with sorted indices, and the
        positions of the kept genes in the file, (nb_genes_kept,).

    Raises
    ------
    ValueError
        If ``indptr`` does not match ``shape``.
    """
    n_genes, n_cells = (int(v) for v in group["shape"][()])
    if group["indptr"].shape[0] != n_cells + 1:
        raise ValueError(
            f"indptr has {group['indptr'].shape[0]} entries but shape {n_genes} x "
            f"{n_cells} needs {n_cells + 1}"
        )
    if max_cells_to_keep is not None:
        n_cells = min(n_cells, int(max_cells_to_keep))
    indptr = group["indptr"][: n_cells + 1].astype(np.int64)
    n_sample = min(sample_size_gene_var, n_cells)
    order = _variance_order(group, indptr, n_sample, n_genes, loading_batch_size)
    genes = order[:nb_genes_to_keep].astype(np.int64)
    lookup = np.full(n_genes, -1, dtype=np.int32)
    lookup[genes] = np.arange(genes.size, dtype=np.int32)
    logger.info("Kept the %d genes of largest variance", genes.size)

    # first pass: number of kept values of each cell, to allocate the result once
    kept_per_cell = np.zeros(n_cells, dtype=np.int64)
    for a, b, lo, hi in _slices(indptr, n_cells, loading_batch_size):
        if hi == lo:
            continue
        kept = lookup[group["indices"][lo:hi]] >= 0
        ends = np.cumsum(kept, dtype=np.int32)
        del kept
        cut = indptr[a + 1 : b + 1] - lo
        counts = ends[cut - 1].astype(np.int64) * (cut > 0)
        counts[1:] -= counts[:-1].copy()
        kept_per_cell[a:b] = counts
    nnz = int(kept_per_cell.sum())
    index_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    out_indptr = np.zeros(n_cells + 1, dtype=index_dtype)
    np.cumsum(kept_per_cell, out=out_indptr[1:])
    del kept_per_cell
    out_indices = np.empty(nnz, dtype=index_dtype)
    out_data = np.empty(nnz, dtype=np.float32)

    # second pass: fill the kept values in place
    data_ds = group["data"].astype(np.float32)
    n_chunks = -(-n_cells // loading_batch_size)
    for a, b, lo, hi in _slices(indptr, n_cells, loading_batch_size):
        new_genes = lookup[group["indices"][lo:hi]]
        kept = new_genes >= 0
        start, stop = int(out_indptr[a]), int(out_indptr[b])
        np.compress(kept, new_genes, out=out_indices[start:stop])
        del new_genes
        np.compress(kept, data_ds[lo:hi], out=out_data[start:stop])
        if b % loading_batch_size == 0 or b == n_cells:
            logger.info("Loaded batch %d/%d", -(-b // loading_batch_size), n_chunks)
    X = sp_sparse.csr_matrix(
        (out_data, out_indices, out_indptr), shape=(n_cells, genes.size), copy=False
    )
    X.sort_indices()
    return X, genes
