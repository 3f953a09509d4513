"""JVAE (gimVI): option combinations, gene mappings, losses and sampling methods."""

import itertools

import numpy as np
import pytest
import torch

from scvi.models._likelihoods import gaussian_kl
from scvi.models.jvae import JVAE
from scvi.models.log_likelihood import (
    compute_elbo,
    log_nb_positive,
    log_zinb_positive,
)

N_CELLS, TOTAL_GENES, N_BATCH, N_LABELS = 10, 16, 2, 3
# dataset 0 measures every gene in a shuffled order, dataset 1 a subset
MAPPINGS = [
    np.random.RandomState(0).permutation(TOTAL_GENES),
    np.array([1, 4, 6, 9, 15]),
]
DIMS = [len(m) for m in MAPPINGS]


def make_data(mode, seed=0):
    """Zero-rich counts (every cell has a positive total) and covariates."""
    gen = torch.Generator().manual_seed(seed + 10 * mode)
    rates = torch.rand(N_CELLS, DIMS[mode], generator=gen) * 6
    keep = torch.rand(N_CELLS, DIMS[mode], generator=gen) > 0.5
    x = torch.poisson(rates, generator=gen) * keep
    x[:, 0] += 1
    batch = torch.full((N_CELLS, 1), mode, dtype=torch.long)
    labels = torch.arange(N_CELLS).remainder(N_LABELS).view(-1, 1)
    l_mean = torch.full((N_CELLS, 1), float(np.log(x.sum(1).mean())))
    return x, l_mean, torch.ones(N_CELLS, 1), batch, labels


def make_model(losses=("zinb", "nb"), library=(True, False), **kwargs):
    defaults = dict(
        n_latent=4,
        dim_hidden_encoder=16,
        dim_hidden_decoder_individual=8,
        dim_hidden_decoder_shared=16,
        n_batch=N_BATCH,
        n_labels=N_LABELS,
    )
    defaults.update(kwargs)
    return JVAE(DIMS, TOTAL_GENES, MAPPINGS, list(losses), list(library), **defaults)


def check_gradients(model, expected_unused):
    for name, param in model.named_parameters():
        if any(name.startswith(prefix) for prefix in expected_unused):
            assert param.grad is None, name
        else:
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name


LOSSES = list(itertools.product(["zinb", "nb", "poisson"], repeat=2))
LIBRARIES = list(itertools.product([True, False], repeat=2))


@pytest.mark.parametrize("losses", LOSSES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_forward_backward_losses_and_libraries(losses, library):
    torch.manual_seed(0)
    model = make_model(losses, library, n_layers_decoder_individual=1)
    total = 0
    for mode in (0, 1):
        x, l_mean, l_var, batch, labels = make_data(mode)
        reconst, kl, _ = model(x, l_mean, l_var, batch, labels, mode=mode)
        assert reconst.shape == kl.shape == (N_CELLS,)
        assert torch.isfinite(reconst).all() and torch.isfinite(kl).all()
        total = total + (reconst + kl).sum()
    total.backward()
    unused = ["decoder.px_r_decoder"]
    if "zinb" not in losses:
        unused.append("decoder.px_dropout_decoder")
    if set(losses) == {"poisson"}:
        unused.append("px_r")
    check_gradients(model, unused)


@pytest.mark.parametrize(
    "dispersion", ["gene", "gene-batch", "gene-label", "gene-cell"]
)
@pytest.mark.parametrize("n_individual,n_shared", [(0, 0), (1, 0), (0, 1), (1, 2)])
def test_forward_backward_dispersions_and_decoders(dispersion, n_individual, n_shared):
    torch.manual_seed(0)
    model = make_model(
        dispersion=dispersion,
        n_layers_decoder_individual=n_individual,
        n_layers_decoder_shared=n_shared,
    )
    total = 0
    for mode in (0, 1):
        x, l_mean, l_var, batch, labels = make_data(mode)
        reconst, kl, _ = model(x, l_mean, l_var, batch, labels, mode=mode)
        assert torch.isfinite(reconst).all() and torch.isfinite(kl).all()
        total = total + (reconst + kl).sum()
    total.backward()
    check_gradients(
        model, [] if dispersion == "gene-cell" else ["decoder.px_r_decoder"]
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(losses=("zinb", "gaussian")),
        dict(dispersion="cell"),
        dict(library=(True,)),
        dict(losses=("zinb",)),
        dict(dispersion="gene-label", n_labels=0),
        # gene-batch with n_batch=0 (scVI 0.6.8's defaults) builds, and refuses to
        # decode: see tests/models/test_068_state_dicts.py
    ],
)
def test_invalid_options(kwargs):
    with pytest.raises(ValueError):
        make_model(**kwargs)


def test_invalid_mappings_and_mode():
    with pytest.raises(ValueError):
        JVAE(DIMS, TOTAL_GENES, [MAPPINGS[0], [1, 2, 3, 4, 99]], ["nb"] * 2, [True] * 2)
    with pytest.raises(ValueError):
        JVAE(DIMS, TOTAL_GENES, [MAPPINGS[0], [1, 2]], ["nb"] * 2, [True] * 2)
    model = make_model()
    x, l_mean, l_var, batch, labels = make_data(0)
    with pytest.raises(ValueError, match="mode"):
        model(x, l_mean, l_var, batch, labels, mode=2)


@pytest.mark.parametrize(
    "dispersion", ["gene", "gene-batch", "gene-label", "gene-cell"]
)
def test_decode_selects_each_datasets_genes(dispersion):
    model = make_model(dispersion=dispersion, n_layers_decoder_individual=1).eval()
    torch.manual_seed(0)
    z = torch.randn(N_CELLS, 4)
    library = torch.randn(N_CELLS, 1) + 3
    _, _, batch, labels = make_data(0)[1:]
    full_scale, full_r, _, full_dropout = model.decoder(
        z, 0, library, dispersion, batch
    )
    for mode, mapping in enumerate(MAPPINGS):
        scale, theta, rate, dropout = model.decode(z, mode, library, batch, labels)
        assert scale.shape == rate.shape == dropout.shape == (N_CELLS, len(mapping))
        expected = full_scale[:, mapping]
        expected = expected / expected.sum(-1, keepdim=True)
        torch.testing.assert_close(scale, expected)
        torch.testing.assert_close(scale.sum(-1), torch.ones(N_CELLS))
        torch.testing.assert_close(rate, torch.exp(library) * expected)
        torch.testing.assert_close(dropout, full_dropout[:, mapping])
        if dispersion == "gene":
            torch.testing.assert_close(theta, torch.exp(model.px_r[mapping]))
        elif dispersion == "gene-cell":
            torch.testing.assert_close(theta, torch.exp(full_r[:, mapping]))
        else:
            index = batch if dispersion == "gene-batch" else labels
            expected_r = torch.exp(model.px_r[mapping][:, index.view(-1)].t())
            torch.testing.assert_close(theta, expected_r)


@pytest.mark.parametrize("mode", [0, 1])
def test_loss_matches_hand_computation(mode):
    model = make_model(("zinb", "poisson"), (True, False)).eval()
    x, l_mean, l_var, batch, labels = make_data(mode, seed=3)
    torch.manual_seed(1)
    qz_m, qz_v, z, ql_m, ql_v, library = model.encode(x, mode)
    _, theta, rate, dropout = model.decode(z, mode, library, batch, labels)
    torch.manual_seed(1)
    reconst, kl, _ = model(x, l_mean, l_var, batch, labels, mode=mode)
    if mode == 0:
        log_px = log_zinb_positive(x, rate, theta, dropout)
        expected_kl = gaussian_kl(qz_m, qz_v) + gaussian_kl(ql_m, ql_v, l_mean, l_var)
    else:
        log_px = torch.distributions.Poisson(rate).log_prob(x)
        expected_kl = gaussian_kl(qz_m, qz_v)
        assert ql_m is None and ql_v is None
        torch.testing.assert_close(library, torch.log(x.sum(1, keepdim=True)))
    torch.testing.assert_close(reconst, -log_px.sum(-1))
    torch.testing.assert_close(kl, expected_kl)
    nb = model.reconstruction_loss(x, rate, theta, dropout, mode=mode)
    torch.testing.assert_close(nb, reconst)
    if mode == 0:
        model.reconstruction_losses[0] = "nb"
        nb = model.reconstruction_loss(x, rate, theta, dropout, 0)
        torch.testing.assert_close(nb, -log_nb_positive(x, rate, theta).sum(-1))


def test_posterior_samples():
    model = make_model().eval()
    x0, _, _, batch0, _ = make_data(0)
    x1, _, _, batch1, _ = make_data(1)
    z_mean = model.sample_from_posterior_z(x1, mode=1, deterministic=True)
    assert z_mean.shape == (N_CELLS, 4)
    torch.testing.assert_close(z_mean, model.encode(x1, 1)[0])
    torch.testing.assert_close(z_mean, model.sample_from_posterior_z(x1, 1, True))
    assert not torch.equal(model.sample_from_posterior_z(x1, 1), z_mean)
    assert model.sample_from_posterior_z(x0).shape == (N_CELLS, 4)
    # dataset 0 models its library, dataset 1 uses the observed one
    l_mean = model.sample_from_posterior_l(x0, 0, deterministic=True)
    torch.testing.assert_close(l_mean, model.encode(x0, 0)[3])
    assert model.sample_from_posterior_l(x0, 0).shape == (N_CELLS, 1)
    observed = torch.log(x1.sum(1, keepdim=True))
    torch.testing.assert_close(model.sample_from_posterior_l(x1, 1), observed)
    torch.testing.assert_close(model.sample_from_posterior_l(x1, 1, True), observed)


def test_sample_scale_and_rate_with_decode_mode():
    model = make_model().eval()
    x1, _, _, batch1, labels = make_data(1)
    scale = model.sample_scale(x1, 1, batch1, deterministic=True, decode_mode=0)
    assert scale.shape == (N_CELLS, DIMS[0])
    torch.testing.assert_close(scale.sum(-1), torch.ones(N_CELLS))
    z = model.sample_from_posterior_z(x1, 1, deterministic=True)
    observed = torch.log(x1.sum(1, keepdim=True))
    expected = model.decode(z, 0, observed, batch1, labels)[0]
    torch.testing.assert_close(scale, expected)
    rate = model.sample_rate(x1, 1, batch1, deterministic=True, decode_mode=0)
    torch.testing.assert_close(rate, torch.exp(observed) * scale)
    own = model.sample_rate(x1, 1, batch1, deterministic=True)
    assert own.shape == (N_CELLS, DIMS[1])
    torch.testing.assert_close(own.sum(-1), x1.sum(-1))
    x0, _, _, batch0, _ = make_data(0)
    torch.manual_seed(0)
    generic = model.get_sample_rate(x0, batch0, "ignored", anything=1)
    torch.manual_seed(0)
    torch.testing.assert_close(generic, model.sample_rate(x0, 0, batch0))


def test_default_mode_is_first_dataset():
    model = make_model().eval()
    x, l_mean, l_var, batch, labels = make_data(0)
    torch.manual_seed(0)
    default = model(x, l_mean, l_var, batch, labels)
    torch.manual_seed(0)
    first = model(x, l_mean, l_var, batch, labels, mode=0)
    for a, b in zip(default, first):
        torch.testing.assert_close(a, b)


def test_compute_elbo_decreases_with_training():
    torch.manual_seed(0)
    model = make_model(n_layers_decoder_individual=1)
    data = [make_data(mode, seed=5) for mode in (0, 1)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def elbo(mode):
        model.eval()
        torch.manual_seed(2)
        return compute_elbo(model, [data[mode]], mode=mode)

    before = [elbo(mode) for mode in (0, 1)]
    model.train()
    for _ in range(50):
        optimizer.zero_grad()
        loss = 0
        for mode in (0, 1):
            x, l_mean, l_var, batch, labels = data[mode]
            reconst, kl, _ = model(x, l_mean, l_var, batch, labels, mode=mode)
            loss = loss + (reconst + kl).mean()
        loss.backward()
        optimizer.step()
    after = [elbo(mode) for mode in (0, 1)]
    assert all(np.isfinite(after))
    assert after[0] < before[0] and after[1] < before[1]
