"""The ``"seurat_v3"`` ("vst") selection of highly variable genes (Stuart et al. 2019).

Within every batch, the log variance of the raw counts of the genes is regressed on
their log mean with a loess fit; counts are clipped at ``mean + sqrt(n_cells) *
std`` (std regularized by the fit) and the variance of the clipped counts, divided
by the regularized variance, is the normalized variance of a gene.

Two rules combine the batches: :func:`paper_selection` (Seurat's, as scanpy's
``"seurat_v3_paper"``) and :func:`scvi_selection` (scVI 0.6.8's, used by
:meth:`~scvi.dataset.GeneExpressionDataset.highly_variable_genes` and by
:func:`seurat_v3_highly_variable_genes`).

Sums (:func:`~scvi.dataset._matrix.column_moments`) run over the stored values of a
sparse matrix, which is never densified, and are exact for integer counts: genes
with the same counts in any order get the same statistics, so that their ties are
ordered as scVI 0.6.8 ordered them.
"""

import numpy as np
import pandas as pd

from ._matrix import canonical_counts, column_moments
from ._ranking import legacy_ranks, select_by_batches


def _mean_var(X):
    """Mean and unbiased variance of every column (float64)."""
    n_cells = X.shape[0]
    sums, squares = column_moments(X)
    means = sums / max(n_cells, 1)
    variances = np.maximum(squares - sums * means, 0.0) / max(n_cells - 1, 1)
    return means, variances


def _norm_variances(X, span: float) -> np.ndarray:
    """Normalized variance of every gene of one batch."""
    from skmisc.loess import loess

    n_cells, n_genes = X.shape
    means, variances = _mean_var(X)
    not_const = variances > 0
    log_fit = np.zeros(n_genes)
    model = loess(
        np.log10(means[not_const]), np.log10(variances[not_const]), span=span, degree=2
    )
    try:
        model.fit()
    except ValueError as error:
        raise ValueError(
            f"the seurat_v3 loess fit failed on {int(not_const.sum())} genes with "
            f"non-zero variance ({error}); with so few genes use mode='variance' or "
            "a larger `span`"
        ) from error
    log_fit[not_const] = model.outputs.fitted_values
    reg_std = np.sqrt(10**log_fit)
    # counts above mean + sqrt(n_cells) * regularized std are clipped
    sums, squares = column_moments(X, clip=means + reg_std * np.sqrt(n_cells))
    sum_sq_dev = squares - 2 * means * sums + n_cells * means**2
    return np.maximum(sum_sq_dev, 0.0) / ((n_cells - 1) * reg_std**2)


def norm_variances(X, batches, span: float = 0.3) -> np.ndarray:
    """Normalized variances of shape (n_batches, n_genes), one row per batch.

    Parameters
    ----------
    X
        Raw counts (cells x genes), dense or CSR.
    batches
        Row positions of every batch, or None for a single batch.
    span
        Fraction of the genes used for every local fit of the loess.
    """
    rows = batches if batches is not None else [None]
    return np.vstack([_norm_variances(X if r is None else X[r], span) for r in rows])


def paper_selection(X, batches, n_top_genes: int, span: float = 0.3):
    """Seurat's selection: most batches first, then the smallest median rank.

    The rank of a gene in a batch is 0 for its largest normalized variance; its
    median rank is taken over the batches where it is among the ``n_top_genes``
    first (NaN if none).

    Returns
    -------
    tuple
        The boolean mask of selected genes and a dict of columns: ``means``,
        ``variances`` (over all cells), ``variances_norm`` (mean over batches),
        ``highly_variable_rank`` and, with batches, ``highly_variable_nbatches``.
    """
    n_genes = X.shape[1]
    means, variances = _mean_var(X)
    norm_vars = norm_variances(X, batches, span)
    ranks = np.argsort(np.argsort(-norm_vars, axis=1, kind="stable"), axis=1)
    in_top = ranks < n_top_genes
    n_batches = in_top.sum(axis=0)
    top_ranks = np.ma.masked_array(ranks.astype(np.float64), mask=~in_top)
    median_rank = np.ma.median(top_ranks, axis=0).filled(np.nan)
    order = np.lexsort(
        (np.where(np.isnan(median_rank), np.inf, median_rank), -n_batches)
    )
    hvg = np.zeros(n_genes, dtype=bool)
    hvg[order[:n_top_genes]] = True
    columns = dict(
        means=means,
        variances=variances,
        variances_norm=norm_vars.mean(axis=0),
        highly_variable_rank=median_rank,
    )
    if batches is not None:
        columns["highly_variable_nbatches"] = n_batches
    return hvg, columns


def scvi_selection(X, batches, n_top_genes: int, span: float = 0.3, n_batches=None):
    """scVI 0.6.8's selection: most batches first, then the largest median rank.

    Parameters
    ----------
    X
        Raw counts (cells x genes), dense or CSR.
    batches
        Row positions of every batch, or None for a single batch.
    n_top_genes
        Number of genes to select (every gene if it is at least their number).
    span
        Fraction of the genes used for every local fit of the loess.
    n_batches
        Number of batches a gene must be a top gene of to be in
        ``highly_variable_intersection`` (default: ``len(batches)``).

    Returns
    -------
    pandas.DataFrame
        ``highly_variable``; with batches ``highly_variable_nbatches`` (number of
        batches where the gene is among the ``n_top_genes`` of largest normalized
        variance) and ``highly_variable_intersection`` (all batches);
        ``highly_variable_median_rank`` (median over batches of the rank of the
        gene, 0 for the smallest normalized variance of a batch) and
        ``highly_variable_median_variance`` (median normalized variance). Genes are
        selected by decreasing number of batches, then decreasing median rank.
    """
    norm_vars = norm_variances(X, batches, span)
    ranks = np.vstack([legacy_ranks(row) for row in norm_vars])
    median_rank, n_top_batches, hvg = select_by_batches(ranks, n_top_genes)
    columns = dict(highly_variable=hvg)
    if batches is not None:
        total = len(batches) if n_batches is None else n_batches
        columns.update(
            highly_variable_nbatches=n_top_batches,
            highly_variable_intersection=n_top_batches == total,
        )
    columns.update(
        highly_variable_median_rank=median_rank,
        highly_variable_median_variance=np.median(norm_vars, axis=0),
    )
    return pd.DataFrame(columns)


def adata_batches(adata, batch_key):
    """Row positions of the batches of ``adata.obs[batch_key]`` and their number.

    Returns ``(None, 1)`` without ``batch_key``, and ``(None, n)`` when a single
    batch has cells. Batches come in the order of the categories (sorted values for
    a non-categorical column); categories without cells are left out but count in
    the number of batches.
    """
    if batch_key is None:
        return None, 1
    if batch_key not in adata.obs:
        raise KeyError(f"batch_key={batch_key!r} is not a column of adata.obs")
    column = pd.Categorical(adata.obs[batch_key])
    codes = np.asarray(column.codes)
    rows = [np.flatnonzero(codes == code) for code in range(len(column.categories))]
    rows = [r for r in rows if r.size]
    return (rows if len(rows) > 1 else None), len(column.categories)


def seurat_v3_highly_variable_genes(
    adata, n_top_genes: int = 4000, batch_key=None
) -> None:
    """Select highly variable genes of an AnnData with the Seurat v3 "vst" method.

    scVI 0.6.8's adaptation of the ``"vst"`` selection of Stuart et al. (2019) to raw
    counts: see :func:`scvi_selection`.

    Parameters
    ----------
    adata
        :class:`anndata.AnnData` whose ``X`` holds raw counts (dense or sparse).
    n_top_genes
        Number of highly variable genes to select (every gene if there are fewer).
    batch_key
        Column of ``adata.obs`` with the batch of every cell. Genes are ranked
        within every batch and the ranks combined. If None, all cells form one
        batch.

    Returns
    -------
    None
        ``adata.var`` gets, in place, the columns ``highly_variable``, with several
        batches ``highly_variable_nbatches`` and ``highly_variable_intersection``,
        then ``highly_variable_median_rank`` and ``highly_variable_median_variance``.

    Raises
    ------
    KeyError
        If ``batch_key`` is not a column of ``adata.obs``.
    ValueError
        If ``n_top_genes`` is not a positive int.
    """
    if int(n_top_genes) != n_top_genes or n_top_genes < 1:
        raise ValueError(f"`n_top_genes` must be a positive int, got {n_top_genes!r}")
    X = canonical_counts(adata.X)
    batches, n_batches = adata_batches(adata, batch_key)
    result = scvi_selection(X, batches, int(n_top_genes), n_batches=n_batches)
    for name in result.columns:
        adata.var[name] = result[name].to_numpy()
