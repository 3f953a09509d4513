"""Accuracy, shapes and gradients of the count log-likelihoods."""

import functools
import gc
import weakref

import mpmath
import numpy as np
import pytest
import torch
from scipy.stats import nbinom

from scvi.models.log_likelihood import (
    log_mixture_nb,
    log_nb_positive,
    log_zinb_positive,
)

TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-6}
DTYPES = list(TOLERANCE)


@functools.lru_cache(maxsize=None)
def grid():
    """Counts (zeros, > 10,000), means 1e-3..5e4, inverse dispersions 1e-3..1e4.

    The Cartesian product is completed with counts around each mode (mean +- one
    standard deviation), where the log-probability is smallest in magnitude and
    cancellation hurts most.
    """
    counts = [0, 1, 2, 3, 7, 10, 50, 100, 999, 10001, 25000, 50000, 100000]
    means = np.geomspace(1e-3, 5e4, 12)
    thetas = np.geomspace(1e-3, 1e4, 10)
    x, mu, theta = (a.ravel() for a in np.meshgrid(counts, means, thetas))
    m, t = (a.ravel() for a in np.meshgrid(means, thetas))
    sd = np.sqrt(m + m**2 / t)
    near_mode = [np.floor(m), np.floor(m + sd), np.ceil(m + 0.3 * sd)]
    near_mode.append(np.floor(np.maximum(m - sd, 0)))
    x = np.concatenate([x] + near_mode).astype(float)
    mu = np.concatenate([mu] + [m] * 4)
    theta = np.concatenate([theta] + [t] * 4)
    rng = np.random.default_rng(0)
    pi = rng.choice([-20.0, -5.0, -1.0, 0.0, 0.5, 3.0, 15.0], size=x.size)
    mu_2 = mu * rng.choice([0.1, 1.0, 3.0, 30.0], size=x.size)
    theta_2 = theta * rng.choice([0.5, 1.0, 4.0], size=x.size)
    return x, mu, theta, pi, mu_2, theta_2


def as_tensors(dtype):
    """The grid rounded to ``dtype``; references are computed on these values."""
    return [torch.tensor(a, dtype=dtype) for a in grid()]


def mp_log_nb(x, mu, theta):
    x, mu, theta = (mpmath.mpf(float(v)) for v in (x, mu, theta))
    return (
        mpmath.loggamma(x + theta)
        - mpmath.loggamma(theta)
        - mpmath.loggamma(x + 1)
        + theta * mpmath.log(theta / (theta + mu))
        + x * mpmath.log(mu / (theta + mu))
    )


def mp_weight(logit):
    return 1 / (1 + mpmath.exp(-mpmath.mpf(float(logit))))


@functools.lru_cache(maxsize=None)
def references(dtype):
    """40-digit references of the three log-likelihoods on the rounded grid."""
    x, mu, theta, pi, mu_2, theta_2 = (t.double().numpy() for t in as_tensors(dtype))
    nb, zinb, mixture, shared = [], [], [], []
    with mpmath.workdps(40):
        for i in range(x.size):
            log_1 = mp_log_nb(x[i], mu[i], theta[i])
            w = mp_weight(pi[i])
            zero = w if x[i] == 0 else 0
            nb.append(float(log_1))
            zinb.append(float(mpmath.log(zero + (1 - w) * mpmath.exp(log_1))))
            for theta_b, out in ((theta_2[i], mixture), (theta[i], shared)):
                p_2 = mpmath.exp(mp_log_nb(x[i], mu_2[i], theta_b))
                out.append(float(mpmath.log(w * mpmath.exp(log_1) + (1 - w) * p_2)))
    return tuple(np.array(r) for r in (nb, zinb, mixture, shared))


def max_relative_error(result, reference):
    assert torch.isfinite(result).all()
    result = result.double().numpy()
    return float(np.max(np.abs(result - reference) / np.abs(reference)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nb_matches_scipy_on_extreme_grid(dtype):
    x, mu, theta = as_tensors(dtype)[:3]
    xd, mud, thetad = (t.double().numpy() for t in (x, mu, theta))
    scipy_reference = nbinom.logpmf(xd, thetad, thetad / (thetad + mud))
    exact = references(dtype)[0]
    # the float64 scipy reference itself is good to ~1e-9 on this grid
    assert np.max(np.abs(scipy_reference - exact) / np.abs(exact)) < 1e-8
    result = log_nb_positive(x, mu, theta)
    assert result.dtype == dtype
    assert max_relative_error(result, scipy_reference) <= TOLERANCE[dtype]
    # regression guard: the implementation is far better than required
    assert max_relative_error(result, exact) <= TOLERANCE[dtype] * 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_nb_without_huge_counts(dtype):
    # counts all below the size of the table of count terms (no series blend)
    x, mu, theta = as_tensors(dtype)[:3]
    keep = x < 16384
    result = log_nb_positive(x[keep], mu[keep], theta[keep])
    reference = references(dtype)[0][keep.numpy()]
    assert max_relative_error(result, reference) <= TOLERANCE[dtype] * 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_zinb_matches_reference(dtype):
    x, mu, theta, pi = as_tensors(dtype)[:4]
    result = log_zinb_positive(x, mu, theta, pi)
    assert result.dtype == dtype
    assert max_relative_error(result, references(dtype)[1]) <= TOLERANCE[dtype] * 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixture_matches_reference(dtype):
    x, mu, theta, pi, mu_2, theta_2 = as_tensors(dtype)
    _, _, mixture, shared = references(dtype)
    result = log_mixture_nb(x, mu, mu_2, theta, theta_2, pi)
    assert result.dtype == dtype
    assert max_relative_error(result, mixture) <= TOLERANCE[dtype] * 1e-2
    result = log_mixture_nb(x, mu, mu_2, theta, None, pi)
    assert max_relative_error(result, shared) <= TOLERANCE[dtype] * 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_probabilities_sum_to_one(dtype):
    k = torch.arange(20000, dtype=dtype)[:, None]
    mu = torch.tensor([1e-3, 0.3, 4.0, 60.0, 150.0], dtype=dtype)
    theta = torch.tensor([0.5, 1e-2, 3.0, 1e4, 2.0], dtype=dtype)
    pi = torch.tensor([-3.0, 0.0, 2.0, -30.0, 1.0], dtype=dtype)
    for log_p in (
        log_nb_positive(k, mu, theta),
        log_zinb_positive(k, mu, theta, pi),
        log_mixture_nb(k, mu, mu * 3, theta, theta * 2, pi),
    ):
        total = torch.logsumexp(log_p.double(), dim=0).exp()
        torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-5)


def test_zinb_zero_counts_and_limits():
    x = torch.zeros(3, dtype=torch.float64)
    mu = torch.tensor([2.0, 2.0, 2.0], dtype=torch.float64)
    theta = torch.tensor([5.0, 5.0, 5.0], dtype=torch.float64)
    pi = torch.tensor([-50.0, 0.0, 50.0], dtype=torch.float64)
    log_nb0 = log_nb_positive(x, mu, theta)
    result = log_zinb_positive(x, mu, theta, pi)
    torch.testing.assert_close(result[0], log_nb0[0])
    torch.testing.assert_close(result[1], torch.log(0.5 + 0.5 * log_nb0[1].exp()))
    torch.testing.assert_close(result[2], torch.zeros((), dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_zinb_gradients_match_autograd_of_a_plain_formula(dtype):
    # the analytic gradients against autograd through the textbook float64 formula
    torch.manual_seed(2)
    x = torch.poisson(torch.rand(30, 6, dtype=torch.float64) * 3)
    mu = torch.rand(30, 6, dtype=torch.float64) * 20 + 1e-3
    theta = torch.tensor([1e-2, 0.3, 1.0, 5.0, 50.0, 1e3], dtype=torch.float64)
    pi = torch.randn(30, 6, dtype=torch.float64) * 6

    def plain(m, t, p):
        log_nb = (
            torch.lgamma(x + t)
            - torch.lgamma(t)
            - torch.lgamma(x + 1)
            + t * torch.log(t / (t + m))
            + x * torch.log(m / (t + m))
        )
        softplus = torch.nn.functional.softplus
        zero = torch.logaddexp(-softplus(-p), log_nb - softplus(p))
        return torch.where(x > 0, log_nb - softplus(p), zero)

    results = []
    for function, cast in ((plain, torch.float64), (log_zinb_positive, dtype)):
        params = [a.to(cast).detach().requires_grad_() for a in (mu, theta, pi)]
        arguments = (x.to(cast), *params) if function is log_zinb_positive else params
        value = function(*arguments)
        value.sum().backward()
        results.append([value.detach().double()] + [a.grad.double() for a in params])
    tolerance = 1e-4 if dtype == torch.float32 else 1e-9
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=tolerance, atol=tolerance)


def test_zinb_subnormal_zero_probability_is_exact():
    # P = w + (1 - w) NB(0) ~ exp(-150) underflows float32: still exact
    x = torch.zeros(2)
    mu, theta = torch.tensor([1e4, 1.0]), torch.tensor([50.0, 1.0])
    pi = torch.tensor([-150.0, 0.0])
    params = [a.clone().requires_grad_() for a in (mu, theta, pi)]
    result = log_zinb_positive(x, *params)
    with mpmath.workdps(40):
        w = mp_weight(-150.0)
        expected = mpmath.log(w + (1 - w) * mpmath.exp(mp_log_nb(0, 1e4, 50.0)))
    assert abs(result[0].item() - float(expected)) <= 1e-5 * abs(float(expected))
    result.sum().backward()
    assert all(torch.isfinite(a.grad).all() for a in params)


def test_broadcasting_shapes_and_integer_counts():
    torch.manual_seed(0)
    x = torch.poisson(torch.full((6, 4), 3.0)).long()
    mu = torch.rand(6, 4) * 5 + 0.1
    theta = torch.rand(4) + 0.5
    pi = torch.randn(4)
    for result in (
        log_nb_positive(x, mu, theta),
        log_zinb_positive(x, mu, theta, pi),
        log_mixture_nb(x, mu, mu * 2, theta, None, pi),
    ):
        assert result.shape == (6, 4) and result.dtype == torch.float32
    torch.testing.assert_close(
        log_nb_positive(x, mu, theta),
        log_nb_positive(x.float(), mu, theta.expand(6, 4)),
    )


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_per_gene_theta_matches_expanded_theta(offset):
    # terms of theta alone are evaluated on theta's own shape and broadcast: the
    # same values and gradients as a theta given for every entry
    torch.manual_seed(3)
    x = torch.poisson(torch.rand(64, 5) * 30)
    x = torch.where(x > 0, x + offset, x)
    mu = (torch.rand(64, 5) * 40 + 0.01).requires_grad_()
    theta = torch.tensor([1e-3, 0.4, 3.0, 14.2, 900.0])
    thetas = [theta.clone().requires_grad_() for _ in range(2)]
    per_gene = log_zinb_positive(x, mu, thetas[0], mu.detach() - 5)
    full = log_zinb_positive(x, mu, thetas[1].expand(64, 5), mu.detach() - 5)
    torch.testing.assert_close(per_gene, full, rtol=0, atol=0)
    per_gene.sum().backward()
    grad_mu = mu.grad.clone()
    mu.grad = None
    full.sum().backward()
    torch.testing.assert_close(mu.grad, grad_mu, rtol=0, atol=0)
    torch.testing.assert_close(thetas[0].grad, thetas[1].grad)
    assert thetas[0].grad.shape == (5,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_finite_at_zero_counts_and_extremes(dtype):
    x = torch.tensor([0.0, 0, 0, 1, 5, 1e4, 5e4, 0, 3], dtype=dtype)
    mu = torch.tensor([1e-3, 5e4, 1.0, 0.0, 1e-3, 5e4, 1e-3, 0.0, 2.0], dtype=dtype)
    theta = torch.tensor([1e4, 1e-3, 1.0, 1.0, 0.0, 1e-3, 1e4, 0.0, 1e30], dtype=dtype)
    pi = torch.tensor([-30.0, 30, 0, 0, 1, -1, 2, 50, -50], dtype=dtype)
    for function in (
        lambda m, t, p: log_nb_positive(x, m, t),
        lambda m, t, p: log_zinb_positive(x, m, t, p),
        lambda m, t, p: log_mixture_nb(x, m, 2 * m + 1, t, None, p),
    ):
        params = [a.clone().requires_grad_() for a in (mu, theta, pi)]
        result = function(*params)
        assert torch.isfinite(result).all()
        result.sum().backward()
        for param in params[:2]:
            assert torch.isfinite(param.grad).all()
    # a zero mean under a positive count still receives a (large) gradient
    mu = torch.zeros(1, dtype=dtype, requires_grad=True)
    one = torch.ones(1, dtype=dtype)
    log_nb_positive(one, mu, one).sum().backward()
    assert mu.grad.item() > 1e6


def test_analytic_gradients_match_finite_differences():
    torch.manual_seed(1)
    x = torch.tensor([[0.0, 1, 4, 30], [2, 0, 120, 7]], dtype=torch.float64)
    mu = (torch.rand(2, 4, dtype=torch.float64) * 20 + 0.05).requires_grad_()
    theta = (
        torch.tensor([0.02, 0.7, 16.0, 900.0], dtype=torch.float64)
    ).requires_grad_()
    pi = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m, t: log_nb_positive(x, m, t), (mu, theta))
    assert torch.autograd.gradcheck(
        lambda m, t, p: log_zinb_positive(x, m, t, p), (mu, theta, pi)
    )
    assert torch.autograd.gradcheck(
        lambda m, t, p: log_mixture_nb(x, m, m * 3, t, t * 2, p), (mu, theta, pi)
    )


def test_gradients_with_broadcasting_and_gene_table():
    torch.manual_seed(4)
    dtype = torch.float64
    # many positive counts per gene: per-gene tables; a leading sample axis on the
    # means (counts expanded over it); logits per gene
    x = torch.poisson(torch.rand(40, 3, dtype=dtype) * 12)
    x[0] = 0.0
    mu = (torch.rand(2, 40, 3, dtype=dtype) * 10 + 0.05).requires_grad_()
    theta = torch.tensor([0.3, 2.0, 11.0], dtype=dtype, requires_grad=True)
    pi = torch.randn(3, dtype=dtype, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m, t: log_nb_positive(x, m, t), (mu, theta))
    assert torch.autograd.gradcheck(
        lambda m, t, p: log_zinb_positive(x, m, t, p), (mu, theta, pi)
    )
    # all-zero and empty inputs
    for counts in (torch.zeros(4, 3, dtype=dtype), torch.zeros(0, 3, dtype=dtype)):
        m = (torch.rand(counts.shape[0], 3, dtype=dtype) + 0.5).requires_grad_()
        assert torch.autograd.gradcheck(
            lambda m, t, p: log_zinb_positive(counts, m, t, p), (m, theta, pi)
        )
    # the graph can be differentiated twice with retain_graph
    result = log_zinb_positive(x, mu, theta, pi).sum()
    first = torch.autograd.grad(result, (mu, theta, pi), retain_graph=True)
    second = torch.autograd.grad(result, (mu, theta, pi))
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_outputs_are_not_kept_alive_by_the_graph():
    # intermediates live on the autograd context: they must not hold the output
    x = torch.poisson(torch.full((8, 5), 1.0))
    gc.disable()
    try:
        for counts in (x, torch.zeros_like(x)):
            mu = (torch.rand(8, 5) + 0.1).requires_grad_()
            for function in (
                lambda: log_nb_positive(counts, mu, torch.rand(5) + 0.5),
                lambda: log_zinb_positive(counts, mu, torch.rand(5) + 0.5, mu - 1),
            ):
                reference = weakref.ref(function())
                assert reference() is None
    finally:
        gc.enable()


def test_float32_gradients_match_float64():
    torch.manual_seed(2)
    x = torch.poisson(torch.rand(64, 50) * 30)
    x[0, :5] = torch.tensor([1e4, 2e4, 0, 5e4, 3.0])
    mu = torch.rand(64, 50, dtype=torch.float64) * 40 + 1e-2
    theta = torch.logspace(-3, 4, 50, dtype=torch.float64)
    grads = {}
    for dtype in DTYPES:
        m = mu.to(dtype).requires_grad_()
        t = theta.to(dtype).requires_grad_()
        log_nb_positive(x.to(dtype), m, t).sum().backward()
        grads[dtype] = (m.grad.double(), t.grad.double())
    for g32, g64 in zip(grads[torch.float32], grads[torch.float64]):
        torch.testing.assert_close(g32, g64, rtol=1e-4, atol=1e-5)


def test_eps_only_floors_parameters():
    x = torch.tensor([0.0, 3.0], dtype=torch.float64)
    mu = torch.tensor([2e-8, 2e-8], dtype=torch.float64)
    theta = torch.tensor([3e-8, 3e-8], dtype=torch.float64)
    exact = [float(mp_log_nb(k, 2e-8, 3e-8)) for k in (0, 3)]
    exact = torch.tensor(exact, dtype=torch.float64)
    torch.testing.assert_close(log_nb_positive(x, mu, theta), exact, rtol=1e-12, atol=0)
    theta = torch.full((2,), 0.5, dtype=torch.float64)
    floored = log_nb_positive(x, torch.zeros(2, dtype=torch.float64), theta, eps=1e-6)
    torch.testing.assert_close(floored, log_nb_positive(x, mu * 50, theta))


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_matches_scipy_for_large_counts(dtype):
    from scipy.stats import poisson

    from scvi.models._likelihoods import log_poisson

    x = torch.tensor([0, 1, 3, 20, 999, 10001, 100000, 0, 7], dtype=dtype)
    rate = torch.tensor([0.5, 2.0, 3.0, 25.0, 1000.0, 1e4, 99500.0, 1e-3, 1e4])
    rate = rate.to(dtype).requires_grad_()
    result = log_poisson(x, rate)
    reference = poisson.logpmf(x.double().numpy(), rate.detach().double().numpy())
    assert max_relative_error(result.detach(), reference) <= TOLERANCE[dtype] * 1e-2
    result.sum().backward()
    expected = (x / rate - 1).detach()
    torch.testing.assert_close(rate.grad, expected, rtol=1e-5, atol=1e-6)
