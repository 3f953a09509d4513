"""Poisson log-probability, free of cancellation for large counts."""

import torch

from ._special import HALF_LOG_2PI, deviance, floor_with_gradient, stirling_remainder


def log_poisson(x: torch.Tensor, rate: torch.Tensor, eps: float = 1e-8):
    """Elementwise Poisson log-probability ``x log(rate) - rate - log(x!)``.

    For ``x > 0`` it is evaluated as ``-SE(x) - log(2 pi x) / 2 - x h(x / rate)``
    (Stirling remainder and deviance, see :mod:`._special`), which keeps float32
    precision for large counts; ``-rate`` at ``x = 0``. The gradient, ``x / rate -
    1``, is that of ``x log(rate) - rate``.

    Parameters
    ----------
    x
        Counts (no gradient), any shape.
    rate
        Positive means, broadcastable with ``x``; floored at ``eps`` (the forward
        value only: the gradient is kept).
    eps
        Lower bound of the rate.

    Returns
    -------
    torch.Tensor
        Log-probabilities with the broadcast shape of ``x`` and ``rate``.
    """
    rate = floor_with_gradient(rate, eps)
    x = x.expand(torch.broadcast_shapes(x.shape, rate.shape))
    with torch.no_grad():
        positive = torch.gt(x, 0).to(rate.dtype)
        x1 = x + (1.0 - positive)  # 1 where x = 0, so that the formula stays finite
        ratio = x1 / rate
        log_positive = stirling_remainder(x1, torch.log(x1), 1).add_(HALF_LOG_2PI)
        log_positive.addcmul_(x1, deviance(ratio - 1.0, ratio)).neg_()
        value = torch.lerp(-rate, log_positive, positive)
    # the gradient of x log(rate) - rate; the added term is exactly zero
    differentiable = x * torch.log(rate) - rate
    return value + (differentiable - differentiable.detach())
