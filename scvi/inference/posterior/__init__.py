"""The Posterior: a trained model together with a subset of the cells of a dataset.

Public path of :class:`Posterior` (as in scVI 0.6). The code is laid out by concept:

* :mod:`.base`: which cells, in which order, as which tensors (and saving);
* :mod:`.batching` and :mod:`.device_data`: the mini-batch iterators, on the host
  or on the device;
* :mod:`.sampling`, :mod:`.scores`, :mod:`.de`, :mod:`.de_clusters`: the queries
  (latent space and samples; likelihoods and latent-space scores; differential
  expression, and over clusters);
* :mod:`.core`: :class:`Posterior`, those parts assembled;
* :mod:`.annotation` and :mod:`.accuracy`: the posterior of classifying models
  (public path: :mod:`scvi.inference.annotation`).

Each part inherits the parts whose methods it calls (:mod:`.sampling` and
:mod:`.de` extend :class:`~.base.PosteriorBase`, :mod:`.scores` extends
:mod:`.sampling`, :mod:`.de_clusters` extends :mod:`.de`), so what one needs of
another is written in its bases.
"""

from ..metrics import unsupervised_clustering_accuracy
from .core import Posterior

__all__ = ["Posterior", "unsupervised_clustering_accuracy"]
