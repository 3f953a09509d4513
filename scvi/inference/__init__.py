"""Training of the models and queries of their posteriors."""

from .annotation import (
    AlternateSemiSupervisedTrainer,
    AnnotationPosterior,
    ClassifierTrainer,
    JointSemiSupervisedTrainer,
    SemiSupervisedTrainer,
)
from .inference import AdapterTrainer, UnsupervisedTrainer
from .jvae_trainer import JVAETrainer
from .posterior import Posterior
from .posterior_utils import load_posterior
from .total_inference import TotalPosterior, TotalTrainer
from .trainer import Trainer

__all__ = [
    "Trainer",
    "Posterior",
    "UnsupervisedTrainer",
    "AdapterTrainer",
    "SemiSupervisedTrainer",
    "JointSemiSupervisedTrainer",
    "AlternateSemiSupervisedTrainer",
    "ClassifierTrainer",
    "AnnotationPosterior",
    "TotalTrainer",
    "TotalPosterior",
    "JVAETrainer",
    "load_posterior",
]
