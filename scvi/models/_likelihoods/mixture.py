"""Two-component mixtures of log-probabilities (the protein likelihood of totalVI)."""

import torch
import torch.nn.functional as F

from ._special import indicator
from .negative_binomial import log_nb


def log_two_component_mixture(
    logits: torch.Tensor, log_p1: torch.Tensor, log_p2: torch.Tensor
) -> torch.Tensor:
    """``log(w exp(log_p1) + (1 - w) exp(log_p2))`` with ``w = sigmoid(logits)``.

    Two exact forms are combined: ``logaddexp`` of the weighted terms, and
    ``log1p(-c)`` with ``c = w (1 - p1) + (1 - w)(1 - p2)`` where ``c <= 1/2`` (a
    probability close to one, where the first form would cancel).

    Parameters
    ----------
    logits
        Logits of the weight of the first component, broadcastable.
    log_p1, log_p2
        Finite log-probabilities (<= 0) of the two components, broadcastable.

    Returns
    -------
    torch.Tensor
        Broadcast shape of the inputs.
    """
    weighted = torch.logaddexp(
        log_p1 - F.softplus(-logits), log_p2 - F.softplus(logits)
    )
    complement = torch.sigmoid(logits) * -torch.expm1(log_p1)
    complement = complement + torch.sigmoid(-logits) * -torch.expm1(log_p2)
    near_one = indicator(torch.le, complement, 0.5)
    return torch.lerp(weighted, torch.log1p(-complement * near_one), near_one)


def log_nb_mixture(
    x: torch.Tensor,
    mu_1: torch.Tensor,
    mu_2: torch.Tensor,
    theta_1: torch.Tensor,
    theta_2: torch.Tensor,
    logits: torch.Tensor,
    eps: float = 0.0,
) -> torch.Tensor:
    """``log(w NB(x; mu_1, theta_1) + (1 - w) NB(x; mu_2, theta_2))``, ``w =
    sigmoid(logits)`` (arguments of one floating dtype).

    The two components are evaluated by one call of :func:`log_nb` on their
    parameters stacked along a new leading axis (half the operations of two
    calls), unless the inverse dispersions have more dimensions than the counts
    and means.

    Parameters
    ----------
    x
        Counts, broadcastable with the means.
    mu_1, mu_2
        Positive means of the two components.
    theta_1, theta_2
        Positive inverse dispersions of the two components.
    logits
        Logits of the weight of the first component.
    eps
        Lower bound of the means and inverse dispersions (see :func:`log_nb`).

    Returns
    -------
    torch.Tensor
        Broadcast shape of the inputs.
    """
    shape = torch.broadcast_shapes(x.shape, mu_1.shape, mu_2.shape)
    theta_shape = torch.broadcast_shapes(theta_1.shape, theta_2.shape)
    if len(theta_shape) > len(shape):
        log_1, log_2 = log_nb(x, mu_1, theta_1, eps), log_nb(x, mu_2, theta_2, eps)
    else:
        mus = torch.stack([mu_1.expand(shape), mu_2.expand(shape)])
        thetas = torch.stack([theta_1.expand(theta_shape), theta_2.expand(theta_shape)])
        # (2, *theta_shape) aligned on the trailing axes of (2, *shape)
        thetas = thetas.reshape(
            2, *([1] * (len(shape) - len(theta_shape))), *theta_shape
        )
        log_1, log_2 = log_nb(x, mus, thetas, eps).unbind(0)
    return log_two_component_mixture(logits, log_1, log_2)
