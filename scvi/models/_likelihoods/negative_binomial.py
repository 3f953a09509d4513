"""Negative binomial and zero-inflated negative binomial log-probabilities.

With ``s = x + theta``, ``r1 = (theta + mu) / s``, ``r2 = x (theta + mu) / (s mu)``,
the deviance ``h(r) = log(r) - (r - 1) / r`` and ``SE`` the Stirling remainder
(:mod:`._special`), an exact rewriting of ``lgamma(s) - lgamma(theta) - lgamma(x + 1)
+ theta log(theta / (theta + mu)) + x log(mu / (theta + mu))`` for ``x > 0`` is::

    0.5 log(theta) - SE(theta) - 0.5 log(2 pi)      (terms of theta alone)
    + SE(s) - 0.5 log(s) - SE(x) - 0.5 log(x)        (small remainders)
    - theta h(r1) - x h(r2)                          (two deviances >= 0)

and ``log NB(0) = -theta log1p(mu / theta)``. No large number is subtracted from
another, so float32 keeps its precision for counts and parameters of any size. The
gradients, also free of cancellation, are::

    d/dmu    = theta (x - mu) / (mu (theta + mu))
    d/dtheta = R(s) - R(theta) - h(r1),   R(n) = digamma(n) - log(n)

(``-theta / (theta + mu)`` and ``mu / (theta + mu) - log1p(mu / theta)`` at
``x = 0``). Zero and positive counts are both evaluated on every entry (the
positive formula at ``x = 1`` where ``x = 0``, so that it stays finite) and merged
with a 0/1 weight: every tensor keeps the shape of the batch, nothing is read back
on the host, and the same code runs on any device.

The autograd functions compute the gradients per unit of output in their forward
pass (only those of inputs that need one) and save them: the backward pass is a
product and a sum over broadcast axes.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._special import (
    HALF_LOG_2PI,
    deviance,
    digamma_remainder,
    indicator,
    stirling_remainder,
)

Tensor = torch.Tensor


class NBTerms:
    """The pieces of ``log NB(x; mu, theta)`` shared by the NB and the ZINB.

    Parameters
    ----------
    x
        Counts (no gradient), broadcastable with ``mu`` and ``theta``.
    mu, theta
        Positive means and inverse dispersions; floored at ``eps`` here (their
        gradients are those at the floored values).
    eps
        Lower bound of ``mu`` and ``theta``.

    Attributes
    ----------
    positive
        1 where ``x > 0``, 0 elsewhere, in the floating dtype.
    log_zero
        ``log NB(0)`` on every entry.
    log_positive
        ``log NB(x)`` of the positive-count formula (meaningless where ``x = 0``).
    """

    def __init__(self, x: Tensor, mu: Tensor, theta: Tensor, eps: float):
        shape = torch.broadcast_shapes(x.shape, mu.shape, theta.shape)
        # x and mu expanded: every temporary below then has the full shape
        x = x.expand(shape)
        self.mu = mu = mu.clamp(min=eps).expand(shape)
        self.theta = theta = theta.clamp(min=eps)
        self.positive = indicator(torch.gt, x, 0.0)
        x1 = self.positive.neg().add_(1.0).add_(x)  # x, or 1 where x = 0
        self.both = theta + mu
        self.log_ratio = torch.div(mu, theta).log1p_()
        self.log_zero = torch.mul(self.log_ratio, theta).neg_()
        self.total = total = x1 + theta
        self.excess = excess = x1 - mu
        ratio = self.both / total  # r1
        self.deviance_1 = deviance(torch.div(excess, total).neg_(), ratio)
        # r2 - 1 and r2, in an order where nothing overflows for huge theta or x / mu
        delta_2 = torch.div(theta, total).mul_(excess).div_(mu)
        deviance_2 = deviance(delta_2, ratio.mul_(x1).div_(mu))
        # the remainders of x + theta and of theta in one pass (fewer kernels)
        self._arguments = torch.cat([total.reshape(-1), theta.reshape(-1)])
        at_total, at_theta = self._split(
            stirling_remainder(self._arguments, torch.log(self._arguments), -1)
        )
        # SE(s) - log(s)/2 - (SE(x) + log(x)/2) - (SE(theta) - log(theta)/2)
        log_positive = at_total.sub_(stirling_remainder(x1, torch.log(x1), 1))
        log_positive.sub_(at_theta).sub_(HALF_LOG_2PI)
        log_positive.addcmul_(theta, self.deviance_1, value=-1.0)
        self.log_positive = log_positive.addcmul_(x1, deviance_2, value=-1.0)

    def _split(self, flat: Tensor):
        """Views of a flat tensor laid out as ``self._arguments``, with the shapes
        of ``x + theta`` and of ``theta``."""
        n = self.total.numel()
        return flat[:n].view(self.total.shape), flat[n:].view(self.theta.shape)

    def grad_mu(self, zero_factor: Optional[Tensor] = None) -> Tensor:
        """``d log NB / d mu`` per entry; ``zero_factor`` multiplies it at zero
        counts (the chain rule of the zero-inflated mixture). Call once (it
        reuses the forward temporaries)."""
        at_positive = self.excess.div_(self.mu)
        if zero_factor is None:
            at_zero = torch.full_like(at_positive, -1.0)
        else:
            at_zero = zero_factor.neg()
        factor = at_zero.lerp_(at_positive, self.positive)
        return factor.mul_(self.theta / self.both)

    def grad_theta(self, zero_factor: Optional[Tensor] = None) -> Tensor:
        """``d log NB / d theta`` per entry (see :meth:`grad_mu`)."""
        at_zero = torch.div(self.mu, self.both).sub_(self.log_ratio)
        if zero_factor is not None:
            at_zero.mul_(zero_factor)
        # R(x + theta) and R(theta) in one pass
        at_total, at_theta = self._split(digamma_remainder(self._arguments))
        at_positive = at_total.sub_(self.deviance_1).sub_(at_theta)
        return at_zero.lerp_(at_positive, self.positive)


def zero_inflated(terms: NBTerms, pi: Tensor, needs_grad: bool):
    """``log ZINB`` from the NB pieces and the dropout logits ``pi``.

    The zero-count probability ``P = w + (1 - w) NB(0)`` (``w = sigmoid(pi)``) is
    summed in log space (exact however small it is), or taken as ``log1p(-c)``
    with ``c = (1 - w)(1 - NB(0))`` where ``c <= 1/2`` (``P`` close to one, where
    the sum would lose the digits of ``c``). Positive counts give ``log NB(x) +
    log(1 - w)``.

    Returns
    -------
    log_prob : torch.Tensor
        Elementwise log-probabilities.
    grad_pi, zero_factor : torch.Tensor or None
        ``d log ZINB / d pi`` per entry, and the factor ``(1 - w) NB(0) / P`` of
        the NB gradients at zero counts (None unless ``needs_grad``).
    """
    softplus = F.softplus(pi)  # -log(1 - w)
    log_w = pi - softplus
    log_keep_zero = terms.log_zero - softplus  # log((1 - w) NB(0))
    log_p = torch.logaddexp(log_w, log_keep_zero)
    complement = torch.expm1(terms.log_zero).mul_(softplus.neg().exp_()).neg_()
    near_one = indicator(torch.le, complement, 0.5)  # c = 1 - P <= 1/2
    log_p.lerp_(torch.mul(complement, near_one).neg_().log1p_(), near_one)
    grad_pi = zero_factor = None
    if needs_grad:
        # d log P / d pi = c w / P; at positive counts d log(1 - w) / d pi = -w
        grad_pi = torch.sub(log_w, log_p).exp_().mul_(complement)
        grad_pi.lerp_(log_w.exp_().neg_(), terms.positive)
        zero_factor = log_keep_zero.sub_(log_p).exp_()
    log_positive = terms.log_positive.sub_(softplus)
    return log_p.lerp_(log_positive, terms.positive), grad_pi, zero_factor


def _reduce(unit: Optional[Tensor], grad_output: Tensor, shape) -> Optional[Tensor]:
    """Chain rule: ``grad_output`` times a per-entry derivative, summed back to the
    shape of the input."""
    if unit is None:
        return None
    return (unit * grad_output).sum_to_size(shape)


class LogNegativeBinomial(torch.autograd.Function):
    """``log NB(x; mu, theta)`` with analytic gradients to ``mu`` and ``theta``.

    Call as ``LogNegativeBinomial.apply(x, mu, theta, eps)`` with floating tensors
    of one dtype and broadcastable shapes (e.g. ``theta`` of shape ``(n_genes,)``).
    """

    @staticmethod
    def forward(ctx, x, mu, theta, eps):
        """Elementwise log-probabilities, shape ``broadcast(x, mu, theta)``."""
        terms = NBTerms(x, mu, theta, eps)
        _, needs_mu, needs_theta, _ = ctx.needs_input_grad
        ctx.shapes = mu.shape, theta.shape
        ctx.save_for_backward(
            terms.grad_mu() if needs_mu else None,
            terms.grad_theta() if needs_theta else None,
        )
        return torch.lerp(terms.log_zero, terms.log_positive, terms.positive)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        """Gradients summed back to the shapes of ``mu`` and ``theta``."""
        grad_mu, grad_theta = ctx.saved_tensors
        mu_shape, theta_shape = ctx.shapes
        return (
            None,
            _reduce(grad_mu, grad_output, mu_shape),
            _reduce(grad_theta, grad_output, theta_shape),
            None,
        )


class LogZeroInflatedNegativeBinomial(torch.autograd.Function):
    """``log ZINB(x; mu, theta, pi)`` with analytic gradients (see
    :func:`zero_inflated`); call as ``.apply(x, mu, theta, pi, eps)``."""

    @staticmethod
    def forward(ctx, x, mu, theta, pi, eps):
        """Elementwise log-probabilities, shape ``broadcast(x, mu, theta, pi)``."""
        terms = NBTerms(x, mu, theta, eps)
        _, needs_mu, needs_theta, needs_pi, _ = ctx.needs_input_grad
        log_prob, grad_pi, zero_factor = zero_inflated(terms, pi, True)
        ctx.shapes = mu.shape, theta.shape, pi.shape
        ctx.save_for_backward(
            terms.grad_mu(zero_factor) if needs_mu else None,
            terms.grad_theta(zero_factor) if needs_theta else None,
            grad_pi if needs_pi else None,
        )
        return log_prob

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        """Gradients summed back to the shapes of ``mu``, ``theta`` and ``pi``."""
        units = ctx.saved_tensors
        grads = [_reduce(u, grad_output, s) for u, s in zip(units, ctx.shapes)]
        return (None, *grads, None)


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def log_nb(x: Tensor, mu: Tensor, theta: Tensor, eps: float = 0.0) -> Tensor:
    """``log NB(x; mu, theta)`` elementwise (arguments of one floating dtype).

    Without a gradient to compute, no autograd function is involved.
    """
    if _needs_grad(mu, theta):
        return LogNegativeBinomial.apply(x, mu, theta, eps)
    terms = NBTerms(x, mu, theta, eps)
    return torch.lerp(terms.log_zero, terms.log_positive, terms.positive)


def log_zinb(
    x: Tensor, mu: Tensor, theta: Tensor, pi: Tensor, eps: float = 0.0
) -> Tensor:
    """``log ZINB(x; mu, theta, pi)`` elementwise (arguments of one floating
    dtype)."""
    if _needs_grad(mu, theta, pi):
        return LogZeroInflatedNegativeBinomial.apply(x, mu, theta, pi, eps)
    return zero_inflated(NBTerms(x, mu, theta, eps), pi, False)[0]


__all__ = [
    "LogNegativeBinomial",
    "LogZeroInflatedNegativeBinomial",
    "log_nb",
    "log_zinb",
]
