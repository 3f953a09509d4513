"""gimVI's trainer and posterior (public path of scVI 0.6; the code is in
:mod:`.trainers.jvae`, :mod:`.trainers.jvae_checks` and :mod:`.posterior.jvae`)."""

from .posterior.jvae import JPosterior
from .trainers.jvae import JVAETrainer
from .trainers.jvae_checks import check_jvae_datasets

__all__ = ["JVAETrainer", "JPosterior", "check_jvae_datasets"]
