"""Log-likelihoods of count data and the evaluation metrics built on them.

The count log-likelihoods return the elementwise log-probability (no reduction) with
the broadcast shape of their arguments, in the floating dtype they are given.
Parameters that do not depend on the cell (``theta`` of shape ``(n_genes,)``) are
processed on their own shape and only broadcast at the end, so no per-gene special
function is evaluated once per cell.

The evaluation metrics (:func:`compute_elbo`, :func:`compute_reconstruction_error`,
:func:`compute_marginal_log_likelihood_scvi`,
:func:`compute_marginal_log_likelihood_autozi`) live in :mod:`scvi.models._metrics`
and are re-exported here, where the posteriors look for them.
"""

from typing import Optional

import torch

from ._likelihoods import log_nb, log_nb_mixture, log_zinb
from ._metrics import (
    compute_elbo,
    compute_marginal_log_likelihood_autozi,
    compute_marginal_log_likelihood_scvi,
    compute_reconstruction_error,
)

__all__ = [
    "log_nb_positive",
    "log_zinb_positive",
    "log_mixture_nb",
    "compute_elbo",
    "compute_reconstruction_error",
    "compute_marginal_log_likelihood_scvi",
    "compute_marginal_log_likelihood_autozi",
]


def _prepare(x, mu, theta, *others):
    """Promote the arguments to a common floating dtype (``x`` included)."""
    mu, theta = torch.as_tensor(mu), torch.as_tensor(theta)
    others = [torch.as_tensor(o) for o in others]
    dtype = torch.promote_types(mu.dtype, theta.dtype)
    for t in [x] + others:
        if torch.is_floating_point(t):
            dtype = torch.promote_types(dtype, t.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return [t.to(dtype) for t in [x, mu, theta] + others]


def _log_nb(x, mu, theta, eps):
    """Promote to a common floating dtype, apply the NB with floored parameters."""
    return log_nb(*_prepare(x, mu, theta), eps)


def log_nb_positive(
    x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """Log-probability of counts under a negative binomial with mean and dispersion.

    ``NB(x; mu, theta) = Gamma(x + theta) / (Gamma(theta) x!)
    (theta / (theta + mu))^theta (mu / (theta + mu))^x``, so that the mean is ``mu``
    and the variance ``mu + mu^2 / theta``. The computation is free of cancellation
    (Stirling remainders plus deviances, see
    :mod:`scvi.models._likelihoods.negative_binomial`), hence
    accurate to a few units in the last place for counts and parameters of any
    size, in float32 as in float64; its gradients are analytic and cancellation-free
    as well.

    Parameters
    ----------
    x
        Observed counts, shape ``(batch, n_genes)`` (or any shape). No gradient is
        computed with respect to ``x``.
    mu
        Positive means, broadcastable with ``x``.
    theta
        Positive inverse dispersions, e.g. shape ``(n_genes,)`` (terms of ``theta``
        alone are then evaluated once per gene) or ``(batch, n_genes)``.
    eps
        Lower bound applied to ``mu`` and ``theta`` (the forward value only; their
        gradient is untouched) so that zeros give finite results.

    Returns
    -------
    torch.Tensor
        Log-probabilities with the broadcast shape of ``x``, ``mu`` and ``theta``,
        in their promoted floating dtype.
    """
    return _log_nb(x, mu, theta, eps)


def log_zinb_positive(
    x: torch.Tensor,
    mu: torch.Tensor,
    theta: torch.Tensor,
    pi: torch.Tensor,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Log-probability of counts under a zero-inflated negative binomial.

    ``ZINB(x) = p 1[x = 0] + (1 - p) NB(x; mu, theta)`` with ``p = sigmoid(pi)``.
    The probability of a zero count is summed in log space (exact however small it
    is), with an ``expm1`` form when it is close to one, so that no digit is lost
    to cancellation.

    Parameters
    ----------
    x
        Observed counts, shape ``(batch, n_genes)`` (or any shape).
    mu
        Positive means of the NB component, broadcastable with ``x``.
    theta
        Positive inverse dispersions, broadcastable with ``x``.
    pi
        Logits of the dropout (zero-inflation) probability, broadcastable with ``x``.
    eps
        Lower bound applied to ``mu`` and ``theta``, see :func:`log_nb_positive`.

    Returns
    -------
    torch.Tensor
        Log-probabilities with the broadcast shape of the inputs.
    """
    return log_zinb(*_prepare(x, mu, theta, pi), eps)


def log_mixture_nb(
    x: torch.Tensor,
    mu_1: torch.Tensor,
    mu_2: torch.Tensor,
    theta_1: torch.Tensor,
    theta_2: Optional[torch.Tensor],
    pi: torch.Tensor,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Log-probability of counts under a mixture of two negative binomials.

    ``p(x) = w NB(x; mu_1, theta_1) + (1 - w) NB(x; mu_2, theta_2)`` with
    ``w = sigmoid(pi)``; this is the protein likelihood of totalVI (component 1 is
    the background, component 2 the foreground).

    Parameters
    ----------
    x
        Observed counts, shape ``(batch, n_proteins)`` (or any shape).
    mu_1, mu_2
        Positive means of the two components, broadcastable with ``x``.
    theta_1
        Positive inverse dispersion of the first component.
    theta_2
        Inverse dispersion of the second component, or None to share ``theta_1``.
    pi
        Logits of the weight ``w`` of the first component, broadcastable with ``x``.
    eps
        Lower bound applied to means and inverse dispersions, see
        :func:`log_nb_positive`.

    Returns
    -------
    torch.Tensor
        Log-probabilities with the broadcast shape of the inputs.
    """
    if theta_2 is None:
        theta_2 = theta_1
    x, mu_1, theta_1, mu_2, theta_2, pi = _prepare(x, mu_1, theta_1, mu_2, theta_2, pi)
    return log_nb_mixture(x, mu_1, mu_2, theta_1, theta_2, pi, eps)
