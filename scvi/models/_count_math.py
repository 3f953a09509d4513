"""Cancellation-free building blocks of the count log-likelihoods.

The negative binomial log-probability written with three ``lgamma`` calls subtracts
numbers of order ``(x + theta) * log(x + theta)`` to get a result of order one, which
loses every significant digit in float32 once counts or inverse dispersions reach a
few thousands. The helpers here follow the saddle-point decomposition of Loader
(2000, "Fast and accurate computation of binomial probabilities"): ``lgamma`` is
split into its Stirling approximation plus a small remainder (:func:`stirling_error`)
and the large logarithmic terms are gathered into non-negative deviances that are
computed from exact differences (:func:`deviance_term`).

Branches are merged with :func:`select` (``torch.lerp`` with a 0/1 weight), which is
exact, routes no gradient to the unused branch and is much faster than
``torch.where`` on CPU; every branch is evaluated on arguments clamped to its own
domain so that the discarded values are finite.
"""

import math

import torch
import torch.nn.functional as F

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

# Below this argument the remainders are computed from ``lgamma`` / ``digamma``,
# above it from their asymptotic series.
_SERIES_THRESHOLD = 15.0
# B_2k / (2k (2k - 1)), coefficients of the Stirling series of lgamma; at the
# threshold, 5 terms leave < 3e-16 and 2 terms < 2e-10 of truncation error.
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188)
# B_2k / (2k), coefficients of the asymptotic series of digamma(n) - log(n) + 1/(2n).
_DIGAMMA = (-1 / 12, 1 / 120, -1 / 252, 1 / 240, -1 / 132)
# Shift applied to small arguments of digamma before its series (error < 1e-10).
_SHIFT = 6


def select(condition: torch.Tensor, if_true: torch.Tensor, if_false: torch.Tensor):
    """Elementwise ``if_true`` where ``condition`` else ``if_false`` (both finite).

    Parameters
    ----------
    condition
        Boolean tensor, broadcastable with the branches.
    if_true, if_false
        Finite floating tensors, broadcastable with each other.

    Returns
    -------
    torch.Tensor
        The broadcast shape of the three arguments.
    """
    weight = condition.to(torch.result_type(if_true, if_false))
    return torch.lerp(if_false, if_true, weight)


def as_float(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Return ``x`` as a floating tensor (integer counts take the dtype of ``like``).

    Parameters
    ----------
    x
        Counts of any shape, integer or floating.
    like
        Floating tensor whose dtype integer counts are cast to.

    Returns
    -------
    torch.Tensor
        ``x`` itself when floating, else ``x`` cast to ``like.dtype``.
    """
    return x if torch.is_floating_point(x) else x.to(like.dtype)


def floor_with_gradient(t: torch.Tensor, eps: float) -> torch.Tensor:
    """Clamp ``t`` from below at ``eps`` while keeping the identity gradient.

    Values at or above ``eps`` are returned unchanged (so results are exact there);
    smaller values are replaced by ``eps`` in the forward pass only, so that a mean
    or inverse dispersion that underflowed to zero still receives a gradient.

    Parameters
    ----------
    t
        Tensor of any shape.
    eps
        Lower bound.

    Returns
    -------
    torch.Tensor
        Tensor with the shape of ``t`` and values ``max(t, eps)``.
    """
    return t + (t.clamp(min=eps) - t).detach()


def _series(inv: torch.Tensor, coefficients) -> torch.Tensor:
    """``sum_k coefficients[k] * inv^(2k)`` by Horner's rule (in place)."""
    inv2 = inv * inv
    out = torch.full_like(inv, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        out.mul_(inv2).add_(coefficient)
    return out


def _n_terms(dtype: torch.dtype) -> int:
    return 2 if torch.finfo(dtype).bits <= 32 else len(_STIRLING)


def stirling_error(n: torch.Tensor) -> torch.Tensor:
    """Remainder of Stirling's formula, ``lgamma(n + 1) - log(sqrt(2 pi n) (n/e)^n)``.

    Parameters
    ----------
    n
        Positive real numbers, any shape.

    Returns
    -------
    torch.Tensor
        Tensor with the shape of ``n``; about ``1 / (12 n)`` for large ``n``.
    """
    small = n.clamp(max=_SERIES_THRESHOLD)
    direct = torch.lgamma(small + 1.0).sub_(torch.log(small).mul_(small + 0.5))
    direct.add_(small).sub_(HALF_LOG_2PI)
    inv = n.clamp(min=_SERIES_THRESHOLD).reciprocal_()
    series = _series(inv, _STIRLING[: _n_terms(n.dtype)]).mul_(inv)
    return select(n <= _SERIES_THRESHOLD, direct, series)


def digamma_remainder(n: torch.Tensor) -> torch.Tensor:
    """``digamma(n) - log(n)``, accurate for small and large ``n`` alike.

    Above the series threshold the asymptotic series is used; below, the argument
    is first shifted by ``digamma(n) = digamma(n + 6) - sum_{j<6} 1 / (n + j)``
    (cheaper than ``torch.digamma``, which is not vectorised on CPU).

    Parameters
    ----------
    n
        Positive real numbers, any shape.

    Returns
    -------
    torch.Tensor
        Tensor with the shape of ``n``; about ``-1 / (2 n)`` for large ``n``.
    """
    n_terms = _n_terms(n.dtype) + 1 if torch.finfo(n.dtype).bits <= 32 else None
    small = n.clamp(max=_SERIES_THRESHOLD)
    shifted_inv = (small + _SHIFT).reciprocal_()
    direct = _series(shifted_inv, _DIGAMMA[:n_terms]).mul_(shifted_inv * shifted_inv)
    direct.sub_(0.5 * shifted_inv).add_(torch.log1p(_SHIFT / small))
    for j in range(_SHIFT):
        direct.sub_((small + j).reciprocal_())
    inv = n.clamp(min=_SERIES_THRESHOLD).reciprocal_()
    series = _series(inv, _DIGAMMA[:n_terms]).mul_(inv * inv).sub_(0.5 * inv)
    return select(n <= _SERIES_THRESHOLD, direct, series)


def deviance_term(delta: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``log(r) - (r - 1) / r`` (which is >= 0) from ``delta = r - 1`` and ``r``.

    Both arguments must be computed independently (each to full relative precision)
    by the caller; the logarithm is taken with ``log1p(delta)`` near ``r = 1`` and
    with ``log(r)`` far from it, so neither form loses precision.

    Parameters
    ----------
    delta
        ``r - 1``, any shape, > -1.
    ratio
        ``r``, broadcastable with ``delta``, > 0.

    Returns
    -------
    torch.Tensor
        Broadcast shape of the inputs.
    """
    near_one = delta.abs() < 0.5
    log_near = torch.log1p(delta.clamp(min=-0.5))
    return select(near_one, log_near, torch.log(ratio)).sub_(delta / ratio)


def log_two_component_mixture(
    logits: torch.Tensor, log_p1: torch.Tensor, log_p2: torch.Tensor
) -> torch.Tensor:
    """``log(sigmoid(logits) exp(log_p1) + sigmoid(-logits) exp(log_p2))``.

    Two exact forms are combined: ``logaddexp`` of the weighted terms when the
    result is below ``log(1/2)``, and ``log1p(-c)`` with
    ``c = w (1 - p1) + (1 - w)(1 - p2)`` (from ``expm1``) when the probability is
    close to one, where the ``logaddexp`` form would cancel.

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
    near_one = complement < 0.5
    safe = complement * near_one.to(complement.dtype)
    return select(near_one, torch.log1p(-safe), weighted)
