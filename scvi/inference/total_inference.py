"""totalVI's trainer and posterior (public path of scVI 0.6; the code is in
:mod:`.trainers.total`, :mod:`.posterior.total` and
:mod:`.posterior.total_expression`)."""

from .posterior.total import TotalPosterior
from .trainers.total import TotalTrainer, default_early_stopping_kwargs

__all__ = ["TotalPosterior", "TotalTrainer", "default_early_stopping_kwargs"]
