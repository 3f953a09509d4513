"""Scores of latent spaces, clusterings and imputations, on NumPy arrays.

These functions hold the mathematics behind the scoring methods of the posteriors
(``entropy_batch_mixing``, ``knn_purity``, ``nn_overlap_score``,
``clustering_scores``, ``imputation_score``, ``apply_t_sne``); they take plain
arrays and know nothing of models or data loaders.

Nearest neighbours are always searched with :class:`sklearn.neighbors.NearestNeighbors`
(Euclidean distance) and never count a cell as its own neighbour, even when several
cells share the same coordinates. Where the functions draw random numbers without a
``seed`` argument, they use NumPy's global generator, so :func:`scvi.set_seed` makes
them reproducible.
"""

from typing import Optional, Sequence, Tuple, Union

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.manifold import TSNE
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

__all__ = [
    "entropy_batch_mixing",
    "knn_purity",
    "nn_overlap",
    "unsupervised_clustering_accuracy",
    "clustering_scores",
    "imputation_error",
    "plot_imputation",
    "apply_t_sne",
]

PREDICTION_ALGORITHMS = ("knn", "gmm")

ArrayOrList = Union[np.ndarray, Sequence[np.ndarray]]


# ---------------------------------------------------------------------------
# input checks and shared helpers
# ---------------------------------------------------------------------------


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_matrix(x, name: str, min_rows: int = 2) -> np.ndarray:
    """Return ``x`` as a finite 2-D float array of at least ``min_rows`` rows."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_cells, n_dims), got shape {x.shape}"
        )
    if x.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} rows (cells), got {x.shape[0]}"
        )
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_labels(y, n_cells: Optional[int], name: str) -> np.ndarray:
    """Return ``y`` as a 1-D array; ``(n, 1)`` columns are flattened."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array (or a single column), got shape {y.shape}"
        )
    if n_cells is not None and y.shape[0] != n_cells:
        raise ValueError(
            f"{name} must have one entry per cell ({n_cells}), got {y.shape[0]}"
        )
    return y


def _knn_indices(x: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Indices ``(n_cells, n_neighbors)`` of each cell's neighbours, self excluded.

    ``kneighbors`` called without query points leaves each point out of its own
    neighbours, which stays right when cells have identical coordinates.
    """
    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(x)
    return nn.kneighbors(return_distance=False)


def _knn_graph(x: np.ndarray, n_neighbors: int) -> sparse.csr_matrix:
    """Directed kNN adjacency: ``A[i, j] = 1`` iff ``j`` is a neighbour of ``i``."""
    n_cells = x.shape[0]
    indices = _knn_indices(x, n_neighbors)
    data = np.ones(indices.size, dtype=np.int64)
    indptr = np.arange(0, indices.size + 1, n_neighbors)
    return sparse.csr_matrix((data, indices.ravel(), indptr), shape=(n_cells, n_cells))


def _flatten_values(values: ArrayOrList) -> np.ndarray:
    """Concatenate an array or a sequence of arrays into one 1-D float array."""
    if isinstance(values, (list, tuple)):
        if len(values) == 0:
            return np.empty(0)
        parts = [np.ravel(np.asarray(v, dtype=float)) for v in values]
        return np.concatenate(parts)
    return np.ravel(np.asarray(values, dtype=float))


def _check_paired_values(original, imputed) -> Tuple[np.ndarray, np.ndarray]:
    original = _flatten_values(original)
    imputed = _flatten_values(imputed)
    if original.shape != imputed.shape:
        raise ValueError(
            "original and imputed must hold the same number of values, got "
            f"{original.size} and {imputed.size}"
        )
    if original.size == 0:
        raise ValueError("original and imputed must not be empty")
    return original, imputed


# ---------------------------------------------------------------------------
# latent-space scores
# ---------------------------------------------------------------------------


def entropy_batch_mixing(
    latent_space: np.ndarray,
    batches: np.ndarray,
    n_neighbors: int = 50,
    n_pools: int = 50,
    n_samples_per_pool: int = 100,
) -> float:
    """Entropy of batch mixing in the neighbourhoods of a latent space.

    Follows Lopez et al. (2018). The ``n_neighbors``-nearest-neighbour graph of
    all cells is built in ``latent_space`` (a cell is not its own neighbour). For a
    cell ``i`` let ``p_ib`` be the fraction of its neighbours that come from batch
    ``b``; its entropy is ``H_i = -sum_b p_ib log(p_ib)`` (natural logarithm,
    ``0 log 0 = 0``). ``n_pools`` times, ``n_samples_per_pool`` distinct cells are
    drawn at random and their entropies averaged; the result is the mean over the
    pools.

    With two batches this is the binary entropy of the proportion of neighbours
    from the second batch, the definition of scVI 0.6. The score is 0 when every
    neighbourhood holds a single batch and at most ``log(n_batches)``; two
    batches of equal size mixed at random give about ``log(2) = 0.693``.

    Parameters
    ----------
    latent_space
        Coordinates of the cells, shape ``(n_cells, n_latent)``.
    batches
        Batch of each cell, shape ``(n_cells,)`` or ``(n_cells, 1)``; any
        hashable values (integers, strings).
    n_neighbors
        Number of neighbours of each cell. Values of ``n_cells`` or more are
        lowered to ``n_cells - 1`` (every other cell is a neighbour).
    n_pools
        Number of random pools of cells averaged.
    n_samples_per_pool
        Number of cells in each pool, lowered to ``n_cells`` if larger.

    Returns
    -------
    float
        The mean entropy, in nats.

    Raises
    ------
    ValueError
        If ``latent_space`` is not a finite 2-D array of at least two cells,
        ``batches`` does not hold one entry per cell, or ``n_neighbors``,
        ``n_pools`` or ``n_samples_per_pool`` is not a positive integer.
    """
    latent_space = _check_matrix(latent_space, "latent_space")
    n_cells = latent_space.shape[0]
    batches = _check_labels(batches, n_cells, "batches")
    n_neighbors = min(_check_positive_int(n_neighbors, "n_neighbors"), n_cells - 1)
    n_pools = _check_positive_int(n_pools, "n_pools")
    n_samples_per_pool = min(
        _check_positive_int(n_samples_per_pool, "n_samples_per_pool"), n_cells
    )

    _, codes = np.unique(batches, return_inverse=True)
    codes = codes.ravel()
    n_batches = int(codes.max()) + 1
    neighbours = _knn_indices(latent_space, n_neighbors)
    # counts[i, b]: neighbours of cell i in batch b, one bincount for all cells
    flat = codes[neighbours] + n_batches * np.arange(n_cells)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_cells * n_batches)
    freqs = counts.reshape(n_cells, n_batches) / n_neighbors
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(freqs > 0, freqs * np.log(freqs), 0.0)
    cell_entropy = -terms.sum(axis=1)

    pool_means = np.empty(n_pools)
    for pool in range(n_pools):
        chosen = np.random.choice(n_cells, size=n_samples_per_pool, replace=False)
        pool_means[pool] = cell_entropy[chosen].mean()
    return float(max(pool_means.mean(), 0.0))


def knn_purity(latent: np.ndarray, label: np.ndarray, n_neighbors: int = 30) -> float:
    """Mean agreement between each cell's label and its neighbours' labels.

    Follows Lopez et al. (2018). For each cell, the purity is the fraction of its
    ``n_neighbors`` nearest neighbours in ``latent`` (itself excluded) that share
    its label. Purities are averaged within each label class, then the class
    averages are averaged, so that every class weighs the same whatever its size.
    The score is 1 when no neighbourhood crosses a label boundary and about
    ``1 / n_labels`` for labels drawn at random with equal frequencies.

    Parameters
    ----------
    latent
        Coordinates of the cells, shape ``(n_cells, n_latent)``.
    label
        Label of each cell, shape ``(n_cells,)`` or ``(n_cells, 1)``.
    n_neighbors
        Number of neighbours of each cell, lowered to ``n_cells - 1`` if larger.

    Returns
    -------
    float
        The purity, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``latent`` is not a finite 2-D array of at least two cells, ``label``
        does not hold one entry per cell or ``n_neighbors`` is not a positive
        integer.
    """
    latent = _check_matrix(latent, "latent")
    n_cells = latent.shape[0]
    label = _check_labels(label, n_cells, "label")
    n_neighbors = min(_check_positive_int(n_neighbors, "n_neighbors"), n_cells - 1)

    _, codes = np.unique(label, return_inverse=True)
    codes = codes.ravel()
    neighbours = _knn_indices(latent, n_neighbors)
    cell_purity = (codes[neighbours] == codes[:, None]).mean(axis=1)
    class_sizes = np.bincount(codes)
    class_purity = np.bincount(codes, weights=cell_purity) / class_sizes
    return float(class_purity.mean())


def nn_overlap(X1: np.ndarray, X2: np.ndarray, k: int = 100) -> Tuple[float, float]:
    """Agreement between the nearest-neighbour graphs of two views of the cells.

    Used to compare, say, the mRNA latent space with the protein level. Let
    ``A1`` and ``A2`` be the directed ``k``-nearest-neighbour adjacency matrices
    (``n x n``, ``A[i, j] = 1`` iff ``j`` is among the ``k`` neighbours of ``i``,
    zero diagonal) computed in ``X1`` and ``X2``, and let ``m = sum(A1 * A2)``
    be the number of neighbour pairs they share.

    * The Spearman correlation is that of the flattened matrices (``N = n * n``
      entries each). A binary vector's ranks are an affine function of it, so it
      equals their Pearson correlation (phi coefficient), computed without
      densifying: with ``a = b = n * k`` ones in each vector,
      ``rho = (N m - a b) / sqrt(a (N - a) b (N - b))``.
    * The fold enrichment compares ``m`` with its expectation if the two graphs
      were independent, each cell's ``X2`` neighbours being ``k`` cells drawn
      uniformly among the other ``n - 1``: each cell then expects
      ``k * k / (n - 1)`` shared neighbours, so
      ``fold = m / (n * k**2 / (n - 1))``. Identical graphs give ``(n - 1) / k``;
      independent ones about 1.

    Parameters
    ----------
    X1
        First view of the cells, shape ``(n_cells, n_features_1)``.
    X2
        Second view of the same cells, shape ``(n_cells, n_features_2)``.
    k
        Number of neighbours of each cell, lowered to ``n_cells - 1`` if larger.

    Returns
    -------
    spearman_correlation : float
        Spearman correlation of the two flattened adjacency matrices.
    fold_enrichment : float
        Shared neighbour pairs over their expected number under independence.

    Raises
    ------
    ValueError
        If ``X1`` or ``X2`` is not a finite 2-D array of at least two cells, they
        differ in number of cells, or ``k`` is not a positive integer.
    """
    X1 = _check_matrix(X1, "X1")
    X2 = _check_matrix(X2, "X2")
    if X1.shape[0] != X2.shape[0]:
        raise ValueError(
            "X1 and X2 must have the same number of cells (rows), got "
            f"{X1.shape[0]} and {X2.shape[0]}"
        )
    n_cells = X1.shape[0]
    k = min(_check_positive_int(k, "k"), n_cells - 1)

    graph_1 = _knn_graph(X1, k)
    graph_2 = _knn_graph(X2, k)
    shared = float(graph_1.multiply(graph_2).sum())

    n_total = float(n_cells) * n_cells
    ones = float(n_cells) * k  # ones in each flattened matrix
    spearman = (n_total * shared - ones * ones) / (ones * (n_total - ones))
    expected = n_cells * k * k / (n_cells - 1)
    return float(spearman), float(shared / expected)


# ---------------------------------------------------------------------------
# clustering scores
# ---------------------------------------------------------------------------


def unsupervised_clustering_accuracy(
    y: np.ndarray, y_pred: np.ndarray
) -> Tuple[float, np.ndarray]:
    """Accuracy of a clustering under the best matching of clusters to labels.

    Clusters are matched one-to-one to labels (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment` on the contingency table) so as
    to maximise the number of cells whose cluster is matched to their label; the
    accuracy is that number over ``n_cells``. The numbers of clusters and of
    labels may differ: the extra ones are left unmatched, and their cells count
    as errors.

    Parameters
    ----------
    y
        True labels, shape ``(n_cells,)`` or ``(n_cells, 1)``.
    y_pred
        Cluster assignments, shape ``(n_cells,)`` or ``(n_cells, 1)``.

    Returns
    -------
    accuracy : float
        Fraction of cells in ``[0, 1]``.
    assignment : numpy.ndarray
        The optimal matching, shape ``(min(n_clusters, n_labels), 2)``: each row
        is ``(cluster, label)`` in the values of ``y_pred`` and ``y`` (cast to a
        common dtype), ordered by cluster.

    Raises
    ------
    ValueError
        If ``y`` or ``y_pred`` is not one-dimensional, empty, or they differ in
        length.
    """
    y = _check_labels(y, None, "y")
    y_pred = _check_labels(y_pred, y.shape[0], "y_pred")
    if y.shape[0] == 0:
        raise ValueError("y must not be empty")
    labels, y_codes = np.unique(y, return_inverse=True)
    clusters, pred_codes = np.unique(y_pred, return_inverse=True)
    contingency = np.zeros((clusters.size, labels.size), dtype=np.int64)
    np.add.at(contingency, (pred_codes.ravel(), y_codes.ravel()), 1)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    accuracy = contingency[rows, cols].sum() / y.shape[0]
    assignment = np.array(list(zip(clusters[rows], labels[cols])))
    return float(accuracy), assignment.reshape(len(rows), 2)


def clustering_scores(
    latent: np.ndarray,
    labels: np.ndarray,
    prediction_algorithm: str = "knn",
    n_labels: Optional[int] = None,
    seed: int = 0,
) -> Tuple[float, float, float, float]:
    """Cluster a latent space and score the clusters against known labels.

    The cells are clustered into ``n_labels`` groups with
    :class:`sklearn.cluster.KMeans` (``prediction_algorithm="knn"``, the name
    scVI 0.6 gave to k-means) or :class:`sklearn.mixture.GaussianMixture`
    (``"gmm"``), seeded with ``seed``.

    Parameters
    ----------
    latent
        Coordinates of the cells, shape ``(n_cells, n_latent)``.
    labels
        True label of each cell, shape ``(n_cells,)`` or ``(n_cells, 1)``; at
        least two distinct values, and fewer than ``n_cells``.
    prediction_algorithm
        ``"knn"`` (k-means) or ``"gmm"`` (Gaussian mixture).
    n_labels
        Number of clusters; by default the number of distinct ``labels``.
    seed
        Random state of the clustering, for reproducible scores.

    Returns
    -------
    asw : float
        Average silhouette width of the true ``labels`` in ``latent``.
    nmi : float
        Normalised mutual information between labels and clusters.
    ari : float
        Adjusted Rand index between labels and clusters.
    uca : float
        :func:`unsupervised_clustering_accuracy` of the clusters.

    Raises
    ------
    ValueError
        If ``prediction_algorithm`` is unknown, ``n_labels`` is not a positive
        integer at most ``n_cells``, ``labels`` does not hold one entry per
        cell or has fewer than two or as many distinct values as cells, or
        ``latent`` is not a finite 2-D array.
    """
    if prediction_algorithm not in PREDICTION_ALGORITHMS:
        raise ValueError(
            f"prediction_algorithm must be one of {PREDICTION_ALGORITHMS}, got "
            f"{prediction_algorithm!r}"
        )
    latent = _check_matrix(latent, "latent")
    n_cells = latent.shape[0]
    labels = _check_labels(labels, n_cells, "labels")
    n_distinct = np.unique(labels).size
    if not 2 <= n_distinct < n_cells:
        raise ValueError(
            "labels must hold at least 2 and fewer than n_cells distinct values "
            f"for the silhouette width, got {n_distinct} for {n_cells} cells"
        )
    if n_labels is None:
        n_labels = n_distinct
    n_labels = _check_positive_int(n_labels, "n_labels")
    if n_labels > n_cells:
        raise ValueError(
            f"n_labels must be at most the number of cells ({n_cells}), "
            f"got {n_labels}"
        )

    if prediction_algorithm == "knn":
        model = KMeans(n_clusters=n_labels, n_init=10, random_state=seed)
        predicted = model.fit_predict(latent)
    else:
        model = GaussianMixture(n_components=n_labels, random_state=seed)
        predicted = model.fit(latent).predict(latent)

    asw = silhouette_score(latent, labels)
    nmi = normalized_mutual_info_score(labels, predicted)
    ari = adjusted_rand_score(labels, predicted)
    uca = unsupervised_clustering_accuracy(labels, predicted)[0]
    return float(asw), float(nmi), float(ari), float(uca)


# ---------------------------------------------------------------------------
# imputation
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# visualisation
# ---------------------------------------------------------------------------


def apply_t_sne(
    latent: np.ndarray, n_samples: int = 1000, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Two-dimensional t-SNE embedding of a random subset of cells.

    ``min(n_samples, n_cells)`` cells are drawn without replacement with
    :func:`numpy.random.permutation` (NumPy's global generator, see
    :func:`scvi.set_seed`) and embedded with :class:`sklearn.manifold.TSNE`
    (``init="pca"``, or ``"random"`` for a one-dimensional ``latent``,
    ``learning_rate="auto"``, ``random_state=seed``). The perplexity is 30,
    lowered to ``(m - 1) / 3`` for ``m < 91`` selected cells.

    Parameters
    ----------
    latent
        Coordinates of the cells, shape ``(n_cells, n_latent)``, at least three
        cells.
    n_samples
        Number of cells to embed.
    seed
        Random state of the t-SNE.

    Returns
    -------
    latent_tsne : numpy.ndarray
        Embedding of the selected cells, shape ``(m, 2)``.
    idx_t_sne : numpy.ndarray
        Indices of the selected cells in ``latent``, shape ``(m,)``, in the order
        of ``latent_tsne``.

    Raises
    ------
    ValueError
        If ``latent`` is not a finite 2-D array of at least three cells or
        ``n_samples`` is not an integer of at least 3.
    """
    latent = _check_matrix(latent, "latent", min_rows=3)
    n_samples = _check_positive_int(n_samples, "n_samples")
    if n_samples < 3:
        raise ValueError(f"n_samples must be at least 3, got {n_samples}")
    n_selected = min(n_samples, latent.shape[0])
    idx_t_sne = np.random.permutation(latent.shape[0])[:n_selected]
    perplexity = min(30.0, (n_selected - 1) / 3.0)
    tsne = TSNE(
        n_components=2,
        init="pca" if latent.shape[1] >= 2 else "random",
        learning_rate="auto",
        perplexity=perplexity,
        random_state=seed,
    )
    latent_tsne = tsne.fit_transform(latent[idx_t_sne])
    return latent_tsne, idx_t_sne
