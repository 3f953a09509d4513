"""Selection of highly variable genes from a (cells x genes) count matrix.

Four flavors are available:

* ``"variance"``: the genes with the largest variance of the raw counts;
* ``"seurat_v2"``: Satija et al. (2015), log dispersion z-scored within bins of mean;
* ``"cell_ranger"``: Zheng et al. (2017), dispersion normalized by the median and the
  normalized median absolute deviation within percentile bins of mean;
* ``"seurat_v3"``: Stuart et al. (2019), variance of counts standardized with a
  loess-regularized standard deviation ("vst").

All statistics are computed in float64. A sparse matrix is never densified: means and
variances come from sums over its stored values.

:func:`highly_variable_genes` returns scanpy's statistics (its results are checked
against scanpy). :meth:`~scvi.dataset.GeneExpressionDataset.highly_variable_genes`
(:mod:`._hvg`) returns scVI 0.6.8's DataFrame: built from this module for the
dispersion flavors, from :mod:`._seurat_v3` (scVI 0.6.8's batch rule) and
:mod:`._poisson_zeros` for the others.
"""

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse
from scipy.special import ndtri

from ._matrix import canonical_counts, nonzero_count, row_sums, scale_rows
from ._seurat_v3 import paper_selection

logger = logging.getLogger(__name__)

FLAVORS = ("variance", "seurat_v2", "cell_ranger", "seurat_v3")

# every cell is scaled to this total before the log transform (dispersion flavors)
_TARGET_SUM = 1e4
# turns a median absolute deviation into a standard deviation for normal data
_MAD_SCALE = 1.0 / ndtri(0.75)


def _sum_sq_dev(X, means: np.ndarray) -> np.ndarray:
    """Sum over cells of ``(x - mean) ** 2`` for every gene.

    The implicit zeros of a sparse matrix each add ``mean ** 2``.
    """
    if sp_sparse.issparse(X):
        cols = X.indices
        dev = X.data.astype(np.float64) - means[cols]
        n_stored = np.bincount(cols, minlength=X.shape[1])
        stored = np.bincount(cols, weights=dev * dev, minlength=X.shape[1])
        return stored + (X.shape[0] - n_stored) * means**2
    dev = X.astype(np.float64) - means
    return np.einsum("ij,ij->j", dev, dev)


def _mean_var(X, ddof: int = 1):
    """Mean and variance of every column of a dense or CSR matrix, in float64."""
    n_cells = X.shape[0]
    if sp_sparse.issparse(X):
        sums = np.bincount(X.indices, weights=X.data, minlength=X.shape[1])
    else:
        sums = X.sum(axis=0, dtype=np.float64)
    means = np.asarray(sums, dtype=np.float64) / max(n_cells, 1)
    variances = _sum_sq_dev(X, means) / max(n_cells - ddof, 1)
    return means, variances


def _normalize_total(X):
    """Scale every cell to a total of ``_TARGET_SUM`` counts; empty cells stay zero."""
    totals = row_sums(X)
    factors = np.zeros(X.shape[0])
    np.divide(_TARGET_SUM, totals, out=factors, where=totals > 0)
    return scale_rows(X, factors)


def _log1p(X):
    """Natural ``log(1 + x)`` of every value; sparse stays sparse."""
    if sp_sparse.issparse(X):
        return sp_sparse.csr_matrix((np.log1p(X.data), X.indices, X.indptr), X.shape)
    return np.log1p(X)


def _dispersions(X, flavor: str):
    """Means and dispersions (variance / mean) of log-normalized counts.

    For ``"seurat_v2"`` the statistics are those of ``expm1`` of the log-normalized
    data, i.e. of the normalized counts themselves, and are returned in log space
    (``log1p`` of the mean, ``log`` of the dispersion). For ``"cell_ranger"`` they are
    those of the log-normalized data. Zero dispersions become NaN for ``"seurat_v2"``
    (whose dispersions are log-transformed) and stay zero for ``"cell_ranger"``.
    """
    normalized = _normalize_total(X)
    if flavor == "cell_ranger":
        normalized = _log1p(normalized)
    means, variances = _mean_var(normalized, ddof=1)
    means[means == 0] = 1e-12
    dispersions = variances / means
    if flavor == "seurat_v2":
        dispersions[dispersions == 0] = np.nan
        dispersions = np.log(dispersions)
        means = np.log1p(means)
    return means, dispersions


def _normalized_dispersions(means, dispersions, flavor: str, n_bins: int):
    """Normalize the dispersions within bins of mean expression.

    ``"seurat_v2"``: ``n_bins`` equal-width bins of the mean, z-score within a bin; a
    bin with a single (non-NaN) dispersion gives that gene a normalized value of 1.
    ``"cell_ranger"``: bins bounded by the 10th, 15th, ..., 100th percentiles of the
    mean, centered by the median and scaled by the normalized median absolute
    deviation. NaN dispersions are left out of the bin statistics.
    """
    if means.size == 0:
        return np.zeros(0)
    if flavor == "seurat_v2":
        low, high = means.min(), means.max()
        edges = np.linspace(low, high, n_bins + 1)[1:-1] if high > low else []
    else:
        edges = np.unique(np.percentile(means, np.arange(10, 105, 5)))
    # bin i holds the means in (edges[i - 1], edges[i]]
    bins = np.searchsorted(edges, means, side="left")
    center = np.full(bins.max() + 1, np.nan)
    scale = np.full(bins.max() + 1, np.nan)
    for b in np.unique(bins):
        finite = dispersions[bins == b]
        finite = finite[~np.isnan(finite)]
        if flavor == "seurat_v2":
            if finite.size == 1:
                center[b], scale[b] = 0.0, finite[0]
            elif finite.size > 1:
                center[b], scale[b] = finite.mean(), finite.std(ddof=1)
        elif finite.size:
            center[b] = np.median(finite)
            scale[b] = np.median(np.abs(finite - center[b])) * _MAD_SCALE
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dispersions - center[bins]) / scale[bins]


def _top_or_cutoffs(
    means, disp_norm, n_top_genes, min_mean, max_mean, min_disp, max_disp
):
    """Boolean mask of the highly variable genes of one batch (dispersion flavors)."""
    if n_top_genes is not None:
        if n_top_genes >= disp_norm.size:
            return np.ones(disp_norm.size, dtype=bool)
        finite = np.sort(disp_norm[~np.isnan(disp_norm)])[::-1]
        if finite.size == 0:
            return np.zeros(disp_norm.size, dtype=bool)
        cutoff = finite[min(n_top_genes, finite.size) - 1]
        return np.where(np.isnan(disp_norm), 0.0, disp_norm) >= cutoff
    disp_norm = np.where(np.isnan(disp_norm), 0.0, disp_norm)
    return (
        (means > min_mean)
        & (means < max_mean)
        & (disp_norm > min_disp)
        & (disp_norm < max_disp)
    )


def _dispersion_flavor(X, batches, flavor, n_top_genes, n_bins, cutoffs):
    """Highly variable genes of the ``"seurat_v2"`` and ``"cell_ranger"`` flavors."""
    n_genes = X.shape[1]
    if batches is None:
        means, dispersions = _dispersions(X, flavor)
        disp_norm = _normalized_dispersions(means, dispersions, flavor, n_bins)
        hvg = _top_or_cutoffs(means, disp_norm, n_top_genes, *cutoffs)
        columns = dict(means=means, dispersions=dispersions)
        return hvg, dict(columns, dispersions_norm=disp_norm)

    stats = np.zeros((3, len(batches), n_genes))
    per_batch_hvg = np.zeros((len(batches), n_genes), dtype=bool)
    for i, rows in enumerate(batches):
        X_batch = X[rows]
        # genes without counts in this batch are left out of its computation and
        # count as zero mean, dispersion and normalized dispersion
        kept = nonzero_count(X_batch) > 0
        means, dispersions = _dispersions(X_batch, flavor)
        means, dispersions = means[kept], dispersions[kept]
        disp_norm = _normalized_dispersions(means, dispersions, flavor, n_bins)
        stats[:, i, kept] = means, dispersions, disp_norm
        per_batch_hvg[i, kept] = _top_or_cutoffs(
            means, disp_norm, n_top_genes, *cutoffs
        )
    # average over batches, NaN values left out
    n_valid = np.sum(~np.isnan(stats), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        means, dispersions, disp_norm = np.nansum(stats, axis=1) / n_valid
    n_batches = per_batch_hvg.sum(axis=0)
    if n_top_genes is not None:
        # most batches first, then highest mean normalized dispersion (NaN last)
        ties = np.where(np.isnan(disp_norm), np.inf, -disp_norm)
        order = np.lexsort((ties, -n_batches))
        hvg = np.zeros(n_genes, dtype=bool)
        hvg[order[:n_top_genes]] = True
    else:
        hvg = _top_or_cutoffs(means, disp_norm, None, *cutoffs)
    columns = dict(means=means, dispersions=dispersions, dispersions_norm=disp_norm)
    return hvg, dict(columns, highly_variable_nbatches=n_batches)


def _batch_rows(batch_indices, n_cells: int):
    """Row indices of every batch, or None when there is at most one batch."""
    if batch_indices is None:
        return None
    batch = np.asarray(batch_indices)
    if batch.ndim == 2 and batch.shape[1] == 1:
        batch = batch[:, 0]
    if batch.ndim != 1 or batch.shape[0] != n_cells:
        raise ValueError(
            "`batch_indices` must have shape (n_cells,) or (n_cells, 1) with "
            f"n_cells={n_cells}, got shape {batch.shape}"
        )
    values = np.unique(batch)
    if values.size < 2:
        return None
    return [np.flatnonzero(batch == value) for value in values]


def highly_variable_genes(
    X,
    batch_indices=None,
    flavor: str = "seurat_v3",
    n_top_genes=None,
    min_mean: float = 0.0125,
    max_mean: float = 3.0,
    min_disp: float = 0.5,
    max_disp: float = np.inf,
    n_bins: int = 20,
    span: float = 0.3,
) -> pd.DataFrame:
    """Find the highly variable genes of a count matrix.

    Parameters
    ----------
    X
        Raw counts of shape (n_cells, n_genes): a :class:`numpy.ndarray` or a
        :mod:`scipy.sparse` matrix (CSC and COO are converted to CSR; a sparse matrix
        is never densified).
    batch_indices
        Batch of every cell, ints of shape (n_cells,) or (n_cells, 1). With more than
        one batch, genes are selected within every batch and the selections are
        combined; ignored by the ``"variance"`` flavor.
    flavor
        One of ``"variance"`` (largest variance of the raw counts), ``"seurat_v2"``
        (Satija et al. 2015), ``"cell_ranger"`` (Zheng et al. 2017) or
        ``"seurat_v3"`` (Stuart et al. 2019). The two dispersion flavors work on
        counts scaled to 1e4 per cell and log1p-transformed; ``"seurat_v3"`` and
        ``"variance"`` work on the raw counts.
    n_top_genes
        Number of genes to select. Required for ``"seurat_v3"`` and ``"variance"``;
        for the dispersion flavors it replaces the mean and dispersion cutoffs. If it
        is at least the number of genes, every gene is selected.
    min_mean, max_mean, min_disp, max_disp
        Cutoffs (exclusive) on the mean and the normalized dispersion of the
        dispersion flavors when ``n_top_genes`` is None.
    n_bins
        Number of bins of mean expression of the ``"seurat_v2"`` flavor.
    span
        Fraction of the genes used for every local fit of the ``"seurat_v3"`` loess.

    Returns
    -------
    pandas.DataFrame
        One row per gene, in the order of the columns of ``X`` (RangeIndex), with the
        boolean column ``highly_variable`` and the statistics of the flavor:
        ``variances`` (``"variance"``); ``means``, ``dispersions`` and
        ``dispersions_norm`` (``"seurat_v2"``, ``"cell_ranger"``; log-space mean and
        dispersion for ``"seurat_v2"``, averaged over batches); ``means``,
        ``variances``, ``variances_norm`` and ``highly_variable_rank``
        (``"seurat_v3"``); plus ``highly_variable_nbatches``, the number of batches in
        which the gene is highly variable, when there is more than one batch.

    Raises
    ------
    ValueError
        If ``flavor`` is unknown, ``n_top_genes`` is missing or not positive, or
        ``batch_indices`` does not have one entry per cell.

    Notes
    -----
    With batches, ``"seurat_v2"`` and ``"cell_ranger"`` leave the genes without counts
    in a batch out of that batch's computation; genes are ranked by the number of
    batches in which they are highly variable, ties broken by the mean normalized
    dispersion. ``"seurat_v3"`` ranks genes by their normalized variance within every
    batch and sorts them by the number of batches in which they are among the
    ``n_top_genes`` first, then by their median rank over those batches.
    """
    if flavor not in FLAVORS:
        raise ValueError(
            f"`flavor` must be one of {', '.join(map(repr, FLAVORS))}, got {flavor!r}"
        )
    if n_top_genes is None and flavor in ("seurat_v3", "variance"):
        raise ValueError(f"`n_top_genes` is required for flavor={flavor!r}")
    if n_top_genes is not None:
        if int(n_top_genes) != n_top_genes or n_top_genes < 1:
            raise ValueError(f"`n_top_genes` must be a positive int, got {n_top_genes}")
        n_top_genes = int(n_top_genes)
    X = canonical_counts(X)
    batches = _batch_rows(batch_indices, X.shape[0])

    if flavor == "variance":
        variances = _mean_var(X, ddof=0)[1]
        hvg = np.zeros(X.shape[1], dtype=bool)
        hvg[np.argsort(-variances, kind="stable")[:n_top_genes]] = True
        columns = dict(variances=variances)
    elif flavor == "seurat_v3":
        hvg, columns = paper_selection(X, batches, n_top_genes, span)
    else:
        cutoffs = (min_mean, max_mean, min_disp, max_disp)
        hvg, columns = _dispersion_flavor(
            X, batches, flavor, n_top_genes, n_bins, cutoffs
        )
    logger.info(
        "Selected %d highly variable genes out of %d (flavor %r)",
        int(hvg.sum()),
        X.shape[1],
        flavor,
    )
    return pd.DataFrame(dict(highly_variable=hvg, **columns))
