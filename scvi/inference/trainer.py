"""The Trainer (public path of scVI 0.6; the code is in :mod:`.trainers.loop`)."""

from .trainers.loop import Trainer
from .trainers.posteriors import split_sizes
from .trainers.step import make_adam

__all__ = ["Trainer", "make_adam", "split_sizes"]
