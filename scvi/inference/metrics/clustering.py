"""Clustering scores: accuracy under the best matching, silhouette, NMI, ARI."""

from typing import Optional, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture

from ._checks import _check_labels, _check_matrix, _check_positive_int

PREDICTION_ALGORITHMS = ("knn", "gmm")


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
