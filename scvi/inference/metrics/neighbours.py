"""Latent-space scores built on nearest neighbours: batch mixing, purity, overlap."""

from typing import Tuple

import numpy as np

from ._checks import (
    _check_labels,
    _check_matrix,
    _check_positive_int,
    _knn_graph,
    _knn_indices,
)


def _entropy(freqs: np.ndarray) -> np.ndarray:
    """``-sum(f log f)`` over the last axis (natural logarithm, ``0 log 0 = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(freqs > 0, freqs * np.log(freqs), 0.0)
    return -terms.sum(axis=-1)


def entropy_from_indices(indices) -> np.float64:
    """Entropy of the frequencies of the distinct values of ``indices``.

    With ``p_v`` the fraction of the entries equal to ``v``, the entropy is
    ``-sum_v p_v log(p_v)`` (natural logarithm), the quantity
    :func:`entropy_batch_mixing` averages over neighbourhoods (the indices there
    being the batches of a cell's neighbours); equal to
    ``scipy.stats.entropy(counts)``. It is 0 when a single value occurs (or
    there is no entry) and ``log(n)`` for ``n`` values equally frequent.

    Parameters
    ----------
    indices
        Values of any shape (flattened) and any type :func:`numpy.unique` sorts:
        batch indices, labels, strings; a list or a tensor is read as an array.

    Returns
    -------
    numpy.float64
        The entropy, in nats.

    Examples
    --------
    >>> entropy_from_indices(np.array([0, 0, 1, 1]))  # log(2)
    0.6931471805599453
    """
    _, counts = np.unique(np.asarray(indices), return_counts=True)
    return np.float64(_entropy(counts / max(counts.sum(), 1)))


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
    cell_entropy = _entropy(counts.reshape(n_cells, n_batches) / n_neighbors)

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
