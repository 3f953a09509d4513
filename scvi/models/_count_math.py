"""Cancellation-free building blocks of the count log-likelihoods.

The negative binomial log-probability written with three ``lgamma`` calls subtracts
numbers of order ``(x + theta) * log(x + theta)`` to get a result of order one, which
loses every significant digit in float32 once counts or inverse dispersions reach a
few thousands. The helpers here follow the saddle-point decomposition of Loader
(2000, "Fast and accurate computation of binomial probabilities"): ``lgamma`` is
split into its Stirling approximation plus a small remainder
(:func:`stirling_error_with_log`) and the large logarithmic terms are gathered into
non-negative deviances that are computed from exact differences
(:func:`deviance_term`).

Branches are merged with ``torch.lerp`` and a 0/1 weight (:func:`select`), which is
exact, routes no gradient to the unused branch and is much faster than
``torch.where`` on CPU; every branch is evaluated on arguments clamped to its own
domain so that the discarded values are finite. Internally the weight is written
by the comparison itself in the floating dtype (:func:`less_equal_weight`), which
avoids the slow boolean tensor and its conversion.
"""

import math

import torch
import torch.nn.functional as F

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

# Below this argument the remainders are computed from ``lgamma`` / ``digamma``,
# above it from their asymptotic series.
_SERIES_THRESHOLD = 15.0
_LOG_SERIES_THRESHOLD = math.log(_SERIES_THRESHOLD)
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


def less_equal_weight(t: torch.Tensor, bound: float, out=None) -> torch.Tensor:
    """``1.0`` where ``t <= bound`` else ``0.0``, in the dtype of ``t`` (no gradient).

    Written directly by the comparison kernel, which is several times faster on
    CPU than building a boolean tensor and converting it.

    Parameters
    ----------
    t
        Floating tensor of any shape.
    bound
        Threshold.
    out
        Optional buffer (same shape and dtype as ``t``, may not alias it).

    Returns
    -------
    torch.Tensor
        Tensor with the shape and dtype of ``t``.
    """
    if out is None:
        out = torch.empty_like(t)
    return torch.le(t.detach(), bound, out=out)


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


def _series(inv2: torch.Tensor, coefficients, out=None) -> torch.Tensor:
    """``sum_k coefficients[k] * inv2^k`` by Horner's rule, into ``out`` if given.

    ``out`` may be ``inv2`` itself when there are at most two coefficients.
    """
    if len(coefficients) == 1:
        return (
            torch.full_like(inv2, coefficients[0])
            if out is None
            else out.fill_(coefficients[0])
        )
    out = torch.mul(inv2, coefficients[-1], out=out).add_(coefficients[-2])
    for coefficient in reversed(coefficients[:-2]):
        out.mul_(inv2).add_(coefficient)
    return out


def _n_terms(dtype: torch.dtype) -> int:
    return 2 if torch.finfo(dtype).bits <= 32 else len(_STIRLING)


def stirling_series(n: torch.Tensor, log_n: torch.Tensor, half_log_sign: int):
    """Series branch of :func:`stirling_error_with_log` (exact for ``n >= 15``).

    ``log_n`` is ``log(n)`` (read only when ``half_log_sign`` is not 0); arguments
    below the threshold are clamped to it, so the result is finite everywhere.
    """
    inv = n.clamp(min=_SERIES_THRESHOLD).reciprocal_()
    inv2 = inv * inv
    coefficients = _STIRLING[: _n_terms(n.dtype)]
    series = _series(inv2, coefficients, out=inv2 if len(coefficients) <= 2 else None)
    series.mul_(inv)
    if half_log_sign:
        series.add_(log_n, alpha=0.5 * half_log_sign)
    return series


def stirling_direct(small: torch.Tensor, log_small: torch.Tensor, half_log_sign: int):
    """Direct branch of :func:`stirling_error_with_log` for ``0 < small <= 15``.

    ``lgamma(n + 1) - (n + 1/2 - s/2) log(n) + n - log(2 pi) / 2`` with
    ``log_small = log(small)`` and ``s = half_log_sign``.
    """
    direct = (small + 1.0).lgamma_().addcmul_(small, log_small, value=-1.0)
    if half_log_sign <= 0:
        direct.add_(log_small, alpha=-0.5 * (1 - half_log_sign))
    return direct.add_(small).sub_(HALF_LOG_2PI)


def stirling_error_with_log(n: torch.Tensor, half_log_sign: int) -> torch.Tensor:
    """``SE(n) + s log(n) / 2`` with ``s = half_log_sign`` in -1, 0, 1.

    ``SE(n) = lgamma(n + 1) - log(sqrt(2 pi n) (n/e)^n)`` is the remainder of
    Stirling's formula (about ``1 / (12 n)`` for large ``n``). The logarithm is
    shared between the two branches and folded into the direct one
    (``lgamma(n + 1) - (n + 1/2 - half_log_sign / 2) log(n) + n``), so
    ``SE(n) - log(n) / 2`` (the form the negative binomial needs) costs no more
    than ``SE(n)`` alone. Temporaries are reused in place (fewer
    large allocations, hence fewer page faults on CPU).

    Parameters
    ----------
    n
        Positive real numbers, any shape.
    half_log_sign
        -1, 0 or 1.

    Returns
    -------
    torch.Tensor
        Tensor with the shape of ``n``.
    """
    log_n = torch.log(n)
    series = stirling_series(n, log_n, half_log_sign)
    # for n <= threshold the clamp leaves log(n) unchanged; beyond, the branch is
    # discarded and only has to stay finite
    log_small = log_n.clamp_(max=_LOG_SERIES_THRESHOLD)
    direct = stirling_direct(n.clamp(max=_SERIES_THRESHOLD), log_small, half_log_sign)
    return series.lerp_(direct, less_equal_weight(n, _SERIES_THRESHOLD, out=log_n))


def digamma_remainder(n: torch.Tensor) -> torch.Tensor:
    """``digamma(n) - log(n)``, accurate for small and large ``n`` alike.

    Above the series threshold the asymptotic series is used; below, the argument
    is first shifted by ``digamma(n) = digamma(n + 6) - sum_{j<6} 1 / (n + j)``
    (cheaper than ``torch.digamma``, which is not vectorised on CPU). The six
    reciprocals are summed in pairs, ``1 / (n + j) + 1 / (n + 5 - j) =
    (2 n + 5) / (m + j (5 - j))`` with ``m = n (n + 5)``, all terms positive.

    Parameters
    ----------
    n
        Positive real numbers, any shape.

    Returns
    -------
    torch.Tensor
        Tensor with the shape of ``n``; about ``-1 / (2 n)`` for large ``n``.
    """
    small = n.clamp(max=_SERIES_THRESHOLD)
    direct = digamma_direct(small)
    series = digamma_series(n, out=small)
    return series.lerp_(direct, less_equal_weight(n, _SERIES_THRESHOLD))


def _digamma_coefficients(dtype: torch.dtype):
    n_terms = _n_terms(dtype) + 1 if torch.finfo(dtype).bits <= 32 else None
    return _DIGAMMA[:n_terms]


def digamma_direct(small: torch.Tensor) -> torch.Tensor:
    """Shifted branch of :func:`digamma_remainder` for ``0 < small <= 15``."""
    coefficients = _digamma_coefficients(small.dtype)
    shifted_inv = (small + _SHIFT).reciprocal_()
    shifted_inv2 = shifted_inv * shifted_inv
    direct = _series(shifted_inv2, coefficients).mul_(shifted_inv2)
    direct.add_(shifted_inv, alpha=-0.5)
    buffer = torch.reciprocal(small, out=shifted_inv).mul_(_SHIFT)
    direct.add_(buffer.log1p_())
    # buffers reused below: shifted_inv (as 2 n + 5), shifted_inv2 (as m)
    small_5 = torch.add(small, _SHIFT - 1, out=shifted_inv)
    m = torch.mul(small, small_5, out=shifted_inv2)
    pairs = m.reciprocal().add_((m + 4.0).reciprocal_())
    pairs.add_(m.add_(6.0).reciprocal_()).mul_(small_5.add_(small))
    return direct.sub_(pairs)


def digamma_series(n: torch.Tensor, out=None) -> torch.Tensor:
    """Series branch of :func:`digamma_remainder` (exact for ``n >= 15``).

    Arguments below the threshold are clamped to it. ``out`` (a buffer that may
    be overwritten, not ``n``) receives an intermediate.
    """
    inv = torch.clamp(n, min=_SERIES_THRESHOLD, out=out).reciprocal_()
    inv2 = inv * inv
    series = _series(inv2, _digamma_coefficients(n.dtype)).mul_(inv2)
    return series.add_(inv, alpha=-0.5)


def deviance_term(delta: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``log(r) - (r - 1) / r`` (which is >= 0) from ``delta = r - 1`` and ``r``.

    Both arguments must be computed independently (each to full relative precision)
    by the caller. With ``u = delta / r = 1 - 1 / r`` the logarithm is
    ``log1p(delta)`` for ``r >= 1`` and ``-log1p(-u)`` for ``r < 1``; in both cases
    the argument of ``log1p`` is the non-negative ``max(delta, -u)``, so that
    ``log(r) = copysign(log1p(max(delta, -u)), delta)`` loses no precision near
    ``r = 1``, for tiny ``r`` or for huge ``r``.

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
    u = delta / ratio
    log_ratio = torch.mul(u, -1.0)
    torch.maximum(log_ratio, delta, out=log_ratio)
    return log_ratio.log1p_().copysign_(delta).sub_(u)


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
