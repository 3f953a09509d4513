"""Cell annotation: semi-supervised training (scANVI), classifiers and their
accuracies.

* :class:`AnnotationPosterior`: a posterior whose model classifies cells, with
  :meth:`~AnnotationPosterior.accuracy`,
  :meth:`~AnnotationPosterior.hierarchical_accuracy`,
  :meth:`~AnnotationPosterior.compute_predictions`,
  :meth:`~AnnotationPosterior.unsupervised_classification_accuracy` and
  :meth:`~AnnotationPosterior.nn_latentspace`;
* :class:`ClassifierTrainer`, :class:`SemiSupervisedTrainer`,
  :class:`JointSemiSupervisedTrainer` and :class:`AlternateSemiSupervisedTrainer`
  (also in :mod:`scvi.inference`);
* accuracies of scikit-learn baselines on arrays (:func:`compute_accuracy_nn`,
  :func:`compute_accuracy_svc`, :func:`compute_accuracy_rf`) as
  :class:`Accuracy` tuples (:func:`compute_accuracy_tuple`), and of scVI's
  classifiers on posteriors (:func:`compute_predictions`,
  :func:`compute_accuracy`, :func:`unsupervised_classification_accuracy`).

The code lives in :mod:`scvi.inference.posterior.annotation`,
:mod:`scvi.inference.posterior.accuracy` and
:mod:`scvi.inference.trainers.annotation`; this module is its public path. The
posterior modules never import it (``load_posterior`` finds
:class:`AnnotationPosterior` in its table).
"""

from .posterior.accuracy import (
    Accuracy,
    compute_accuracy,
    compute_accuracy_classifier,
    compute_accuracy_nn,
    compute_accuracy_rf,
    compute_accuracy_svc,
    compute_accuracy_tuple,
    compute_predictions,
    unsupervised_classification_accuracy,
)
from .posterior.annotation import AnnotationPosterior
from .trainers.annotation import (
    AlternateSemiSupervisedTrainer,
    ClassifierTrainer,
    JointSemiSupervisedTrainer,
    SemiSupervisedTrainer,
)

__all__ = [
    "AnnotationPosterior",
    "ClassifierTrainer",
    "SemiSupervisedTrainer",
    "JointSemiSupervisedTrainer",
    "AlternateSemiSupervisedTrainer",
    "Accuracy",
    "compute_accuracy",
    "compute_accuracy_classifier",
    "compute_accuracy_nn",
    "compute_accuracy_rf",
    "compute_accuracy_svc",
    "compute_accuracy_tuple",
    "compute_predictions",
    "unsupervised_classification_accuracy",
]
