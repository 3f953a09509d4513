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

One module a family: :mod:`.neighbours` (batch mixing and the entropy of a sample of
indices, kNN purity, nearest-neighbour overlap), :mod:`.clustering`,
:mod:`.imputation` (errors, plot, imputation from neighbours) and :mod:`.embedding`
(t-SNE).
"""

from .clustering import clustering_scores, unsupervised_clustering_accuracy
from .embedding import apply_t_sne
from .imputation import imputation_error, plot_imputation, proximity_imputation
from .neighbours import (
    entropy_batch_mixing,
    entropy_from_indices,
    knn_purity,
    nn_overlap,
)

__all__ = [
    "entropy_batch_mixing",
    "entropy_from_indices",
    "knn_purity",
    "nn_overlap",
    "unsupervised_clustering_accuracy",
    "clustering_scores",
    "imputation_error",
    "plot_imputation",
    "proximity_imputation",
    "apply_t_sne",
]
