"""Unsupervised training (public path of scVI 0.6; the code is in
:mod:`.trainers.unsupervised`)."""

from .trainers.unsupervised import AdapterTrainer, UnsupervisedTrainer, model_terms

__all__ = ["UnsupervisedTrainer", "AdapterTrainer", "model_terms"]
