"""Closed-form diagonal Gaussian terms shared by the models and their metrics."""

import math
from typing import Union

import torch

_LOG_2PI = math.log(2.0 * math.pi)

Scalar = Union[torch.Tensor, float]


def gaussian_log_prob(
    value: torch.Tensor, mean: Scalar, var: Scalar, sum_last: bool = True
) -> torch.Tensor:
    """Log-density of a diagonal Gaussian given its mean and *variance*.

    Parameters
    ----------
    value
        Points, shape ``(..., n_dims)``.
    mean
        Means, broadcastable with ``value``.
    var
        Positive variances, broadcastable with ``value``.
    sum_last
        Whether to sum the log-densities over the last dimension.

    Returns
    -------
    torch.Tensor
        Shape ``(...)`` when ``sum_last`` else the broadcast shape.
    """
    var = torch.as_tensor(var, dtype=value.dtype, device=value.device)
    log_prob = -0.5 * ((value - mean) ** 2 / var + torch.log(var) + _LOG_2PI)
    return log_prob.sum(dim=-1) if sum_last else log_prob


def gaussian_kl(
    q_mean: torch.Tensor,
    q_var: torch.Tensor,
    p_mean: Scalar = 0.0,
    p_var: Scalar = 1.0,
    sum_last: bool = True,
) -> torch.Tensor:
    """``KL(N(q_mean, q_var) || N(p_mean, p_var))`` for diagonal Gaussians.

    Elementwise ``0.5 (log(p_var / q_var) + (q_var + (q_mean - p_mean)^2) / p_var
    - 1)``; the defaults give the KL divergence to the standard normal prior.

    Parameters
    ----------
    q_mean, q_var
        Mean and variance of the variational distribution, shape ``(..., n_dims)``.
    p_mean, p_var
        Mean and variance of the prior, broadcastable with ``q_mean``.
    sum_last
        Whether to sum over the last dimension.

    Returns
    -------
    torch.Tensor
        Shape ``(...)`` when ``sum_last`` else the broadcast shape.
    """
    standard = isinstance(p_mean, (int, float)) and isinstance(p_var, (int, float))
    if standard and p_mean == 0 and p_var == 1:
        # few operations: evaluated at every training step on small tensors
        twice = torch.addcmul(q_var - torch.log(q_var), q_mean, q_mean)
    else:
        p_var = torch.as_tensor(p_var, dtype=q_mean.dtype, device=q_mean.device)
        ratio = q_var / p_var
        diff = q_mean - p_mean
        twice = torch.addcmul(ratio - torch.log(ratio), diff, diff / p_var)
    if sum_last:
        return (twice.sum(dim=-1) - twice.shape[-1]) * 0.5
    return (twice - 1.0) * 0.5
