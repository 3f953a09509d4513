"""Special functions of the count likelihoods, free of cancellation.

The negative binomial log-probability written with three ``lgamma`` calls subtracts
numbers of order ``(x + theta) log(x + theta)`` to get a result of order one, which
loses every digit in float32 once counts or inverse dispersions reach a few
thousands. Following Loader (2000, "Fast and accurate computation of binomial
probabilities"), ``lgamma`` is split into Stirling's formula plus a small remainder
(:func:`stirling_remainder`), and the large logarithmic terms are gathered into
non-negative deviances computed from exact differences (:func:`deviance`).

Every function works elementwise on whole tensors, on any device, with no branch
decided on the host: where a function has two branches (direct formula for small
arguments, asymptotic series beyond :data:`SERIES_THRESHOLD`), both are evaluated,
each on arguments clamped to its own domain, and merged with :func:`torch.lerp` and a
0/1 weight, which is exact. Temporaries are reused in place (fewer allocations,
hence fewer page faults on CPU), so these functions are not differentiated by
autograd: the likelihoods give their gradients analytically.
"""

import math

import torch

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

#: below this argument the Stirling remainder uses ``lgamma``, above it a series
SERIES_THRESHOLD = 15.0
_LOG_THRESHOLD = math.log(SERIES_THRESHOLD)
# B_2k / (2k (2k - 1)): Stirling series of lgamma; at the threshold 2 terms leave
# < 2e-10 of truncation error (enough for float32), 5 terms < 3e-16
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188)
# B_2k / (2k): series of digamma(n) - log(n) + 1 / (2 n)
_DIGAMMA = (-1 / 12, 1 / 120, -1 / 252, 1 / 240, -1 / 132)


def indicator(comparison, t: torch.Tensor, bound: float) -> torch.Tensor:
    """``comparison(t, bound)`` as 1.0 / 0.0 in the floating dtype of ``t``: the
    weight of :func:`torch.lerp` (no gradient).

    ``comparison`` is :func:`torch.gt`, :func:`torch.le`...; writing its result
    straight into a floating tensor is several times faster on CPU than building a
    boolean tensor and converting it.
    """
    return comparison(t.detach(), bound, out=torch.empty_like(t))


def _horner(inv2: torch.Tensor, coefficients) -> torch.Tensor:
    """``sum_k coefficients[k] inv2^k`` (a new tensor)."""
    out = inv2 * coefficients[-1]
    for coefficient in reversed(coefficients[1:-1]):
        out.add_(coefficient).mul_(inv2)
    return out.add_(coefficients[0])


def _n_terms(dtype: torch.dtype, single: int) -> int:
    return single if torch.finfo(dtype).bits <= 32 else 5


def stirling_remainder(
    n: torch.Tensor, log_n: torch.Tensor, half_log_sign: int
) -> torch.Tensor:
    """``SE(n) + half_log_sign * log(n) / 2`` for positive ``n``.

    ``SE(n) = lgamma(n + 1) - (n + 1/2) log(n) + n - log(2 pi) / 2`` is the remainder
    of Stirling's formula (about ``1 / (12 n)`` for large ``n``). The negative
    binomial needs ``SE(n) - log(n) / 2`` (``half_log_sign=-1``) for ``x + theta``
    and ``theta``, and ``SE(x) + log(x) / 2`` (``half_log_sign=1``) for counts.

    Parameters
    ----------
    n
        Positive numbers, any shape.
    log_n
        ``log(n)``, same shape.
    half_log_sign
        -1 or 1.

    Returns
    -------
    torch.Tensor
        The shape of ``n``.
    """
    inv = n.clamp(min=SERIES_THRESHOLD).reciprocal_()
    series = _horner(inv * inv, _STIRLING[: _n_terms(n.dtype, 2)]).mul_(inv)
    series.add_(log_n, alpha=0.5 * half_log_sign)
    # lgamma(n + 1) - (n + 1/2 - half_log_sign / 2) log(n) + n - log(2 pi) / 2
    small = n.clamp(max=SERIES_THRESHOLD)
    small_1 = small + 1.0
    direct = torch.lgamma(small_1)
    log_small = log_n.clamp(max=_LOG_THRESHOLD)
    direct.sub_(log_small.mul_(small_1 if half_log_sign < 0 else small))
    direct.add_(small).sub_(HALF_LOG_2PI)
    return series.lerp_(direct, indicator(torch.le, n, SERIES_THRESHOLD))


def digamma_remainder(n: torch.Tensor) -> torch.Tensor:
    """``digamma(n) - log(n)`` for positive ``n`` (about ``-1 / (2 n)`` when large).

    One formula for every ``n``: the asymptotic series at ``n + 6`` (exact there
    to < 1e-9, or < 1e-13 in float64), shifted back by ``digamma(n) =
    digamma(n + 6) - sum_{j<6} 1 / (n + j)`` and ``log(n + 6) - log(n) =
    log1p(6 / n)``. The six reciprocals are summed in pairs, ``1 / (n + j) + 1 /
    (n + 5 - j) = (2 n + 5) / (m + j (5 - j))`` with ``m = n (n + 5)``. About
    four times faster than :func:`torch.digamma` on CPU, and without branches.

    Parameters
    ----------
    n
        Positive numbers, any shape.

    Returns
    -------
    torch.Tensor
        The shape of ``n``.
    """
    inv = torch.add(n, 6.0).reciprocal_()
    inv2 = inv * inv
    coefficients = _DIGAMMA[: _n_terms(n.dtype, 3)]
    out = _horner(inv2, coefficients).mul_(inv2).sub_(inv, alpha=0.5)
    out.add_(torch.reciprocal(n).mul_(6.0).log1p_())
    shifted = torch.add(n, 5.0)
    twice = shifted + n  # 2 n + 5
    m = shifted.mul_(n)
    pairs = torch.reciprocal(m).add_(torch.add(m, 4.0).reciprocal_())
    pairs.add_(m.add_(6.0).reciprocal_()).mul_(twice)
    return out.sub_(pairs)


def deviance(delta: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``log(r) - (r - 1) / r`` (which is >= 0) from ``delta = r - 1`` and ``r``.

    Both arguments must be computed independently, each to full relative precision.
    With ``u = delta / r`` the logarithm is ``log1p(delta)`` for ``r >= 1`` and
    ``-log1p(-u)`` for ``r < 1``: in both cases ``log1p`` of the non-negative
    ``max(delta, -u)`` with the sign of ``delta``, which loses no precision near
    ``r = 1``, for tiny or for huge ``r``. Not differentiable by autograd (its
    temporaries are reused in place).

    Parameters
    ----------
    delta
        ``r - 1`` (> -1), any shape.
    ratio
        ``r`` (> 0), broadcastable with ``delta``.

    Returns
    -------
    torch.Tensor
        Broadcast shape of the arguments.
    """
    u = delta / ratio
    log_ratio = torch.maximum(delta, u.neg())
    return log_ratio.log1p_().copysign_(delta).sub_(u)


def floor_with_gradient(t: torch.Tensor, eps: float) -> torch.Tensor:
    """``max(t, eps)`` in the forward pass, with the identity gradient.

    Values at or above ``eps`` are unchanged; a mean or inverse dispersion that
    underflowed to zero still receives a gradient.

    Parameters
    ----------
    t
        Tensor of any shape.
    eps
        Lower bound.

    Returns
    -------
    torch.Tensor
        The shape of ``t``.
    """
    return t + (t.clamp(min=eps) - t).detach()
