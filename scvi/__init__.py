"""scvi: probabilistic analysis of single-cell omics with PyTorch.

The public API follows scVI 0.6: ``scvi.dataset`` loads and filters count data,
``scvi.models`` holds the generative models and ``scvi.inference`` trains them and
queries their posteriors.
"""

from ._settings import set_verbosity
from ._seed import set_seed

__version__ = "0.7.0"

__all__ = ["__version__", "set_seed", "set_verbosity"]
