"""Highly variable genes of a dataset, as scVI 0.6.8's ``_highly_variable_genes``.

:func:`dataset_highly_variable_genes` returns the DataFrame of scVI 0.6.8 (its
columns, their order and dtypes, and an index of gene positions as strings) for
the flavors ``"seurat_v2"`` and ``"cell_ranger"`` (:mod:`._gene_selection`, on counts
scaled to 1e4 per cell and log1p-transformed), ``"seurat_v3"``
(:mod:`._seurat_v3`) and ``"poisson_zeros"`` (:mod:`._poisson_zeros`).
"""

import logging

import numpy as np
import pandas as pd

from ._checks import check_positive_int
from ._gene_selection import highly_variable_genes as dispersion_selection
from ._matrix import canonical_counts
from ._poisson_zeros import poisson_zeros_selection
from ._seurat_v3 import scvi_selection

logger = logging.getLogger("scvi.dataset.dataset")

FLAVORS = ("seurat_v2", "cell_ranger", "seurat_v3", "poisson_zeros")

# options of every flavor; an option of another flavor is accepted and ignored
_DISPERSION_OPTIONS = ("min_mean", "max_mean", "min_disp", "max_disp", "n_bins")
OPTIONS = {
    "seurat_v2": _DISPERSION_OPTIONS,
    "cell_ranger": _DISPERSION_OPTIONS,
    "seurat_v3": ("span",),
    "poisson_zeros": ("n_samples", "use_cuda", "silent", "minibatch_size"),
}


def _batch_rows(batch_indices, n_cells: int):
    """Row positions of every batch (sorted values), None for a single batch."""
    batch = np.asarray(batch_indices).reshape(-1)
    if batch.shape[0] != n_cells:
        raise ValueError(
            f"`batch_indices` must have one entry per cell ({n_cells}), "
            f"got {batch.shape[0]}"
        )
    rows = [np.flatnonzero(batch == value) for value in np.unique(batch)]
    return rows if len(rows) > 1 else None


def _check_options(flavor: str, options: dict) -> dict:
    """The options of ``flavor``; unknown names raise a TypeError naming them."""
    known = {name for names in OPTIONS.values() for name in names}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"unexpected keyword arguments {unknown} for highly variable genes; "
            f"known: {sorted(known)}"
        )
    return {k: v for k, v in options.items() if k in OPTIONS[flavor]}


def _dispersion_frame(X, batch_indices, flavor, n_top_genes, options) -> pd.DataFrame:
    """scVI 0.6.8's columns for the ``"seurat_v2"`` and ``"cell_ranger"`` flavors."""
    result = dispersion_selection(
        X, batch_indices, flavor=flavor, n_top_genes=n_top_genes, **options
    )
    disp_norm = result["dispersions_norm"].to_numpy().astype(np.float32)
    batched = "highly_variable_nbatches" in result
    if n_top_genes is None and not batched:
        # scVI 0.6.8 returned the NaN normalized dispersions of the cutoff
        # selection (genes without counts) as zeros
        disp_norm[np.isnan(disp_norm)] = 0.0
    columns = dict(
        highly_variable=result["highly_variable"].to_numpy(),
        means=result["means"].to_numpy(),
        dispersions=result["dispersions"].to_numpy(),
        dispersions_norm=disp_norm,
    )
    if batched:
        n_batches = result["highly_variable_nbatches"].to_numpy().astype(np.int64)
        columns.update(
            highly_variable_nbatches=n_batches,
            highly_variable_intersection=n_batches == np.unique(batch_indices).size,
        )
    return pd.DataFrame(columns)


def dataset_highly_variable_genes(
    X,
    batch_indices=None,
    n_top_genes=None,
    flavor: str = "seurat_v3",
    batch_correction: bool = True,
    **options,
) -> pd.DataFrame:
    """Highly variable genes of a count matrix, as scVI 0.6.8 returned them.

    Parameters
    ----------
    X
        Raw counts (cells x genes), dense or sparse.
    batch_indices
        Batch of every cell, or None.
    n_top_genes
        Number of genes to select: required for ``"seurat_v3"`` and
        ``"poisson_zeros"``; for ``"seurat_v2"`` and ``"cell_ranger"``, None selects
        with the mean and dispersion cutoffs. If it is larger than the number of
        genes, every gene is selected (a warning is logged).
    flavor
        ``"seurat_v2"``, ``"cell_ranger"``, ``"seurat_v3"`` or ``"poisson_zeros"``.
    batch_correction
        If True and there are several batches, genes are ranked within every batch
        and the batches combined.
    **options
        ``min_mean``, ``max_mean``, ``min_disp``, ``max_disp`` and ``n_bins`` of the
        dispersion flavors, ``span`` of ``"seurat_v3"``, ``n_samples``,
        ``use_cuda``, ``silent`` and ``minibatch_size`` of ``"poisson_zeros"``. An
        option of another flavor is ignored.

    Returns
    -------
    pandas.DataFrame
        One row per gene, indexed by its position as a string (``"0"``, ``"1"``,
        ...). ``"seurat_v2"``, ``"cell_ranger"``: ``highly_variable``, ``means``,
        ``dispersions``, ``dispersions_norm`` (float32), with batches
        ``highly_variable_nbatches`` and ``highly_variable_intersection``;
        ``"seurat_v3"``: see :func:`~scvi.dataset._seurat_v3.scvi_selection`;
        ``"poisson_zeros"``: see
        :func:`~scvi.dataset._poisson_zeros.poisson_zeros_selection`.

    Raises
    ------
    ValueError
        If ``flavor`` is unknown, or ``n_top_genes`` is missing where required or
        not a positive int.
    TypeError
        If an option is not one of the names above.
    """
    if flavor not in FLAVORS:
        raise ValueError(
            f"`flavor` must be one of {', '.join(map(repr, FLAVORS))}, got {flavor!r}"
        )
    options = _check_options(flavor, options)
    n_genes = X.shape[1]
    if n_top_genes is None:
        if flavor in ("seurat_v3", "poisson_zeros"):
            raise ValueError(f"`n_top_genes` is required with flavor={flavor!r}")
    else:
        check_positive_int(n_top_genes, "n_top_genes")
        n_top_genes = int(n_top_genes)
        if n_top_genes > n_genes:
            logger.warning(
                "n_top_genes=%d is larger than the number of genes (%d): every gene "
                "is selected",
                n_top_genes,
                n_genes,
            )
    batches = None
    if batch_correction and batch_indices is not None:
        batches = _batch_rows(batch_indices, X.shape[0])
    if flavor in ("seurat_v2", "cell_ranger"):
        batch = None if batches is None else np.asarray(batch_indices).reshape(-1)
        result = _dispersion_frame(X, batch, flavor, n_top_genes, options)
    elif flavor == "seurat_v3":
        result = scvi_selection(canonical_counts(X), batches, n_top_genes, **options)
    else:
        result = poisson_zeros_selection(
            canonical_counts(X), batches, n_top_genes, **options
        )
    result.index = pd.Index([str(i) for i in range(n_genes)], dtype=object)
    return result
