"""NegativeBinomial and ZeroInflatedNegativeBinomial distributions."""

import pytest
import torch
from torch.distributions import constraints

from scvi.models.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from scvi.models.log_likelihood import log_nb_positive, log_zinb_positive

N_DRAWS = 100_000
MU = torch.tensor([0.3, 5.0, 50.0, 400.0], dtype=torch.float64)
THETA = torch.tensor([0.5, 2.0, 20.0, 1.5], dtype=torch.float64)
LOGITS = torch.tensor([-2.0, 0.0, 1.0, -0.5], dtype=torch.float64)


def assert_moments(draws, mean, variance, n_se=5.0):
    """Sample mean and variance within ``n_se`` standard errors of the formulas.

    The standard errors are estimated from the draws (the one of the variance from
    the fourth central moment), so heavy tails get wider bounds.
    """
    n = draws.shape[0]
    sample_mean = draws.mean(0)
    centred = draws - sample_mean
    sample_var = (centred**2).mean(0)
    se_mean = (variance / n).sqrt()
    se_var = (((centred**4).mean(0) - sample_var**2) / n).sqrt()
    assert ((sample_mean - mean).abs() < n_se * se_mean).all(), (sample_mean, mean)
    assert ((sample_var - variance).abs() < n_se * se_var).all(), (sample_var, variance)


def test_nb_moments_formulas_and_samples():
    torch.manual_seed(0)
    dist = NegativeBinomial(mu=MU, theta=THETA)
    torch.testing.assert_close(dist.mean, MU)
    torch.testing.assert_close(dist.variance, MU + MU**2 / THETA)
    draws = dist.sample((N_DRAWS,))
    assert draws.shape == (N_DRAWS, 4)
    assert (draws >= 0).all() and (draws == draws.round()).all()
    assert_moments(draws, dist.mean, dist.variance)


def test_zinb_moments_formulas_and_samples():
    torch.manual_seed(1)
    dist = ZeroInflatedNegativeBinomial(mu=MU, theta=THETA, zi_logits=LOGITS)
    p = torch.sigmoid(LOGITS)
    torch.testing.assert_close(dist.zi_probs, p)
    torch.testing.assert_close(dist.mean, (1 - p) * MU)
    expected_var = (1 - p) * (MU + MU**2 / THETA) + p * (1 - p) * MU**2
    torch.testing.assert_close(dist.variance, expected_var)
    draws = dist.sample((N_DRAWS,))
    assert_moments(draws, dist.mean, dist.variance)
    # zeros come from the inflation and from the negative binomial
    p_zero = p + (1 - p) * log_nb_positive(torch.zeros(4), MU, THETA).exp()
    se = (p_zero * (1 - p_zero) / N_DRAWS).sqrt()
    assert (((draws == 0).double().mean(0) - p_zero).abs() < 5 * se).all()


def test_log_prob_uses_the_log_likelihoods():
    x = torch.tensor([[0.0, 3.0, 41.0, 380.0]], dtype=torch.float64)
    nb = NegativeBinomial(mu=MU, theta=THETA)
    zinb = ZeroInflatedNegativeBinomial(mu=MU, theta=THETA, zi_logits=LOGITS)
    torch.testing.assert_close(nb.log_prob(x), log_nb_positive(x, MU, THETA))
    torch.testing.assert_close(
        zinb.log_prob(x), log_zinb_positive(x, MU, THETA, LOGITS)
    )
    assert nb.support is constraints.nonnegative_integer
    assert zinb.support is constraints.nonnegative_integer


def test_broadcasting_and_expand():
    dist = ZeroInflatedNegativeBinomial(
        mu=torch.rand(3, 4) + 0.1, theta=torch.ones(4), zi_logits=torch.zeros(1)
    )
    assert dist.batch_shape == (3, 4)
    assert dist.sample().shape == (3, 4)
    expanded = dist.expand((2, 3, 4))
    assert isinstance(expanded, ZeroInflatedNegativeBinomial)
    assert expanded.sample().shape == (2, 3, 4)
    assert expanded.zi_probs.shape == (2, 3, 4)
    nb = NegativeBinomial(mu=torch.ones(4), theta=2.0)
    assert nb.expand((5, 4)).mean.shape == (5, 4)


def test_argument_validation():
    # scVI 0.6.8's constraints: mu and theta non-negative (zero allowed); values
    # outside the support only warn (the positional order is total_count, probs,
    # logits, mu, theta: see tests/models/test_distributions_068.py)
    with pytest.raises(ValueError, match="mu"):
        NegativeBinomial(
            mu=torch.tensor([-1.0]), theta=torch.tensor([1.0]), validate_args=True
        )
    with pytest.raises(ValueError, match="theta"):
        ZeroInflatedNegativeBinomial(
            mu=torch.tensor([1.0]),
            theta=torch.tensor([-0.5]),
            zi_logits=torch.tensor([0.0]),
            validate_args=True,
        )
    dist = NegativeBinomial(
        mu=torch.tensor([1.0]), theta=torch.tensor([1.0]), validate_args=True
    )
    with pytest.warns(UserWarning, match="within the support"):
        dist.log_prob(torch.tensor([0.5]))
    with pytest.warns(UserWarning, match="within the support"):
        dist.log_prob(torch.tensor([-1.0]))
    lenient = NegativeBinomial(
        mu=torch.tensor([-1.0]), theta=torch.tensor([1.0]), validate_args=False
    )
    assert lenient.batch_shape == (1,)


def test_gradients_flow_through_log_prob():
    mu = torch.tensor([0.5, 3.0], requires_grad=True)
    theta = torch.tensor([2.0, 0.1], requires_grad=True)
    logits = torch.tensor([0.3, -1.0], requires_grad=True)
    dist = ZeroInflatedNegativeBinomial(mu=mu, theta=theta, zi_logits=logits)
    dist.log_prob(torch.tensor([0.0, 4.0])).sum().backward()
    for param in (mu, theta, logits):
        assert torch.isfinite(param.grad).all() and (param.grad != 0).all()
