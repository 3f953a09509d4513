"""The Trainer (public path of scVI 0.6; the code is in :mod:`.trainers.loop`)."""

from .early_stopping import EarlyStopping
from .posterior import Posterior
from .posterior.batching import SequentialSubsetSampler, SubsetRandomSampler
from .trainers.loop import Trainer
from .trainers.posteriors import split_sizes
from .trainers.step import make_adam

# Trainer, and the names scVI 0.6.8 code imports from this module
__all__ = [
    "Trainer",
    "make_adam",
    "split_sizes",
    "EarlyStopping",
    "Posterior",
    "SequentialSubsetSampler",
    "SubsetRandomSampler",
]
