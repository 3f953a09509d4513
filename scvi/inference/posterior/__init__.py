"""The Posterior: a trained model together with a subset of the cells of a dataset.

Public path of :class:`Posterior` (as in scVI 0.6). The code is laid out by concept:

* :mod:`.base`: which cells, in which order, as which tensors (and saving);
* :mod:`.batching` and :mod:`.device_data`: the mini-batch iterators, on the host
  or on the device;
* :mod:`.sampling`, :mod:`.scores`, :mod:`.de`, :mod:`.de_clusters`: the queries
  (latent space and samples; likelihoods and latent-space scores; differential
  expression, and over clusters);
* :mod:`.loadings`: latent factors as tables (LDVAE gene loadings);
* :mod:`.core`: :class:`Posterior`, those parts assembled;
* :mod:`.annotation` and :mod:`.accuracy`: the posterior of classifying models
  (public path: :mod:`scvi.inference.annotation`);
* :mod:`.total` and :mod:`.total_expression`: the posterior of totalVI (public
  path: :mod:`scvi.inference.total_inference`).

Each part inherits the parts whose methods it calls (:mod:`.sampling` and
:mod:`.de` extend :class:`~.base.PosteriorBase`, :mod:`.scores` extends
:mod:`.sampling`, :mod:`.de_clusters` extends :mod:`.de`), so what one needs of
another is written in its bases.
"""

from ...models.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from ...models.log_likelihood import (
    compute_elbo,
    compute_marginal_log_likelihood_autozi,
    compute_marginal_log_likelihood_scvi,
    compute_reconstruction_error,
)
from ..de_output import save_cluster_xlsx
from ..differential_expression import pairs_sampler
from ..summaries import describe_continuous_distrib
from ..metrics import (
    entropy_batch_mixing,
    knn_purity,
    nn_overlap,
    plot_imputation,
    unsupervised_clustering_accuracy,
)
from .batching import (
    RandomSampler,
    SequentialSampler,
    SequentialSubsetSampler,
    SubsetRandomSampler,
)
from .core import Posterior

# Posterior, and the names scVI 0.6.8 code imports from this module
__all__ = [
    "Posterior",
    "entropy_batch_mixing",
    "knn_purity",
    "nn_overlap",
    "plot_imputation",
    "unsupervised_clustering_accuracy",
    "compute_elbo",
    "compute_reconstruction_error",
    "compute_marginal_log_likelihood_scvi",
    "compute_marginal_log_likelihood_autozi",
    "NegativeBinomial",
    "ZeroInflatedNegativeBinomial",
    "SequentialSampler",
    "RandomSampler",
    "SequentialSubsetSampler",
    "SubsetRandomSampler",
    "describe_continuous_distrib",
    "pairs_sampler",
    "save_cluster_xlsx",
]
