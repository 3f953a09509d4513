"""scVI's VAE and, where scVI 0.6 also defined it, the linearly decoded LDVAE.

The classes live in :mod:`scvi.models._vae` and :mod:`scvi.models.ldvae`; this
module is their public address of scVI 0.6 (``from scvi.models.vae import VAE,
LDVAE``).
"""

from ._vae import VAE
from .ldvae import LDVAE

__all__ = ["VAE", "LDVAE"]
