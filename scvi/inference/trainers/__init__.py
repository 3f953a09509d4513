"""The trainers, one module a concept (public paths: :mod:`scvi.inference.trainer`,
:mod:`scvi.inference.inference`, :mod:`scvi.inference.annotation`).

* :mod:`.loop`: :class:`Trainer`, the optimisation loop, its hooks, history and
  early stopping;
* :mod:`.step`: the optimisation step (Adam, the NaN guard, compilation);
* :mod:`.unsupervised`: :class:`UnsupervisedTrainer` and :class:`AdapterTrainer`;
* :mod:`.annotation`: the semi-supervised trainers and :class:`ClassifierTrainer`;
* :mod:`.total`: :class:`TotalTrainer` (totalVI);
* :mod:`.jvae` and :mod:`.jvae_checks`: :class:`JVAETrainer` (gimVI);
* :mod:`.adversarial`: the discriminator trained alongside a model (totalVI, gimVI).
"""

from .annotation import (
    AlternateSemiSupervisedTrainer,
    ClassifierTrainer,
    JointSemiSupervisedTrainer,
    SemiSupervisedTrainer,
)
from .jvae import JVAETrainer
from .loop import Trainer
from .total import TotalTrainer
from .unsupervised import AdapterTrainer, UnsupervisedTrainer

__all__ = [
    "Trainer",
    "UnsupervisedTrainer",
    "AdapterTrainer",
    "SemiSupervisedTrainer",
    "JointSemiSupervisedTrainer",
    "AlternateSemiSupervisedTrainer",
    "ClassifierTrainer",
    "TotalTrainer",
    "JVAETrainer",
]
