"""NegativeBinomial and ZeroInflatedNegativeBinomial take scVI 0.6.8's arguments.

Expected values, errors and shapes were observed in scVI 0.6.8 for the same inputs,
except where a comment says how and why ours differs.
"""

import inspect
import warnings

import pytest
import torch
from torch.distributions import constraints

from scvi.models.distributions import (
    NegativeBinomial,
    ZeroInflatedNegativeBinomial,
    _convert_counts_logits_to_mean_disp,
    _convert_mean_disp_to_counts_logits,
)

MU = torch.tensor([0.5, 3.0])
THETA = torch.tensor([2.0, 0.1])
ZI = torch.tensor([0.3, -1.0])
TOTAL = torch.tensor([2.0, 5.0])
LOGITS = torch.tensor([-0.5, 1.0])
# mu of (TOTAL, LOGITS): total_count * exp(logits)
MU_OF_LOGITS = [1.2130613327026367, 13.591408729553223]


def parameters(cls):
    return [(p.name, p.default) for p in inspect.signature(cls).parameters.values()]


def test_signatures_and_constraints():
    nb = [
        ("total_count", None),
        ("probs", None),
        ("logits", None),
        ("mu", None),
        ("theta", None),
    ]
    assert parameters(NegativeBinomial) == nb + [("validate_args", True)]
    assert parameters(ZeroInflatedNegativeBinomial) == nb + [
        ("zi_logits", None),
        ("validate_args", True),
    ]
    assert list(NegativeBinomial.arg_constraints) == ["mu", "theta"]
    assert list(ZeroInflatedNegativeBinomial.arg_constraints) == [
        "mu",
        "theta",
        "zi_probs",
        "zi_logits",
    ]
    for cls in (NegativeBinomial, ZeroInflatedNegativeBinomial):
        assert repr(cls.arg_constraints["mu"]) == "GreaterThanEq(lower_bound=0)"
        assert repr(cls.arg_constraints["theta"]) == "GreaterThanEq(lower_bound=0)"
        assert cls.support is constraints.nonnegative_integer
        assert not cls.has_rsample
    assert repr(ZeroInflatedNegativeBinomial.arg_constraints["zi_probs"]) == (
        "HalfOpenInterval(lower_bound=0.0, upper_bound=1.0)"
    )


def test_conversions():
    total_count, logits = _convert_mean_disp_to_counts_logits(MU, THETA)
    torch.testing.assert_close(total_count, THETA)
    torch.testing.assert_close(logits, torch.tensor([-1.3862940, 3.4011974]))
    mu, theta = _convert_counts_logits_to_mean_disp(TOTAL, LOGITS)
    torch.testing.assert_close(mu, torch.tensor(MU_OF_LOGITS))
    torch.testing.assert_close(theta, TOTAL)
    # an integer total_count gives floating parameters
    mu, theta = _convert_counts_logits_to_mean_disp(torch.tensor([2, 3]), LOGITS)
    assert mu.dtype == theta.dtype == torch.float32


def test_positional_order_is_total_count_probs_logits_mu_theta():
    dist = NegativeBinomial(TOTAL, None, LOGITS)
    torch.testing.assert_close(dist.mu, torch.tensor(MU_OF_LOGITS))
    torch.testing.assert_close(dist.theta, TOTAL)
    assert NegativeBinomial(None, None, None, MU, THETA, False)._validate_args is False
    zinb = ZeroInflatedNegativeBinomial(None, None, None, MU, THETA, ZI)
    torch.testing.assert_close(zinb.zi_logits, ZI)
    assert zinb._validate_args is True
    zinb = ZeroInflatedNegativeBinomial(TOTAL, logits=LOGITS, zi_logits=ZI)
    torch.testing.assert_close(zinb.mu, torch.tensor(MU_OF_LOGITS))


def test_logits_win_over_probs():
    with pytest.warns(UserWarning, match="probs ignored"):
        dist = NegativeBinomial(TOTAL, torch.tensor([0.3, 0.7]), LOGITS)
    torch.testing.assert_close(dist.mu, torch.tensor(MU_OF_LOGITS))


def test_probs_are_success_probabilities():
    # Ours differs from scVI 0.6.8 here: it took probs as exp(logits) (mu =
    # total_count * probs), against its own docstring and its logits argument. We
    # follow the documented meaning, that of torch.distributions.NegativeBinomial:
    # probs = sigmoid(logits), so both arguments give the same distribution.
    dist = NegativeBinomial(TOTAL, probs=torch.sigmoid(LOGITS))
    torch.testing.assert_close(dist.mu, torch.tensor(MU_OF_LOGITS))
    reference = torch.distributions.NegativeBinomial(TOTAL, probs=torch.sigmoid(LOGITS))
    torch.testing.assert_close(dist.mean, reference.mean)
    torch.testing.assert_close(dist.variance, reference.variance)
    counts = torch.tensor([0.0, 4.0])
    torch.testing.assert_close(dist.log_prob(counts), reference.log_prob(counts))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "one of the two possible parameterizations"),
        ({"theta": THETA}, "one of the two possible parameterizations"),
        ({"probs": ZI.sigmoid()}, "one of the two possible parameterizations"),
        ({"logits": LOGITS, "theta": THETA}, "one of the two"),
        ({"total_count": TOTAL, "mu": MU, "theta": THETA}, "both total_count and mu"),
        ({"total_count": TOTAL, "logits": LOGITS, "mu": MU}, "both total_count"),
        ({"mu": MU}, "theta is required"),
        ({"mu": MU, "probs": ZI.sigmoid()}, "theta is required"),
        ({"total_count": TOTAL}, "probs or logits is required"),
    ],
)
def test_missing_or_conflicting_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NegativeBinomial(**kwargs)
    with pytest.raises(ValueError, match=match):
        ZeroInflatedNegativeBinomial(**kwargs, zi_logits=ZI)


def test_zero_inflation_logits_are_required():
    with pytest.raises(ValueError, match="zi_logits"):
        ZeroInflatedNegativeBinomial(mu=MU, theta=THETA)


def test_arguments_of_the_other_parameterization_are_ignored():
    with pytest.warns(UserWarning, match="probs ignored"):
        dist = NegativeBinomial(probs=torch.tensor([0.3, 0.7]), mu=MU, theta=THETA)
    torch.testing.assert_close(dist.mu, MU)
    with pytest.warns(UserWarning, match="theta ignored"):
        dist = NegativeBinomial(TOTAL, logits=LOGITS, theta=THETA)
    torch.testing.assert_close(dist.theta, TOTAL)


def test_validation_of_parameters():
    # zero is allowed (non-negative), a negative value is not, unless not validated
    NegativeBinomial(mu=torch.zeros(1), theta=torch.zeros(1))
    for kwargs, name in [
        ({"mu": -MU, "theta": THETA}, "mu"),
        ({"mu": MU, "theta": -THETA}, "theta"),
        ({"total_count": torch.tensor([-1.0]), "logits": torch.zeros(1)}, "mu"),
    ]:
        with pytest.raises(ValueError, match=f"parameter {name}"):
            NegativeBinomial(**kwargs)
        with pytest.raises(ValueError, match=f"parameter {name}"):
            ZeroInflatedNegativeBinomial(**kwargs, zi_logits=torch.zeros(1))
        assert NegativeBinomial(**kwargs, validate_args=False)._validate_args is False
    # validated by default (True, not torch's global default, which torch.compile
    # turns off for the rest of the process)
    assert NegativeBinomial(mu=MU, theta=THETA)._validate_args is True


def test_log_prob_values_and_support_warning():
    nb = NegativeBinomial(mu=MU, theta=THETA)
    zinb = ZeroInflatedNegativeBinomial(mu=MU, theta=THETA, zi_logits=ZI)
    counts = torch.tensor([0.0, 3.0])
    torch.testing.assert_close(
        nb.log_prob(counts), torch.tensor([-0.44628716, -3.6988654])
    )
    torch.testing.assert_close(
        zinb.log_prob(counts), torch.tensor([-0.16629159, -4.0121269])
    )
    torch.testing.assert_close(
        nb.log_prob(torch.tensor([[0.0, 3.0], [1.0, 2.0], [4.0, 5.0]])),
        torch.tensor(
            [[-0.44628716, -3.6988654], [-1.3625779, -3.3094006]]
            + [[-5.2746010, -4.2177882]]
        ),
    )
    # outside the support: a warning (not an error), and the value is computed
    with pytest.warns(UserWarning, match="within the support of the distribution"):
        value = nb.log_prob(torch.tensor([0.5, 3.0]))
    torch.testing.assert_close(value[0], torch.tensor(-0.8455410))
    with pytest.warns(UserWarning, match="within the support of the distribution"):
        zinb.log_prob(torch.tensor([0.5, 3.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NegativeBinomial(mu=MU, theta=THETA, validate_args=False).log_prob(
            torch.tensor([0.5, 3.0])
        )


def test_sample_shapes():
    torch.manual_seed(0)
    for dist in (
        NegativeBinomial(mu=MU, theta=THETA),
        NegativeBinomial(TOTAL, logits=LOGITS),
        ZeroInflatedNegativeBinomial(mu=MU, theta=THETA, zi_logits=ZI),
    ):
        assert dist.sample().shape == (2,)
        assert dist.sample((3,)).shape == (3, 2)
        assert dist.sample((3, 2)).shape == (3, 2, 2)
        assert dist.sample([4]).shape == (4, 2)
        assert dist.sample().dtype == torch.float32
        with pytest.raises(TypeError):
            dist.sample(4)
    assert (NegativeBinomial(mu=torch.zeros(3), theta=THETA[:1]).sample() == 0).all()


def test_zero_inflation_and_broadcasting():
    zinb = ZeroInflatedNegativeBinomial(mu=MU, theta=THETA, zi_logits=ZI)
    torch.testing.assert_close(zinb.zi_probs, torch.tensor([0.5744425, 0.2689414]))
    infinite = ZeroInflatedNegativeBinomial(
        mu=MU, theta=THETA, zi_logits=torch.tensor([float("inf"), 0.0])
    )
    torch.testing.assert_close(infinite.zi_probs, torch.tensor([1.0, 0.5]))
    wide = ZeroInflatedNegativeBinomial(
        mu=torch.ones(3, 2), theta=torch.ones(2), zi_logits=torch.zeros(2)
    )
    assert wide.mu.shape == wide.theta.shape == wide.zi_logits.shape == (3, 2)
    assert wide.log_prob(torch.ones(3, 2)).shape == (3, 2)
    assert ZeroInflatedNegativeBinomial(
        mu=MU, theta=THETA, zi_logits=0.0
    ).zi_logits.shape == (2,)


def test_mean_and_variance():
    # scVI 0.6.8 raised NotImplementedError for both; ours gives the moments
    nb = NegativeBinomial(mu=MU, theta=THETA)
    torch.testing.assert_close(nb.mean, MU)
    torch.testing.assert_close(nb.variance, MU + MU**2 / THETA)
    zinb = ZeroInflatedNegativeBinomial(mu=MU, theta=THETA, zi_logits=ZI)
    p = torch.sigmoid(ZI)
    torch.testing.assert_close(zinb.mean, (1 - p) * MU)
    assert nb.batch_shape == zinb.batch_shape == (2,)
