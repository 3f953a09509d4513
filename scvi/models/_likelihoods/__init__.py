"""The count likelihoods and Gaussian terms behind :mod:`scvi.models.log_likelihood`
and :mod:`scvi.models.distributions`.

One module a concept: :mod:`._special` (cancellation-free Stirling and digamma
remainders, deviances), :mod:`.negative_binomial` (NB and ZINB with analytic
gradients), :mod:`.poisson`, :mod:`.mixture` (two-component mixtures, the protein
likelihood of totalVI) and :mod:`.gaussian` (diagonal Gaussian log-density and KL).
Everything is elementwise on whole tensors: no host synchronisation, no cache, the
same code on every device.
"""

from typing import Optional

import torch

from ._special import floor_with_gradient
from .gaussian import gaussian_kl, gaussian_log_prob
from .mixture import log_nb_mixture, log_two_component_mixture
from .negative_binomial import log_nb, log_zinb
from .poisson import log_poisson

__all__ = [
    "count_log_likelihood",
    "floor_with_gradient",
    "gaussian_kl",
    "gaussian_log_prob",
    "log_nb",
    "log_nb_mixture",
    "log_poisson",
    "log_two_component_mixture",
    "log_zinb",
]


def count_log_likelihood(
    loss: str,
    x: torch.Tensor,
    px_rate: torch.Tensor,
    px_r: Optional[torch.Tensor],
    px_dropout: Optional[torch.Tensor],
    eps: float = 1e-8,
) -> torch.Tensor:
    """Elementwise log-probability of counts under one of the count likelihoods.

    Parameters
    ----------
    loss
        ``"zinb"``, ``"nb"`` or ``"poisson"``.
    x
        Counts, shape ``(batch, n_genes)``.
    px_rate
        Means, ``(..., batch, n_genes)``.
    px_r
        Inverse dispersions broadcastable with ``px_rate`` (unused for
        ``"poisson"``).
    px_dropout
        Zero-inflation logits like ``px_rate`` (used for ``"zinb"`` only).
    eps
        Lower bound of the means and inverse dispersions.

    Returns
    -------
    torch.Tensor
        ``log p(x)``, the broadcast shape of ``x`` and ``px_rate``.
    """
    if loss == "zinb":
        return log_zinb(x, px_rate, px_r, px_dropout, eps)
    if loss == "nb":
        return log_nb(x, px_rate, px_r, eps)
    if loss == "poisson":
        return log_poisson(x, px_rate, eps)
    raise ValueError(f"loss must be 'zinb', 'nb' or 'poisson', got {loss!r}")
