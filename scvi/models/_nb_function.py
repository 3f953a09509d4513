"""Negative binomial log-probability as an autograd function with analytic gradients.

With ``s = x + theta``, ``r1 = (theta + mu) / s``, ``r2 = x (theta + mu) / (s mu)``,
``h(r) = log(r) - (r - 1) / r`` and ``SE`` the Stirling remainder, an exact rewriting
of ``lgamma(s) - lgamma(theta) - lgamma(x + 1) + theta log(theta / (theta + mu))
+ x log(mu / (theta + mu))`` for ``x > 0`` is::

    0.5 log(theta) - SE(theta) - 0.5 log(2 pi)      (per gene)
    + SE(s) - 0.5 log(s) - SE(x) - 0.5 log(x)
    - theta h(r1) - x h(r2)                          (two deviances >= 0)

and ``log NB(0) = -theta log1p(mu / theta)``. The gradients are::

    d/dmu    = theta (x - mu) / (mu (theta + mu))
    d/dtheta = -h(r1) + R(s) - R(theta),   R(n) = digamma(n) - log(n)

(valid for ``x = 0`` too), also free of cancellation. Evaluating them directly
instead of differentiating the forward pass through autograd keeps the training
hot path a few elementwise kernels long. Terms of ``theta`` alone are computed on
``theta``'s own shape (per gene) and only then broadcast.
"""

import torch

from ._count_math import (
    HALF_LOG_2PI,
    deviance_term,
    digamma_remainder,
    select,
    stirling_error,
)


def _log_nb_and_h1(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor):
    """Return the NB log-probabilities and ``h(r1)`` (reused by the gradient)."""
    positive = x > 0
    x_safe = x + (~positive).to(x.dtype)
    total = x + theta
    excess = x - mu
    ratio_theta = (theta + mu) / total
    h_theta = deviance_term(-excess / total, ratio_theta)
    # products ordered so that no intermediate overflows for huge theta or x / mu
    ratio_x = (x_safe / mu).mul_(ratio_theta)
    delta_x = (theta / total).mul_(excess / mu)
    per_gene = 0.5 * torch.log(theta) - stirling_error(theta) - HALF_LOG_2PI
    log_positive = stirling_error(total).sub_(stirling_error(x_safe))
    log_positive.sub_(torch.log(total).add_(torch.log(x_safe)).mul_(0.5))
    log_positive.sub_(theta * h_theta).sub_(x_safe * deviance_term(delta_x, ratio_x))
    log_positive.add_(per_gene)
    log_zero = torch.log1p(mu / theta).mul_(-theta)
    return select(positive, log_positive, log_zero), h_theta


class LogNegativeBinomial(torch.autograd.Function):
    """``log NB(x; mu, theta)``; gradients flow to ``mu`` and ``theta`` only.

    Call through ``LogNegativeBinomial.apply(x, mu, theta)`` with floating tensors
    of one dtype: ``x`` and ``mu`` (positive) of the full output shape (expanded
    views are fine), ``theta`` (positive) of any shape broadcastable to it, e.g.
    ``(n_genes,)``. :func:`scvi.models.log_likelihood.log_nb_positive` prepares
    the arguments this way.
    """

    @staticmethod
    def forward(ctx, x, mu, theta):
        """Elementwise log-probabilities, shape ``broadcast(x, mu, theta)``."""
        log_prob, h_theta = _log_nb_and_h1(x, mu, theta)
        ctx.save_for_backward(x, mu, theta, h_theta)
        return log_prob

    @staticmethod
    def backward(ctx, grad_output):
        """Analytic gradients, summed back to the shapes of ``mu`` and ``theta``."""
        x, mu, theta, h_theta = ctx.saved_tensors
        grad_mu = grad_theta = None
        if ctx.needs_input_grad[1]:
            grad_mu = (theta / (theta + mu)).mul_((x - mu) / mu).mul_(grad_output)
            grad_mu = grad_mu.sum_to_size(mu.shape)
        if ctx.needs_input_grad[2]:
            grad_theta = digamma_remainder(x + theta).sub_(h_theta).mul_(grad_output)
            per_gene = digamma_remainder(theta) * grad_output.sum_to_size(theta.shape)
            grad_theta = grad_theta.sum_to_size(theta.shape) - per_gene
        return None, grad_mu, grad_theta
