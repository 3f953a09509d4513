"""Two-component mixtures of log-probabilities (the protein likelihood of totalVI)."""

import torch
import torch.nn.functional as F

from ._special import indicator


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
