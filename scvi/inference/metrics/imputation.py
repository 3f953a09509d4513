"""Imputation scores and their plot."""

import numpy as np
from sklearn.neighbors import KNeighborsRegressor

from ._checks import ArrayOrList, _check_paired_values


def imputation_error(original: ArrayOrList, imputed: ArrayOrList) -> float:
    """Median absolute imputation error.

    Parameters
    ----------
    original
        True values: an array of any shape, or a sequence of arrays (for instance
        one per cell, of varying lengths), read in order and flattened.
    imputed
        Imputed values, in the same layout as ``original``.

    Returns
    -------
    float
        ``median(|original - imputed|)`` over all the values.

    Raises
    ------
    ValueError
        If the two hold different numbers of values, or none.
    """
    original, imputed = _check_paired_values(original, imputed)
    return float(np.median(np.abs(original - imputed)))


def plot_imputation(
    original: ArrayOrList,
    imputed: ArrayOrList,
    show_plot: bool = True,
    title: str = "Imputation",
):
    """Plot imputed values against the true ones as a 2-D histogram.

    Only the values whose ``original`` is below 10 are drawn (the bulk of count
    data), as a 2-D histogram over ``[0, 10) x [0, 10)`` with a logarithmic colour
    scale, together with the diagonal ``imputed = original``.

    Parameters
    ----------
    original
        True values: an array of any shape, or a sequence of arrays, flattened.
    imputed
        Imputed values, in the same layout as ``original``.
    show_plot
        Whether to call :func:`matplotlib.pyplot.show`.
    title
        Title of the plot.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, created with :mod:`matplotlib.pyplot`; close it with
        ``plt.close(fig)`` once done.

    Raises
    ------
    ValueError
        If the two hold different numbers of values, or none.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    original, imputed = _check_paired_values(original, imputed)
    keep = original < 10
    edges = np.linspace(0.0, 10.0, 51)
    counts, _, _ = np.histogram2d(original[keep], imputed[keep], bins=[edges, edges])

    fig, ax = plt.subplots(figsize=(5, 5))
    # rows of the image are imputed values, columns original values
    shown = np.ma.masked_equal(counts.T, 0)
    vmax = max(float(counts.max()), 2.0)
    image = ax.imshow(
        shown,
        origin="lower",
        extent=(0, 10, 0, 10),
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
        norm=LogNorm(vmin=1.0, vmax=vmax),
    )
    ax.plot([0, 10], [0, 10], color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.set_xlabel("original value")
    ax.set_ylabel("imputed value")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="number of values")
    fig.tight_layout()
    if show_plot:
        plt.show()
    return fig


def proximity_imputation(real_latent1, normed_gene_exp_1, real_latent2, k=4):
    """Impute the expression of cells from their nearest neighbours in another set.

    Each cell of ``real_latent2`` gets the average of ``normed_gene_exp_1`` over
    its ``k`` nearest cells in ``real_latent1`` (Euclidean distance), each
    weighted by the inverse of its distance; if some of those neighbours lie at
    distance 0, the plain average of these only (a
    :class:`sklearn.neighbors.KNeighborsRegressor` with ``weights="distance"``).
    Used to transfer, say, the measured expression of one dataset to the cells of
    another embedded in the same latent space.

    Parameters
    ----------
    real_latent1
        Latent coordinates of the reference cells, ``(n_cells_1, n_latent)``.
    normed_gene_exp_1
        Their (normalized) expression, ``(n_cells_1, n_genes)`` or
        ``(n_cells_1,)``.
    real_latent2
        Latent coordinates of the cells to impute, ``(n_cells_2, n_latent)``.
    k
        Number of neighbours; at most ``n_cells_1``.

    Returns
    -------
    numpy.ndarray
        The imputed expression, ``(n_cells_2, n_genes)`` (``(n_cells_2,)`` for 1-D
        ``normed_gene_exp_1``), in float64.

    Raises
    ------
    ValueError
        If ``k`` exceeds ``n_cells_1`` or the shapes do not agree.
    """
    regression = KNeighborsRegressor(n_neighbors=k, weights="distance")
    regression.fit(real_latent1, normed_gene_exp_1)
    return regression.predict(real_latent2)
