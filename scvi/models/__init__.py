"""Generative models (VAE, LDVAE, VAEC, SCANVI, TOTALVI, JVAE, AutoZIVAE)."""

from .autozivae import AutoZIVAE
from .classifier import Classifier
from .jvae import JVAE
from .ldvae import LDVAE
from .scanvi import SCANVI
from .totalvi import TOTALVI
from .vae import VAE
from .vaec import VAEC

__all__ = [
    "SCANVI",
    "VAEC",
    "VAE",
    "LDVAE",
    "JVAE",
    "Classifier",
    "AutoZIVAE",
    "TOTALVI",
]
