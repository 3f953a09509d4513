"""AutoZIVAE: zero-inflation modes, Beta variables, mixture likelihood, metrics."""

import itertools

import numpy as np
import pytest
import torch
from scipy.special import betaln, digamma

from scvi.models.autozivae import AutoZIVAE
from scvi.models.log_likelihood import (
    compute_elbo,
    compute_marginal_log_likelihood_autozi,
    log_nb_positive,
    log_zinb_positive,
)
from scvi.models.vae import VAE

N_CELLS, N_GENES, N_BATCH, N_LABELS, N_LATENT = 12, 20, 2, 3, 4
MODES = ["gene", "gene-batch", "gene-label", "gene-cell"]
GLOBAL_SHAPES = {
    "gene": (N_GENES,),
    "gene-batch": (N_GENES, N_BATCH),
    "gene-label": (N_GENES, N_LABELS),
}


def make_batch(seed=0):
    """Zero-rich counts and covariates of N_CELLS cells."""
    gen = torch.Generator().manual_seed(seed)
    rates = torch.rand(N_CELLS, N_GENES, generator=gen) * 5
    keep = torch.rand(N_CELLS, N_GENES, generator=gen) > 0.5
    x = torch.poisson(rates, generator=gen) * keep
    batch = torch.arange(N_CELLS).remainder(N_BATCH).view(-1, 1)
    labels = torch.arange(N_CELLS).remainder(N_LABELS).view(-1, 1)
    l_mean = torch.full((N_CELLS, 1), float(np.log(x.sum(1).mean())))
    return x, l_mean, torch.ones(N_CELLS, 1), batch, labels


def make_model(zero_inflation="gene", **kwargs):
    defaults = dict(n_batch=N_BATCH, n_labels=N_LABELS, n_hidden=16, n_latent=N_LATENT)
    defaults.update(kwargs)
    return AutoZIVAE(N_GENES, zero_inflation=zero_inflation, **defaults)


def test_is_a_vae():
    assert isinstance(make_model(), VAE)


@pytest.mark.parametrize(
    "zero_inflation,learned_prior,dispersion",
    list(itertools.product(MODES, [False, True], ["gene", "gene-cell"])),
)
def test_forward_backward_every_mode(zero_inflation, learned_prior, dispersion):
    torch.manual_seed(0)
    prior = None if learned_prior else 0.5
    model = make_model(
        zero_inflation, alpha_prior=prior, beta_prior=prior, dispersion=dispersion
    )
    x, l_mean, l_var, batch, labels = make_batch()
    reconst, kl_local, kl_global = model(x, l_mean, l_var, batch, labels)
    assert reconst.shape == kl_local.shape == (N_CELLS,)
    assert kl_global.shape == ()
    for term in (reconst, kl_local, kl_global):
        assert torch.isfinite(term).all()
    (reconst.sum() + kl_local.sum() + kl_global).backward()
    unused = "decoder.px_r_decoder" if dispersion != "gene-cell" else "-"
    for name, param in model.named_parameters():
        if name.startswith(unused):
            assert param.grad is None, name
        else:
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
    names = dict(model.named_parameters())
    assert ("alpha_prior_logit" in names) == learned_prior


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(zero_inflation="cell"),
        dict(zero_inflation="gene-batch", n_batch=0),
        dict(zero_inflation="gene-label", n_labels=0),
        dict(reconstruction_loss="nb"),
        dict(minimal_dropout=1.5),
        dict(alpha_prior=-1.0),
    ],
)
def test_invalid_options(kwargs):
    with pytest.raises(ValueError):
        make_model(**kwargs)


@pytest.mark.parametrize("zero_inflation", MODES)
@pytest.mark.parametrize("learned_prior", [False, True])
def test_get_alphas_betas(zero_inflation, learned_prior):
    prior = None if learned_prior else 0.3
    model = make_model(zero_inflation, alpha_prior=prior, beta_prior=prior)
    params = model.get_alphas_betas()
    assert all(isinstance(v, np.ndarray) for v in params.values())
    assert params["alpha_prior"].shape == params["beta_prior"].shape == ()
    if not learned_prior:
        assert np.isclose(params["alpha_prior"], 0.3)
    if zero_inflation == "gene-cell":
        assert set(params) == {"alpha_prior", "beta_prior"}
        return
    shape = GLOBAL_SHAPES[zero_inflation]
    for key in ("alpha_posterior", "beta_posterior"):
        assert params[key].shape == shape
        assert ((params[key] > 0) & (params[key] < 1)).all()
    tensors = model.get_alphas_betas(as_numpy=False)
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    assert tensors["alpha_posterior"].requires_grad


def closed_form_beta_kl(a1, b1, a2, b2):
    """KL(Beta(a1, b1) || Beta(a2, b2)) from its textbook closed form."""
    return (
        betaln(a2, b2)
        - betaln(a1, b1)
        + (a1 - a2) * digamma(a1)
        + (b1 - b2) * digamma(b1)
        + (a2 - a1 + b2 - b1) * digamma(a1 + b1)
    )


@pytest.mark.parametrize("zero_inflation", ["gene", "gene-batch", "gene-label"])
@pytest.mark.parametrize("learned_prior", [False, True])
def test_global_kl(zero_inflation, learned_prior):
    prior = None if learned_prior else 0.4
    model = make_model(zero_inflation, alpha_prior=prior, beta_prior=prior)
    p = model.get_alphas_betas(as_numpy=False)
    kl = model.compute_global_kl_divergence()
    expected = torch.distributions.kl_divergence(
        torch.distributions.Beta(p["alpha_posterior"], p["beta_posterior"]),
        torch.distributions.Beta(p["alpha_prior"], p["beta_prior"]),
    ).sum()
    torch.testing.assert_close(kl, expected)
    p = {k: v.detach().double().numpy() for k, v in p.items()}
    reference = closed_form_beta_kl(
        p["alpha_posterior"], p["beta_posterior"], p["alpha_prior"], p["beta_prior"]
    ).sum()
    assert np.isclose(kl.item(), reference, rtol=1e-4)


def test_gene_cell_kl_is_local():
    model = make_model("gene-cell").eval()
    assert float(model.compute_global_kl_divergence()) == 0.0
    x, l_mean, l_var, batch, labels = make_batch()
    torch.manual_seed(0)
    out = model.inference(x, batch, labels)
    torch.manual_seed(0)
    _, kl_local, _ = model(x, l_mean, l_var, batch, labels)
    assert out["alpha_posterior"].shape == (N_CELLS, N_GENES)
    assert out["bernoulli_params"].shape == (N_CELLS, N_GENES)
    kl_z, _ = model.kl_divergences(out, l_mean, l_var)
    kl_delta = torch.distributions.kl_divergence(
        torch.distributions.Beta(out["alpha_posterior"], out["beta_posterior"]),
        torch.distributions.Beta(torch.tensor(0.5), torch.tensor(0.5)),
    ).sum(-1)
    torch.testing.assert_close(kl_local, kl_z + kl_delta)
    with pytest.raises(ValueError):
        model.sample_bernoulli_params(batch, labels)


def test_sample_from_beta_distribution():
    model = make_model()
    alpha = torch.full((200000,), 0.3, requires_grad=True)
    beta = torch.full((200000,), 0.6, requires_grad=True)
    torch.manual_seed(0)
    sample = model.sample_from_beta_distribution(alpha, beta)
    assert sample.shape == alpha.shape
    assert ((sample >= 1e-7) & (sample <= 1 - 1e-7)).all()
    assert abs(sample.mean().item() - 1 / 3) < 0.005
    sample.mean().backward()
    assert torch.isfinite(alpha.grad).all() and torch.isfinite(beta.grad).all()
    tiny = torch.full((1000,), 1e-3)
    assert torch.isfinite(model.sample_from_beta_distribution(tiny, tiny)).all()


def test_reshape_bernoulli():
    _, _, _, batch, labels = make_batch()
    delta = torch.rand(N_GENES, N_BATCH)
    per_cell = make_model("gene-batch").reshape_bernoulli(delta, batch, labels)
    torch.testing.assert_close(per_cell, delta[:, batch.view(-1)].t())
    delta = torch.rand(3, N_GENES, N_LABELS)
    per_cell = make_model("gene-label").reshape_bernoulli(delta, batch, labels)
    assert per_cell.shape == (3, N_CELLS, N_GENES)
    torch.testing.assert_close(per_cell[1], delta[1][:, labels.view(-1)].t())
    gene = make_model("gene")
    delta = torch.rand(N_GENES)
    assert torch.equal(gene.reshape_bernoulli(delta), delta)
    assert gene.reshape_bernoulli(torch.rand(3, N_GENES)).shape == (3, 1, N_GENES)
    with pytest.raises(ValueError):
        make_model("gene-batch").reshape_bernoulli(torch.rand(N_GENES, N_BATCH))


@pytest.mark.parametrize("zero_inflation", ["gene", "gene-batch", "gene-label"])
def test_sample_bernoulli_params_shapes(zero_inflation):
    model = make_model(zero_inflation)
    _, _, _, batch, labels = make_batch()
    one = model.sample_bernoulli_params(batch, labels)
    many = model.sample_bernoulli_params(batch, labels, n_samples=4)
    if zero_inflation == "gene":
        assert one.shape == (N_GENES,) and many.shape == (4, 1, N_GENES)
    else:
        assert one.shape == (N_CELLS, N_GENES) and many.shape == (4, N_CELLS, N_GENES)


def test_rescale_dropout_lower_bound():
    model = make_model(minimal_dropout=0.05)
    logits = torch.linspace(-30, 30, 101)
    probability = torch.sigmoid(model.rescale_dropout(logits))
    torch.testing.assert_close(probability, 0.05 + 0.95 * torch.sigmoid(logits))
    assert (probability >= 0.05 - 1e-6).all()


def test_reconstruction_is_nb_zinb_mixture():
    model = make_model()
    x = make_batch()[0]
    gen = torch.Generator().manual_seed(1)
    rate = torch.rand(N_CELLS, N_GENES, generator=gen) * 4 + 0.1
    theta = torch.rand(N_GENES, generator=gen) * 3 + 0.2
    dropout = model.rescale_dropout(torch.randn(N_CELLS, N_GENES, generator=gen))
    delta = torch.rand(N_GENES, generator=gen)
    loss = model.get_reconstruction_loss(x, rate, theta, dropout, delta)
    log_nb = log_nb_positive(x, rate, theta)
    log_zinb = log_zinb_positive(x, rate, theta, dropout)
    mixture = torch.logaddexp(torch.log(delta) + log_nb, torch.log1p(-delta) + log_zinb)
    torch.testing.assert_close(loss, -mixture.sum(-1))
    ones, zeros = torch.ones(N_GENES), torch.zeros(N_GENES)
    nb = model.get_reconstruction_loss(x, rate, theta, dropout, ones)
    torch.testing.assert_close(nb, -log_nb.sum(-1))
    zinb = model.get_reconstruction_loss(x, rate, theta, dropout, zeros)
    torch.testing.assert_close(zinb, -log_zinb.sum(-1))


def test_reconstruction_spreads_global_params_with_covariates():
    model = make_model("gene-batch")
    x, _, _, batch, _ = make_batch()
    rate, theta = torch.rand(N_CELLS, N_GENES) + 0.5, torch.ones(N_GENES)
    dropout = torch.zeros(N_CELLS, N_GENES)
    delta = torch.rand(N_GENES, N_BATCH)
    spread = model.get_reconstruction_loss(
        x, rate, theta, dropout, delta, batch_index=batch
    )
    per_cell = model.reshape_bernoulli(delta, batch)
    expected = model.get_reconstruction_loss(x, rate, theta, dropout, per_cell)
    torch.testing.assert_close(spread, expected)


@pytest.mark.parametrize("zero_inflation", MODES)
def test_forward_matches_hand_computation(zero_inflation):
    model = make_model(zero_inflation).eval()
    x, l_mean, l_var, batch, labels = make_batch(2)
    torch.manual_seed(4)
    out = model.inference(x, batch, labels)
    torch.manual_seed(4)
    first, kl_local, kl_global = model(x, l_mean, l_var, batch, labels)
    torch.manual_seed(4)
    raw = VAE.inference(model, x, batch, labels)["px_dropout"]
    tau = model.minimal_dropout
    expected = tau + (1 - tau) * torch.sigmoid(raw)
    torch.testing.assert_close(torch.sigmoid(out["px_dropout"]), expected)
    delta = out["bernoulli_params"]
    log_nb = log_nb_positive(x, out["px_rate"], out["px_r"])
    log_zinb = log_zinb_positive(x, out["px_rate"], out["px_r"], out["px_dropout"])
    mixture = torch.logaddexp(torch.log(delta) + log_nb, torch.log1p(-delta) + log_zinb)
    kl_z, kl_l = model.kl_divergences(out, l_mean, l_var)
    torch.testing.assert_close(first, -mixture.sum(-1) + kl_l, rtol=1e-4, atol=1e-3)
    if zero_inflation != "gene-cell":
        torch.testing.assert_close(kl_local, kl_z)
        torch.testing.assert_close(kl_global, model.compute_global_kl_divergence())


def test_inference_outputs_and_samples():
    model = make_model("gene-batch").eval()
    x, _, _, batch, labels = make_batch()
    out = model.inference(x, batch, labels, n_samples=3)
    assert out["bernoulli_params"].shape == (3, N_CELLS, N_GENES)
    assert out["px_rate"].shape == (3, N_CELLS, N_GENES)
    scale = model.get_sample_scale(x, batch, labels, n_samples=3, transform_batch=1)
    assert scale.shape == (3, N_CELLS, N_GENES)
    torch.testing.assert_close(scale.sum(-1), torch.ones(3, N_CELLS))
    rate = model.get_sample_rate(x, batch, labels)
    assert rate.shape == (N_CELLS, N_GENES) and (rate >= 0).all()
    loss = model.get_reconstruction_loss(
        x, out["px_rate"], out["px_r"], out["px_dropout"], out["bernoulli_params"]
    )
    assert loss.shape == (3, N_CELLS) and torch.isfinite(loss).all()


def test_metrics_helpers_and_training():
    torch.manual_seed(0)
    model = make_model("gene", alpha_prior=None, beta_prior=None, n_hidden=32)
    posterior = [make_batch(seed) for seed in (5, 6)]

    def evaluate():
        model.eval()
        torch.manual_seed(3)
        elbo = compute_elbo(model, posterior)
        marginal = compute_marginal_log_likelihood_autozi(model, posterior, 10)
        model.train()
        return elbo, marginal

    elbo_before, marginal_before = evaluate()
    assert np.isfinite(elbo_before) and np.isfinite(marginal_before)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        for x, l_mean, l_var, batch, labels in posterior:
            optimizer.zero_grad()
            first, kl_local, kl_global = model(x, l_mean, l_var, batch, labels)
            n_total = N_CELLS * len(posterior)
            loss = (first + kl_local).sum() / n_total + kl_global / n_total
            loss.backward()
            optimizer.step()
    elbo_after, marginal_after = evaluate()
    assert elbo_after < elbo_before and marginal_after < marginal_before


@pytest.mark.parametrize("zero_inflation", ["gene", "gene-batch", "gene-label"])
def test_marginal_likelihood_for_every_global_mode(zero_inflation):
    torch.manual_seed(0)
    model = make_model(zero_inflation).eval()
    posterior = [make_batch(seed) for seed in (1, 2)]
    value = compute_marginal_log_likelihood_autozi(model, posterior, 4)
    assert np.isfinite(value) and value > 0
