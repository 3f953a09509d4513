"""ELBO, reconstruction error and marginal likelihood helpers on toy models.

The toy model is linear-Gaussian: ``z ~ N(0, 1)``, ``x_g | z ~ N(z, 1)`` for each
of ``G`` features, whose exact posterior ``q(z | x) = N(sum(x) / (1 + G),
1 / (1 + G))`` the encoder returns. The library ``l`` plays no role and its
variational distribution equals its prior. Every importance weight then equals
``p(x)`` exactly, ``N(0, I + 11^T)``, whatever the number of samples.
"""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from scvi.models._likelihoods import gaussian_log_prob
from scvi.models.log_likelihood import (
    compute_elbo,
    compute_marginal_log_likelihood_autozi,
    compute_marginal_log_likelihood_scvi,
    compute_reconstruction_error,
)

N_FEATURES = 5
L_MEAN, L_VAR = 0.7, 2.0


class LinearGaussianModel:
    """Toy model following the interface documented in scvi.models._metrics."""

    def __init__(self, transformed_latent=False):
        self.transformed_latent = transformed_latent
        self.bernoulli_shapes = []

    def __call__(self, x, local_l_mean, local_l_var, batch_index=None, y=None):
        reconst = x.sum(-1)
        kl_local = torch.ones(x.shape[0]) * 2.0
        return reconst, kl_local, torch.tensor(7.0)

    def inference(self, x, batch_index=None, y=None, n_samples=1):
        n = x.shape[0]
        precision = 1.0 + N_FEATURES
        qz_m = x.sum(-1, keepdim=True) / precision
        qz_v = torch.full_like(qz_m, 1.0 / precision)
        z = qz_m + qz_v.sqrt() * torch.randn_like(qz_m)
        ql_m, ql_v = torch.full((n, 1), L_MEAN), torch.full((n, 1), L_VAR)
        out = {
            "qz_m": qz_m,
            "qz_v": qz_v,
            "z": z,
            "ql_m": ql_m,
            "ql_v": ql_v,
            "library": ql_m + ql_v.sqrt() * torch.randn_like(ql_m),
            "px_rate": z.expand(n, N_FEATURES),
            "px_r": None,
            "px_dropout": None,
        }
        if self.transformed_latent:
            out["untran_z"], out["z"] = z, torch.softmax(z * 3 + 1, -1) + 5
        return out

    def get_reconstruction_loss(
        self, x, px_rate, px_r, px_dropout, bernoulli_params=None, **kwargs
    ):
        if bernoulli_params is not None:
            self.bernoulli_shapes.append(tuple(bernoulli_params.shape))
        return -gaussian_log_prob(x, px_rate, 1.0)

    # AutoZI interface: the variational Beta equals the prior
    def get_alphas_betas(self, as_numpy=True):
        alpha = torch.full((N_FEATURES,), 0.4)
        beta = torch.full((N_FEATURES,), 0.6)
        return {
            "alpha_prior": 0.4,
            "beta_prior": 0.6,
            "alpha_posterior": alpha,
            "beta_posterior": beta,
        }

    def sample_from_beta_distribution(self, alpha, beta):
        return torch.distributions.Beta(alpha, beta).sample()


def make_posterior(n_cells=(7, 11, 4), extra=False, seed=0):
    """Mini-batch tuples as built by GeneExpressionDataset.collate_fn_builder."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for n in n_cells:
        x = torch.randn(n, N_FEATURES, generator=generator) * 2
        tensors = (
            x,
            torch.full((n, 1), L_MEAN),
            torch.full((n, 1), L_VAR),
            torch.zeros(n, 1, dtype=torch.int64),
            torch.zeros(n, 1, dtype=torch.int64),
        )
        batches.append(tensors + ((torch.zeros(n, 3),) if extra else ()))
    return batches


def exact_log_px(posterior):
    x = torch.cat([tensors[0] for tensors in posterior]).double().numpy()
    cov = np.eye(N_FEATURES) + np.ones((N_FEATURES, N_FEATURES))
    return multivariate_normal(np.zeros(N_FEATURES), cov).logpdf(x)


def test_elbo_and_reconstruction_error():
    posterior = make_posterior(extra=True)
    model = LinearGaussianModel()
    x = torch.cat([tensors[0] for tensors in posterior])
    n = x.shape[0]
    assert compute_elbo(model, posterior) == pytest.approx(
        (x.sum().item() + 2.0 * n + 7.0) / n
    )
    assert compute_reconstruction_error(model, posterior) == pytest.approx(
        x.sum().item() / n
    )


def test_elbo_needs_the_three_outputs_of_the_forward_contract():
    posterior = make_posterior()
    n = sum(tensors[0].shape[0] for tensors in posterior)

    def three_outputs(x, *args, **kwargs):
        return torch.ones(x.shape[0]), torch.full((x.shape[0],), 0.5), 0.0

    assert compute_elbo(three_outputs, posterior) == pytest.approx(1.5)
    assert compute_reconstruction_error(three_outputs, posterior) == pytest.approx(1.0)
    for wrong in ((torch.ones(n),), (torch.ones(n), torch.ones(n))):
        with pytest.raises(ValueError, match="reconst_loss, kl_local, kl_global"):
            compute_elbo(lambda *args, _wrong=wrong, **kwargs: _wrong, posterior)
    with pytest.raises(ValueError, match="no cells"):
        compute_elbo(three_outputs, [])


@pytest.mark.parametrize("transformed_latent", [False, True])
def test_marginal_log_likelihood_is_exact_with_exact_posterior(transformed_latent):
    torch.manual_seed(0)
    posterior = make_posterior()
    expected = -exact_log_px(posterior).mean()
    model = LinearGaussianModel(transformed_latent)
    for n_samples_mc in (1, 7):
        result = compute_marginal_log_likelihood_scvi(model, posterior, n_samples_mc)
        assert result == pytest.approx(expected, rel=1e-5)


def test_marginal_log_likelihood_is_a_biased_estimate_otherwise():
    torch.manual_seed(0)
    posterior = make_posterior()
    expected = -exact_log_px(posterior).mean()

    class WiderPosterior(LinearGaussianModel):
        def inference(self, x, batch_index=None, y=None, n_samples=1):
            out = super().inference(x, batch_index, y)
            out["qz_v"] = out["qz_v"] * 4
            out["z"] = out["qz_m"] + out["qz_v"].sqrt() * torch.randn_like(out["z"])
            out["px_rate"] = out["z"].expand_as(x)
            return out

    few = compute_marginal_log_likelihood_scvi(WiderPosterior(), posterior, 2)
    many = compute_marginal_log_likelihood_scvi(WiderPosterior(), posterior, 300)
    # the importance-sampling bound tightens towards the exact value (from above)
    assert many == pytest.approx(expected, abs=0.03)
    assert few > many + 0.1


def test_marginal_log_likelihood_autozi():
    torch.manual_seed(0)
    posterior = make_posterior()
    expected = -exact_log_px(posterior).mean()
    model = LinearGaussianModel()
    result = compute_marginal_log_likelihood_autozi(model, posterior, n_samples_mc=5)
    # each draw of the Bernoulli parameters reaches every mini-batch
    assert model.bernoulli_shapes == [(N_FEATURES,)] * 5 * len(posterior)
    assert result == pytest.approx(expected, rel=1e-5)
    assert math.isfinite(result)
