"""Negative binomial log-probabilities as autograd functions with analytic gradients.

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

(valid for ``x = 0`` too, where ``d/dtheta = mu / (theta + mu) - log1p(mu / theta)``),
also free of cancellation. Evaluating them directly instead of differentiating the
forward pass through autograd keeps the training hot path a few elementwise
kernels long.

Zero/positive split. Single-cell counts are mostly zeros, and the zero-count
formulas are a handful of cheap kernels. Both passes therefore evaluate the zero
formulas on every entry and the expensive positive-count terms (Stirling
remainders, deviances, ``R(s)``) only on the entries with ``x > 0``
(:class:`_Positions`): their flat indices are found once (on ``x``'s own storage
when it is expanded along leading axes; with NumPy on CPU), every operand is
gathered at them with ``index_select`` on its own storage (offsets for other
stride patterns are read from a cached table, so that expanded views such as a
per-gene ``theta`` or a gradient broadcast along genes are never copied), and the
results are written back over the zero values with ``scatter_``. Terms of
``theta`` alone are computed on ``theta``'s own shape (per gene) whenever that is
smaller than the number of positive entries, and only then gathered; gradients are
reduced to the parameters' shapes with ``sum_to_size``.

Integer counts add two table look-ups: ``SE(x) + 0.5 log(x)`` comes from a constant
table (counts below 16384), and, when ``theta`` is per gene and there are more than
16 positive entries per gene, the ``lgamma`` / shifted-``digamma`` branches of the
remainders of ``s = x + theta`` (used for ``s <= 15``) are evaluated once per gene
on the grid ``min(theta + k, 15)``, ``k = 0..15``, and gathered (column ``k = 0``
serves the terms of ``theta`` alone); only the cheap asymptotic series is
evaluated per entry. The grid values are bit-identical to the per-entry ones,
since ``x + theta`` is the same floating-point sum.

:class:`LogZeroInflatedNegativeBinomial` applies the same split to the
zero-inflated negative binomial and fuses the mixing with the dropout logits into
the same analytic backward pass; the zero-count probability is evaluated directly
(:class:`_DirectMixing`) unless it is subnormal somewhere in the batch
(:class:`_LogSpaceMixing`). Both functions floor ``mu`` and ``theta`` at
``eps`` in the forward values only (the gradients flow through unchanged).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from ._count_math import (
    _SERIES_THRESHOLD,
    HALF_LOG_2PI,
    deviance_term,
    digamma_direct,
    digamma_remainder,
    digamma_series,
    less_equal_weight,
    stirling_direct,
    stirling_error_with_log,
    stirling_series,
)

# counts 0..15 are tabulated (the remainders switch to their series above 15)
_N_TABULATED = int(_SERIES_THRESHOLD) + 1


def _positive_indices(x: torch.Tensor) -> torch.Tensor:
    """Flat row-major indices (int64, 1-d) of the entries of ``x`` that are ``> 0``.

    Leading axes along which ``x`` is expanded (stride 0, e.g. a leading
    ``n_samples`` axis) are not scanned: the indices found in one copy are shifted
    for the others. On CPU the scan runs in NumPy, whose ``flatnonzero`` of a
    boolean array is several times faster than ``torch.nonzero``.
    """
    lead = 0
    while lead < x.dim() and x.stride(lead) == 0:
        lead += 1
    base = x[(0,) * lead] if lead else x
    if base.device.type == "cpu" and base.dtype in (torch.float32, torch.float64):
        array = base.detach().contiguous().numpy()
        flat = torch.from_numpy(np.flatnonzero(array > 0).astype(np.int64, copy=False))
    else:
        flat = torch.gt(base, 0).reshape(-1).nonzero().squeeze(1)
    if lead and flat.numel():
        copies = torch.arange(math.prod(x.shape[:lead]), device=x.device)
        flat = (copies.unsqueeze(1) * base.numel() + flat).reshape(-1)
    elif lead:  # no positive entry, or nothing to copy it into
        flat = flat[:0]
    return flat


# flat tables of storage offsets, by (shape, strides, device); see _offset_table
_OFFSET_TABLES = {}
_OFFSET_TABLE_CACHE = 16
_OFFSET_TABLE_MAX_SIZE = 1 << 22


def _offset_table(shape, strides, device) -> torch.Tensor:
    """Storage offset of every element of a tensor of this shape and strides, in
    row-major order (int64, 1-d); small tables are cached (training reuses a few
    batch shapes)."""
    key = (shape, strides, device)
    table = _OFFSET_TABLES.get(key)
    if table is None:
        span = 1 + sum((n - 1) * st for n, st in zip(shape, strides))
        # element i of arange(span) viewed with these strides is its own offset
        table = torch.arange(span, device=device).as_strided(shape, strides)
        table = table.reshape(-1)
        if table.numel() <= _OFFSET_TABLE_MAX_SIZE:
            if len(_OFFSET_TABLES) >= _OFFSET_TABLE_CACHE:
                _OFFSET_TABLES.clear()
            _OFFSET_TABLES[key] = table
    return table


def _broadcast_shape(*shapes) -> torch.Size:
    """``torch.broadcast_shapes`` without its (slow, symbolic-shape aware) Python."""
    ndim = max(len(shape) for shape in shapes)
    out = [1] * ndim
    for shape in shapes:
        for dim, size in enumerate(shape, ndim - len(shape)):
            if size != 1:
                if out[dim] not in (1, size):
                    raise RuntimeError(f"shapes {shapes} cannot be broadcast together")
                out[dim] = size
    return torch.Size(out)


def _contiguous_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


class _Positions:
    """The positive entries of a count tensor, and gathers of operands there.

    Parameters
    ----------
    x
        Counts with the full output shape (expanded views are fine).
    """

    def __init__(self, x: torch.Tensor):
        self.shape = tuple(x.shape)
        #: flat row-major indices of the positive entries
        self.indices = _positive_indices(x)
        self._device = x.device
        self._offsets = {
            _contiguous_strides(self.shape): (self.indices, max(1, x.numel()))
        }

    def __len__(self) -> int:
        return self.indices.shape[0]

    def _storage_offsets(self, strides):
        """Offsets of the positive entries for a tensor with these strides; None
        when the tensor holds a single value along every axis of size > 1."""
        if all(size == 1 or stride == 0 for size, stride in zip(self.shape, strides)):
            return None
        table = _offset_table(self.shape, strides, self._device)
        return table.index_select(0, self.indices)

    def _entry(self, strides):
        """``(offsets, span)`` for a tensor with these strides (cached)."""
        entry = self._offsets.get(strides)
        if entry is None:
            span = 1 + sum((n - 1) * st for n, st in zip(self.shape, strides))
            entry = self._offsets[strides] = (self._storage_offsets(strides), span)
        return entry

    def offsets(self, t: torch.Tensor):
        """Offsets of the positive entries in the storage of ``t`` (broadcastable to
        the full shape), counted from its first element; None when ``t`` is
        constant along every axis of size > 1 (a single value)."""
        return self._entry(t.expand(self.shape).stride())[0]

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Values of ``t`` (broadcastable to the full shape) at the positive entries.

        Read with ``index_select`` from a flat view of the storage of ``t``, so an
        expanded view is never materialised. The result must not be modified in
        place (it may be a view).
        """
        if t.shape != self.shape:
            t = t.expand(self.shape)
        offsets, span = self._entry(t.stride())
        if offsets is None:
            return torch.as_strided(t, (1,), (1,)).expand(len(self))
        return torch.as_strided(t, (span,), (1,)).index_select(0, offsets)

    def overwrite(self, out: torch.Tensor, values) -> torch.Tensor:
        """Write ``values`` (1-d, or None) at the positive entries of ``out``.

        ``out`` is a fresh result of elementwise kernels; it is made contiguous
        first in case it inherited a permuted layout from its inputs.
        """
        if values is None:
            return out
        out = out.contiguous()
        # scatter_ with unique indices (faster than index_copy_ on CPU)
        out.view(-1).scatter_(0, self.indices, values)
        return out

    def per_entry(self, function, theta, theta_p):
        """``function(theta)`` at the positive entries, evaluated on the smaller of
        ``theta``'s own shape (then gathered) and the gathered ``theta_p``."""
        if theta.numel() < theta_p.numel():
            return self.gather(function(theta))
        return function(theta_p)


class _GeneTable:
    """Per-gene tabulation of functions of ``s = x + theta`` for integer ``x``.

    Used when ``theta`` is contiguous and has many fewer values than there are
    positive entries: the direct (``lgamma`` / shifted ``digamma``) branches of the
    remainders are evaluated on the grid ``min(theta + k, 15)``, ``k = 0..15``,
    and gathered at ``(gene, min(x, 15))``; callers blend them with a series that
    is exact beyond 15. Column ``k = 0`` also serves the terms of ``theta`` alone.
    """

    def __init__(self, theta, positions, x_p):
        offsets = positions.offsets(theta)
        index = x_p.clamp(max=_SERIES_THRESHOLD).long()
        if offsets is not None:
            index.add_(offsets, alpha=_N_TABULATED)
        self.index = index
        self.theta = theta
        counts = torch.arange(_N_TABULATED, dtype=theta.dtype, device=theta.device)
        self.grid = (theta.reshape(-1, 1) + counts).clamp_(max=_SERIES_THRESHOLD)
        self.theta_weight = less_equal_weight(theta, _SERIES_THRESHOLD)

    @staticmethod
    def usable(theta, positions) -> bool:
        # the grid costs about as much as that many positive entries
        size = theta.numel() * _N_TABULATED
        return theta.is_contiguous() and size < len(positions)

    def stirling(self, total: torch.Tensor):
        """``SE - 0.5 log`` at ``total`` (1-d, positive entries) and at ``theta``."""
        table = stirling_direct(self.grid, torch.log(self.grid), -1)
        at_total = stirling_series(total, torch.log(total), -1)
        at_theta = stirling_series(self.theta, torch.log(self.theta), -1)
        return self._blend(table, total, at_total, at_theta)

    def digamma(self, total: torch.Tensor):
        """``R = digamma - log`` at ``total`` (1-d) and at ``theta``."""
        table = digamma_direct(self.grid)
        at_total, at_theta = digamma_series(total), digamma_series(self.theta)
        return self._blend(table, total, at_total, at_theta)

    def _blend(self, table, total, at_total, at_theta):
        """Replace the series by the tabulated direct branch at or below 15."""
        direct = table.view(-1).index_select(0, self.index)
        at_total.lerp_(direct, less_equal_weight(total, _SERIES_THRESHOLD))
        direct = table[:, 0].reshape(self.theta.shape)
        return at_total, at_theta.lerp_(direct, self.theta_weight)


# SE(k) + 0.5 log(k) is tabulated for the integer counts k < _COUNT_TABLE_SIZE
_COUNT_TABLE_SIZE = 1 << 14
_COUNT_TABLES = {}


def _count_table(like: torch.Tensor) -> torch.Tensor:
    """``SE(k) + 0.5 log(k)`` for ``k = 0..16383`` (0 at ``k = 0``), from doubles."""
    key = (like.dtype, like.device)
    table = _COUNT_TABLES.get(key)
    if table is None:
        counts = torch.arange(1, _COUNT_TABLE_SIZE, dtype=torch.float64)
        values = torch.cat([counts.new_zeros(1), stirling_error_with_log(counts, 1)])
        table = values.to(dtype=like.dtype, device=like.device)
        _COUNT_TABLES[key] = table
    return table


def _count_terms(x: torch.Tensor, integer: bool) -> torch.Tensor:
    """``SE(x) + 0.5 log(x)`` for positive counts ``x`` (1-d).

    Integer counts are looked up in a table (computed once in double precision),
    those beyond it come from the asymptotic series; other counts go through
    :func:`stirling_error_with_log`.
    """
    if not integer:
        return stirling_error_with_log(x, 1)
    table = _count_table(x)
    last = _COUNT_TABLE_SIZE - 1
    if bool(x.max() <= last):
        return table.index_select(0, x.long())
    log_x = torch.log(x)
    series = stirling_series(x, log_x, 1)
    direct = table.index_select(0, x.clamp(max=last).long())
    return series.lerp_(direct, less_equal_weight(x, last, out=log_x))


def _theta_terms(theta: torch.Tensor, stirling=None) -> torch.Tensor:
    """``0.5 log(theta) - SE(theta) - 0.5 log(2 pi)``.

    ``stirling``, if given, is ``SE(theta) - 0.5 log(theta)`` (overwritten).
    """
    if stirling is None:
        stirling = stirling_error_with_log(theta, -1)
    return stirling.add_(HALF_LOG_2PI).neg_()


def _log_nb_positive(x, mu, theta, integer, table):
    """Log NB of positive counts without the terms of ``theta`` alone.

    All arguments are the gathered 1-d positive entries. Also returns ``x + theta``,
    ``h(r1)``, ``(x - mu) / mu`` (reused by the gradients) and, with a gene table,
    ``SE(theta) - 0.5 log(theta)`` per gene.
    """
    total = x + theta
    if table is None:
        total_terms, theta_terms = stirling_error_with_log(total, -1), None
    else:
        total_terms, theta_terms = table.stirling(total)
    excess = x - mu
    ratio_theta = (theta + mu).div_(total)
    h_theta = deviance_term(torch.div(excess, total).neg_(), ratio_theta)
    # products ordered so that no intermediate overflows for huge theta or x / mu
    ratio_x = ratio_theta.mul_(x).div_(mu)
    delta_x = (theta / total).mul_(excess.div_(mu))
    h_x = deviance_term(delta_x, ratio_x)
    log_prob = total_terms.sub_(_count_terms(x, integer))
    log_prob.addcmul_(theta, h_theta, value=-1.0).addcmul_(x, h_x, value=-1.0)
    return log_prob, total, h_theta, excess, theta_terms


class _Forward:
    """Forward pass of the negative binomial, split into zero and positive entries.

    Attributes
    ----------
    log_ratio
        ``log1p(mu / theta)`` on every entry (full shape).
    log_zero
        ``log NB(0) = -theta log_ratio`` on every entry (full shape).
    positions
        The positive entries (:class:`_Positions`).
    log_positive
        ``log NB(x)`` at the positive entries (1-d), or None if there are none.
    theta_p, mu_p, total_p, h_theta_p, relative_excess_p
        ``theta``, ``mu``, ``x + theta``, ``h(r1)`` and ``(x - mu) / mu`` at the
        positive entries (only when there are some).
    table
        The :class:`_GeneTable` in use, or None.
    """

    def __init__(self, x, mu, theta, eps, shape):
        self.mu_shape, self.theta_shape = mu.shape, theta.shape
        # floored in the forward values only: the gradients flow through unchanged
        if eps:
            mu, theta = mu.clamp(min=eps), theta.clamp(min=eps)
        self.mu = mu = mu.expand(shape)
        self.theta = theta
        self.log_ratio = torch.div(mu, theta).log1p_()
        self.log_zero = self.log_ratio * theta.neg()
        self.positions = positions = _Positions(x.expand(shape))
        self.log_positive = self.table = None
        if len(positions):
            x_p = positions.gather(x)
            integer = bool(torch.equal(x_p, torch.floor(x_p)))
            if integer and _GeneTable.usable(theta, positions):
                self.table = _GeneTable(theta, positions, x_p)
            self.theta_p, self.mu_p = positions.gather(theta), positions.gather(mu)
            log_p, self.total_p, self.h_theta_p, self.relative_excess_p, stirling = (
                _log_nb_positive(x_p, self.mu_p, self.theta_p, integer, self.table)
            )
            if stirling is None:
                per_gene = positions.per_entry(_theta_terms, theta, self.theta_p)
            else:
                per_gene = positions.gather(_theta_terms(theta, stirling))
            self.log_positive = log_p.add_(per_gene)

    def backward(self, needs_mu, needs_theta, grad_output, zero_factor=None):
        """Gradients of ``sum(grad_output * log NB)`` with respect to ``mu`` and
        ``theta``.

        ``zero_factor`` (full shape, or None for 1) multiplies the gradients at the
        zero entries only (its values at positive entries are ignored): the chain
        rule factor of the zero-inflated mixture. The positive-entry formulas are
        written over the zero-entry ones first, and ``grad_output`` is applied to
        the full arrays last, so that it is never gathered.
        """
        grad_mu = grad_theta = None
        if not (needs_mu or needs_theta):
            return grad_mu, grad_theta
        positions, mu, theta = self.positions, self.mu, self.theta
        both = theta + mu
        if needs_mu:
            # theta (x - mu) / (mu (theta + mu)), that is -theta / (theta + mu) at
            # zero counts
            grad_mu = theta.neg() / both
            if zero_factor is not None:
                grad_mu.mul_(zero_factor)
            positive = None
            if len(positions):
                positive = self.theta_p / (self.theta_p + self.mu_p)
                positive.mul_(self.relative_excess_p)
            grad_mu = positions.overwrite(grad_mu, positive).mul_(grad_output)
            grad_mu = grad_mu.sum_to_size(self.mu_shape)
        if needs_theta:
            # R(s) - h(r1) - R(theta), that is mu / (theta + mu) - log1p(mu / theta)
            # at zero counts
            grad_theta = torch.div(mu, both, out=both).sub_(self.log_ratio)
            if zero_factor is not None:
                grad_theta.mul_(zero_factor)
            positive = None
            if len(positions):
                if self.table is None:
                    positive = digamma_remainder(self.total_p)
                    r_theta = positions.per_entry(
                        digamma_remainder, theta, self.theta_p
                    )
                else:
                    positive, r_theta = self.table.digamma(self.total_p)
                    r_theta = positions.gather(r_theta)
                positive.sub_(self.h_theta_p).sub_(r_theta)
            grad_theta = positions.overwrite(grad_theta, positive).mul_(grad_output)
            grad_theta = grad_theta.sum_to_size(self.theta_shape)
        return grad_mu, grad_theta


class LogNegativeBinomial(torch.autograd.Function):
    """``log NB(x; mu, theta)``; gradients flow to ``mu`` and ``theta`` only.

    Call through ``LogNegativeBinomial.apply(x, mu, theta[, eps])`` with floating
    tensors of one dtype and broadcastable shapes (expanded views are fine), e.g.
    ``theta`` of shape ``(n_genes,)``: counts ``x``, positive means ``mu`` and
    inverse dispersions ``theta``. ``eps`` (default 0) floors the forward values of
    ``mu`` and ``theta`` while their gradients flow through unchanged, as
    :func:`scvi.models._count_math.floor_with_gradient` does.
    :func:`scvi.models.log_likelihood.log_nb_positive` prepares the arguments.
    """

    @staticmethod
    def forward(ctx, x, mu, theta, eps=0.0):
        """Elementwise log-probabilities, shape ``broadcast(x, mu, theta)``."""
        shape = _broadcast_shape(x.shape, mu.shape, theta.shape)
        parts = _Forward(x, mu, theta, eps, shape)
        out = parts.positions.overwrite(parts.log_zero, parts.log_positive)
        # the output must not stay referenced from ctx (reference cycle)
        parts.log_zero = parts.log_positive = None
        ctx.parts = parts
        return out

    @staticmethod
    def backward(ctx, grad_output):
        """Analytic gradients, summed back to the shapes of ``mu`` and ``theta``."""
        needs_mu, needs_theta = ctx.needs_input_grad[1:3]
        grad_mu, grad_theta = ctx.parts.backward(needs_mu, needs_theta, grad_output)
        return None, grad_mu, grad_theta, None


def _blend_near_one(log_probability, complement):
    """``log_probability`` with ``log1p(-complement)`` in place wherever
    ``complement <= 1/2`` (a probability close to one, where ``log`` would lose the
    digits of the small complement); modifies and returns ``log_probability``."""
    near_one = less_equal_weight(complement, 0.5)
    log_near = complement.mul(near_one).neg_().log1p_()
    return log_probability.lerp_(log_near, near_one)


class _DirectMixing:
    """Zero-count mixture ``P = w + (1 - w) NB(0)`` evaluated directly.

    With ``w = sigmoid(pi)``, ``c = (1 - w)(1 - NB(0))`` and ``P = w + (1 - w)
    NB(0)`` (a sum of positive terms, so ``P`` has full relative precision while
    it is a normal number), ``log P`` is ``log1p(-c)`` when ``c <= 1/2`` (``P``
    close to one) and ``log(P)`` otherwise, and the zero-count gradients are
    ``d/dpi = c w / P`` and ``d/dlog NB(0) = (1 - w) NB(0) / P``. Cheaper than the
    log-space form (:class:`_LogSpaceMixing`), which takes over when some ``P`` is
    too small (:meth:`usable`).
    """

    def __init__(self, pi, log_zero):
        self.w = torch.sigmoid(pi)
        keep = torch.sigmoid(pi.neg())  # 1 - w, to full relative precision
        self.keep_zero = torch.exp(log_zero).mul_(keep)  # (1 - w) NB(0)
        self.complement = torch.expm1(log_zero).neg_().mul_(keep)
        self.probability = self.keep_zero + self.w

    def usable(self) -> bool:
        dtype = self.probability.dtype
        smallest = torch.finfo(dtype).tiny / torch.finfo(dtype).eps
        return not self.probability.numel() or bool(self.probability.min() >= smallest)

    def log_probability(self):
        return _blend_near_one(torch.log(self.probability), self.complement)

    def gradients(self):
        """Derivatives of ``log P`` with respect to ``pi`` and ``log NB(0)``."""
        inverse = torch.reciprocal(self.probability)
        grad_pi = torch.mul(self.complement, self.w).mul_(inverse)
        return grad_pi, inverse.mul_(self.keep_zero)


class _LogSpaceMixing:
    """Zero-count mixture in log space, exact however small ``P`` is.

    ``log P`` is ``log1p(-c)`` when ``c <= 1/2`` and ``log(1 - w) + logaddexp(pi,
    log NB(0))`` otherwise; the gradients are exponentials of differences of
    logarithms (see :class:`_DirectMixing` for the notation).
    """

    def __init__(self, pi, log_zero):
        self.pi, self.log_zero = pi, log_zero
        self.log_keep = F.softplus(pi).neg_()  # log(1 - w), on pi's own shape
        keep = torch.exp(self.log_keep)
        self.complement = torch.expm1(log_zero).mul_(keep).neg_()
        self.out = None  # log P, set by log_probability (and again for backward)

    def log_probability(self):
        log_far = torch.logaddexp(self.pi, self.log_zero).add_(self.log_keep)
        self.out = _blend_near_one(log_far, self.complement)
        return self.out

    def gradients(self):
        # values at positive entries are meaningless (possibly infinite) and are
        # overwritten by the caller
        log_keep_ratio = self.log_keep - self.out  # log((1 - w) / P)
        grad_pi = torch.add(log_keep_ratio, self.pi).exp_().mul_(self.complement)
        return grad_pi, log_keep_ratio.add_(self.log_zero).exp_()


class LogZeroInflatedNegativeBinomial(torch.autograd.Function):
    """``log ZINB(x; mu, theta, pi)`` with dropout logits ``pi``; no gradient to ``x``.

    ``ZINB(x) = w 1[x = 0] + (1 - w) NB(x; mu, theta)`` with ``w = sigmoid(pi)``.
    Positive counts give ``log NB(x) + log(1 - w)``. Zero counts give ``log P``
    with ``P = w + (1 - w) NB(0)``, evaluated directly (:class:`_DirectMixing`)
    unless some ``P`` is below the normal range, in which case the whole batch goes
    through the log-space form (:class:`_LogSpaceMixing`); both avoid cancellation
    when ``P`` is close to one.

    Call through ``LogZeroInflatedNegativeBinomial.apply(x, mu, theta, pi[, eps])``
    with the arguments of :class:`LogNegativeBinomial` plus ``pi`` (broadcastable,
    same dtype).
    """

    @staticmethod
    def forward(ctx, x, mu, theta, pi, eps=0.0):
        """Elementwise log-probabilities, shape ``broadcast(x, mu, theta, pi)``."""
        shape = _broadcast_shape(x.shape, mu.shape, theta.shape, pi.shape)
        parts = _Forward(x, mu, theta, eps, shape)
        positions = parts.positions
        mixing = _DirectMixing(pi, parts.log_zero)
        if not mixing.usable():
            mixing = _LogSpaceMixing(pi, parts.log_zero)
        out = mixing.log_probability()
        positive = parts.log_positive
        w_p = None
        if positive is not None:  # log NB(x) + log(1 - w), and w for the gradient
            pi_p = positions.gather(pi)
            w_p = torch.sigmoid(pi_p)
            positive = positive.sub_(F.softplus(pi_p))
        out = positions.overwrite(out, positive)
        parts.log_positive = None
        if isinstance(mixing, _LogSpaceMixing):
            ctx.save_for_backward(out)  # its gradients need log P
        ctx.pi_shape = pi.shape
        ctx.parts, ctx.mixing, ctx.w_p = parts, mixing, w_p
        return out

    @staticmethod
    def backward(ctx, grad_output):
        """Analytic gradients, summed back to the shapes of the parameters."""
        parts, mixing = ctx.parts, ctx.mixing
        if isinstance(mixing, _LogSpaceMixing):
            (mixing.out,) = ctx.saved_tensors
        positions = parts.positions
        needs_mu, needs_theta, needs_pi = ctx.needs_input_grad[1:4]
        # zero-count gradients per unit of grad_output; grad_output comes last
        grad_pi, zero_factor = mixing.gradients()
        if needs_pi:
            positive = None if ctx.w_p is None else ctx.w_p.neg()
            grad_pi = positions.overwrite(grad_pi, positive).mul_(grad_output)
            grad_pi = grad_pi.sum_to_size(ctx.pi_shape)
        else:
            grad_pi = None
        grad_mu, grad_theta = parts.backward(
            needs_mu, needs_theta, grad_output, zero_factor
        )
        return None, grad_mu, grad_theta, grad_pi, None
