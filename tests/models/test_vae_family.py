"""VAE, LDVAE and Classifier: losses, gradients and the documented methods."""

import itertools

import numpy as np
import pytest
import torch

from scvi.models._likelihoods import gaussian_kl
from scvi.models.autozivae import AutoZIVAE
from scvi.models.classifier import Classifier
from scvi.models.ldvae import LDVAE
from scvi.models.scanvi import SCANVI
from scvi.models.vaec import VAEC
from scvi.models.log_likelihood import (
    compute_elbo,
    compute_marginal_log_likelihood_scvi,
    compute_reconstruction_error,
    log_nb_positive,
    log_zinb_positive,
)
from scvi.models.vae import VAE

N_CELLS, N_GENES, N_LATENT, N_HIDDEN, N_LABELS = 16, 12, 3, 8, 4
DISPERSIONS = ["gene", "gene-batch", "gene-label", "gene-cell"]
LOSSES = ["zinb", "nb", "poisson"]
LATENTS = ["normal", "ln"]
COMBINATIONS = list(itertools.product(DISPERSIONS, LOSSES, LATENTS, [False, True]))
IDS = [
    "-".join([d, r, z, "batches" if b else "nobatch"]) for d, r, z, b in COMBINATIONS
]


def n_batch_for(dispersion, with_batches):
    """Number of batches of a configuration ("gene-batch" needs at least one)."""
    if with_batches:
        return 3
    return 1 if dispersion == "gene-batch" else 0


def make_minibatch(n_batch, n_cells=N_CELLS, n_genes=N_GENES, seed=0):
    """A zero-rich mini-batch tuple as built by the dataset collate functions."""
    gen = torch.Generator().manual_seed(seed)
    rate = torch.distributions.Gamma(0.6, 0.3).sample((n_cells, n_genes))
    x = torch.poisson(rate, generator=gen)
    x = x * (torch.rand(n_cells, n_genes, generator=gen) > 0.5)
    log_lib = torch.log(x.sum(1, keepdim=True).clamp(min=1.0))
    local_l_mean = torch.full((n_cells, 1), float(log_lib.mean()))
    local_l_var = torch.full((n_cells, 1), float(log_lib.var()) + 0.1)
    batch_index = torch.randint(max(n_batch, 1), (n_cells, 1), generator=gen)
    labels = torch.randint(N_LABELS, (n_cells, 1), generator=gen)
    return x, local_l_mean, local_l_var, batch_index, labels


def make_model(cls, dispersion, loss, latent, with_batches, **kwargs):
    torch.manual_seed(0)
    return cls(
        N_GENES,
        n_batch=n_batch_for(dispersion, with_batches),
        n_labels=N_LABELS,
        n_hidden=N_HIDDEN,
        n_latent=N_LATENT,
        dispersion=dispersion,
        reconstruction_loss=loss,
        latent_distribution=latent,
        **kwargs,
    )


def unused_parameters(model, dispersion, loss):
    """Names of the parameters the forward pass of the configuration ignores."""
    prefixes = []
    if loss != "zinb":
        prefixes.append("decoder.px_dropout_decoder.")
    if dispersion != "gene-cell" or loss == "poisson":
        prefixes.append("decoder.px_r_decoder.")
    if loss == "poisson":
        prefixes.append("px_r")
    names = [name for name, _ in model.named_parameters()]
    return {name for name in names if name.startswith(tuple(prefixes))}


def check_gradients(model, unused):
    for name, param in model.named_parameters():
        if name in unused:
            assert param.grad is None, name
        else:
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name


def expected_reconstruction(loss, x, out):
    if loss == "zinb":
        log_px = log_zinb_positive(x, out["px_rate"], out["px_r"], out["px_dropout"])
    elif loss == "nb":
        log_px = log_nb_positive(x, out["px_rate"], out["px_r"])
    else:
        log_px = torch.distributions.Poisson(out["px_rate"]).log_prob(x)
    return -log_px.sum(-1)


def expected_theta(model, dispersion, batch_index, labels, out):
    """Inverse dispersion by indexing (independent of the model's one-hot path)."""
    if dispersion == "gene":
        return torch.exp(model.px_r).expand(N_CELLS, N_GENES)
    if dispersion == "gene-batch":
        return torch.exp(model.px_r.t()[batch_index[:, 0]])
    if dispersion == "gene-label":
        return torch.exp(model.px_r.t()[labels[:, 0]])
    return out["px_r"]


@pytest.mark.parametrize("cls", [VAE, LDVAE])
@pytest.mark.parametrize("dispersion,loss,latent,with_batches", COMBINATIONS, ids=IDS)
def test_forward_backward_finite(cls, dispersion, loss, latent, with_batches):
    model = make_model(cls, dispersion, loss, latent, with_batches)
    x, l_mean, l_var, batch_index, labels = make_minibatch(model.n_batch)
    reconst, kl, _ = model(x, l_mean, l_var, batch_index=batch_index, y=labels)
    assert reconst.shape == kl.shape == (N_CELLS,)
    assert reconst.dtype == kl.dtype == torch.float32
    assert torch.isfinite(reconst).all() and torch.isfinite(kl).all()
    (reconst + kl).mean().backward()
    check_gradients(model, unused_parameters(model, dispersion, loss))


@pytest.mark.parametrize("cls", [VAE, LDVAE])
@pytest.mark.parametrize("dispersion,loss,latent,with_batches", COMBINATIONS, ids=IDS)
def test_losses_match_hand_computation(cls, dispersion, loss, latent, with_batches):
    model = make_model(cls, dispersion, loss, latent, with_batches).eval()
    x, l_mean, l_var, batch_index, labels = make_minibatch(model.n_batch)
    torch.manual_seed(3)
    out = model.inference(x, batch_index, labels)
    torch.manual_seed(3)
    reconst_kl_l, kl_z, _ = model(x, l_mean, l_var, batch_index, labels)
    theta = expected_theta(model, dispersion, batch_index, labels, out)
    torch.testing.assert_close(out["px_r"].expand(N_CELLS, N_GENES), theta)
    rate = torch.exp(out["library"]) * out["px_scale"]
    torch.testing.assert_close(out["px_rate"], rate)
    kl_l = gaussian_kl(out["ql_m"], out["ql_v"], l_mean, l_var)
    expected = expected_reconstruction(loss, x, out) + kl_l
    torch.testing.assert_close(reconst_kl_l, expected)
    torch.testing.assert_close(kl_z, gaussian_kl(out["qz_m"], out["qz_v"]))
    if latent == "ln":
        torch.testing.assert_close(out["z"], torch.softmax(out["untran_z"], -1))
    else:
        torch.testing.assert_close(out["z"], out["untran_z"])


@pytest.mark.parametrize("dispersion,loss,latent,with_batches", COMBINATIONS, ids=IDS)
def test_inference_shapes_and_samples(dispersion, loss, latent, with_batches):
    model = make_model(VAE, dispersion, loss, latent, with_batches).eval()
    x, _, _, batch_index, labels = make_minibatch(model.n_batch)
    out = model.inference(x, batch_index, labels)
    for key in ["px_scale", "px_rate", "px_dropout"]:
        assert out[key].shape == (N_CELLS, N_GENES)
    for key in ["qz_m", "qz_v", "z", "untran_z"]:
        assert out[key].shape == (N_CELLS, N_LATENT)
    for key in ["ql_m", "ql_v", "library"]:
        assert out[key].shape == (N_CELLS, 1)
    many = model.inference(x, batch_index, labels, n_samples=5)
    assert many["px_rate"].shape == (5, N_CELLS, N_GENES)
    assert many["z"].shape == (5, N_CELLS, N_LATENT)
    assert many["library"].shape == (5, N_CELLS, 1)
    assert not torch.allclose(many["z"][0], many["z"][1])
    reconst = model.get_reconstruction_loss(
        x, many["px_rate"], many["px_r"], many["px_dropout"]
    )
    assert reconst.shape == (5, N_CELLS) and torch.isfinite(reconst).all()
    scale = model.get_sample_scale(x, batch_index, labels, n_samples=4)
    assert scale.shape == (4, N_CELLS, N_GENES)
    torch.testing.assert_close(scale.sum(-1), torch.ones(4, N_CELLS))
    torch.manual_seed(5)
    rate = model.get_sample_rate(x, batch_index, labels)
    torch.manual_seed(5)
    ref = model.inference(x, batch_index, labels)
    torch.testing.assert_close(rate, torch.exp(ref["library"]) * ref["px_scale"])


@pytest.mark.parametrize("cls", [VAE, LDVAE])
@pytest.mark.parametrize("dispersion", DISPERSIONS)
def test_transform_batch_acts_through_batch_covariate(cls, dispersion):
    model = make_model(cls, dispersion, "zinb", "normal", True).eval()
    x, _, _, batch_index, labels = make_minibatch(model.n_batch)
    batch_index[:4] = 0
    target = torch.full_like(batch_index, 2)
    for method in [model.get_sample_scale, model.get_sample_rate]:
        torch.manual_seed(1)
        transformed = method(x, batch_index, labels, transform_batch=2)
        torch.manual_seed(1)
        direct = method(x, target, labels)
        torch.manual_seed(1)
        original = method(x, batch_index, labels)
        torch.testing.assert_close(transformed, direct)
        assert not torch.allclose(transformed[:4], original[:4])
    torch.manual_seed(1)
    out_t = model.inference(x, batch_index, labels, transform_batch=2)
    torch.manual_seed(1)
    out = model.inference(x, batch_index, labels)
    torch.testing.assert_close(out_t["z"], out["z"])
    torch.testing.assert_close(out_t["library"], out["library"])


@pytest.mark.parametrize("cls", [VAE, LDVAE])
@pytest.mark.parametrize("latent", LATENTS)
def test_latent_sampling_methods(cls, latent):
    model = make_model(cls, "gene", "zinb", latent, True).eval()
    x = make_minibatch(model.n_batch)[0]
    (latents,) = model.get_latents(x)
    assert latents.shape == (N_CELLS, N_LATENT)
    mean_1 = model.sample_from_posterior_z(x, give_mean=True, n_samples=20000)
    mean_2 = model.sample_from_posterior_z(x, give_mean=True, n_samples=20000)
    qz_m, qz_v, _ = model.z_encoder(torch.log1p(x))
    if latent == "normal":
        torch.testing.assert_close(mean_1, qz_m, rtol=0, atol=0)
        torch.testing.assert_close(mean_2, mean_1, rtol=0, atol=0)
    else:
        for z in [latents, mean_1]:
            assert (z > 0).all()
            torch.testing.assert_close(z.sum(-1), torch.ones(N_CELLS))
        torch.testing.assert_close(mean_1, mean_2, rtol=0, atol=0.02)
        assert not torch.allclose(mean_1, torch.softmax(qz_m, -1), atol=1e-4)
    draws = torch.stack([model.sample_from_posterior_z(x) for _ in range(3)])
    assert not torch.allclose(draws[0], draws[1])
    library = model.sample_from_posterior_l(x)
    assert library.shape == (N_CELLS, 1) and torch.isfinite(library).all()


def test_sampling_without_labels_and_batches():
    model = VAE(N_GENES, n_hidden=N_HIDDEN, n_latent=N_LATENT)
    x, l_mean, l_var, _, _ = make_minibatch(0)
    reconst, kl, _ = model(x, l_mean, l_var)
    assert torch.isfinite(reconst + kl).all()
    assert model.get_sample_scale(x).shape == (N_CELLS, N_GENES)
    gene_label = VAE(N_GENES, n_labels=2, dispersion="gene-label")
    # frequencies need no dispersion; the means go through the full inference
    assert gene_label.get_sample_scale(x).shape == (N_CELLS, N_GENES)
    with pytest.raises(ValueError, match="needs y"):
        gene_label.get_sample_rate(x)


SCALE_CASES = [(cls, "normal") for cls in (VAE, LDVAE, SCANVI, VAEC, AutoZIVAE)]
SCALE_CASES += [(VAE, "ln"), (LDVAE, "ln")]


@pytest.mark.parametrize(
    "cls, latent", SCALE_CASES, ids=[f"{c.__name__}-{z}" for c, z in SCALE_CASES]
)
def test_sample_scale_is_the_px_scale_of_inference(cls, latent):
    # get_sample_scale skips the library encoder and the other decoder heads; it
    # must draw the same z and decode the same frequencies as inference
    torch.manual_seed(0)
    kwargs = dict(n_batch=3, n_labels=N_LABELS, n_hidden=N_HIDDEN, n_latent=N_LATENT)
    if latent == "ln":
        kwargs["latent_distribution"] = "ln"
    model = cls(N_GENES, **kwargs).eval()
    x, _, _, batch_index, labels = make_minibatch(3)
    for n_samples, transform_batch in [(1, None), (3, None), (1, 2), (2, 0)]:
        torch.manual_seed(7)
        scale = model.get_sample_scale(
            x, batch_index, labels, n_samples=n_samples, transform_batch=transform_batch
        )
        torch.manual_seed(7)
        reference = model.inference(
            x, batch_index, labels, n_samples=n_samples, transform_batch=transform_batch
        )["px_scale"]
        torch.testing.assert_close(scale, reference, rtol=0, atol=0)
        shape = (N_CELLS, N_GENES) if n_samples == 1 else (n_samples, N_CELLS, N_GENES)
        assert scale.shape == shape


def test_log_variational_switch():
    model = VAE(N_GENES, n_hidden=N_HIDDEN, log_variational=False).eval()
    x = make_minibatch(0)[0]
    qz_m = model.z_encoder(x)[0]
    torch.testing.assert_close(model.sample_from_posterior_z(x, give_mean=True), qz_m)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(dispersion="cell"), "'gene', 'gene-batch', 'gene-label', 'gene-cell'"),
        (dict(reconstruction_loss="gaussian"), "'zinb', 'nb', 'poisson'"),
        (dict(latent_distribution="gamma"), "'normal', 'ln'"),
        (dict(dispersion="gene-batch", n_batch=0), "n_batch >= 1"),
        (dict(dispersion="gene-label", n_labels=0), "n_labels >= 1"),
    ],
)
@pytest.mark.parametrize("cls", [VAE, LDVAE])
def test_invalid_options(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(N_GENES, **kwargs)


@pytest.mark.parametrize("use_batch_norm", [True, False])
@pytest.mark.parametrize("with_batches", [False, True])
def test_ldvae_loadings_are_the_linear_map(use_batch_norm, with_batches):
    model = make_model(
        LDVAE, "gene", "nb", "normal", with_batches, use_batch_norm=use_batch_norm
    )
    x, l_mean, l_var, batch_index, labels = make_minibatch(model.n_batch)
    model.train()
    model(x, l_mean, l_var, batch_index, labels)  # moves the running statistics
    model.eval()
    loadings = model.get_loadings()
    assert isinstance(loadings, np.ndarray) and loadings.dtype == np.float32
    assert loadings.shape == (N_GENES, N_LATENT)
    z_1, z_2 = torch.randn(N_CELLS, N_LATENT), torch.randn(N_CELLS, N_LATENT)
    library = torch.zeros(N_CELLS, 1)
    scale_1 = model.generative(z_1, library, batch_index, labels)["px_scale"]
    scale_2 = model.generative(z_2, library, batch_index, labels)["px_scale"]
    gap = torch.log(scale_1) - torch.log(scale_2)
    gap = gap - (z_1 - z_2) @ torch.from_numpy(loadings).t()
    # softmax normalisers differ per cell but not per gene
    torch.testing.assert_close(gap, gap[:, :1].expand_as(gap), atol=1e-4, rtol=0)


def test_ldvae_defaults():
    model = LDVAE(N_GENES)
    assert model.reconstruction_loss == "nb" and model.n_latent == 10
    assert model.decoder.factor_regressor.fc_layers[0][0].bias is None


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("n_layers", [1, 2])
def test_classifier(logits, n_layers):
    torch.manual_seed(0)
    classifier = Classifier(
        N_LATENT, n_hidden=6, n_labels=4, n_layers=n_layers, logits=logits
    )
    z = torch.randn(N_CELLS, N_LATENT)
    out = classifier(z)
    assert out.shape == (N_CELLS, 4) and out.dtype == torch.float32
    if logits:
        assert (out < 0).any()
        probs = torch.softmax(out, -1)
    else:
        probs = out
        assert (out >= 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(N_CELLS))
    loss = torch.nn.functional.nll_loss(torch.log(probs), torch.arange(16) % 4)
    loss.backward()
    for name, param in classifier.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    with pytest.raises(ValueError, match="n_labels"):
        Classifier(N_LATENT, n_labels=0)


def make_dataset(n_batch, seed=0, n_cells=96, batch_size=32):
    """Mini-batches of a small synthetic data set with three cell types."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_cells) % 3
    profiles = torch.rand(3, N_GENES, generator=gen) * 4 + 0.2
    rate = profiles[labels] * torch.exp(0.3 * torch.randn(n_cells, 1, generator=gen))
    x = torch.poisson(rate, generator=gen)
    x = x * (torch.rand(n_cells, N_GENES, generator=gen) > 0.2)
    log_lib = torch.log(x.sum(1, keepdim=True).clamp(min=1.0))
    l_mean = torch.full((n_cells, 1), float(log_lib.mean()))
    l_var = torch.full((n_cells, 1), float(log_lib.var()))
    batch_index = (torch.arange(n_cells) % max(n_batch, 1)).view(-1, 1)
    tensors = (x, l_mean, l_var, batch_index, labels.view(-1, 1))
    return [
        tuple(t[i : i + batch_size] for t in tensors)
        for i in range(0, n_cells, batch_size)
    ]


def train(model, batches, n_epochs=40, lr=1e-2):
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=lr
    )
    model.train()
    for _ in range(n_epochs):
        for x, l_mean, l_var, batch_index, labels in batches:
            reconst, kl, _ = model(x, l_mean, l_var, batch_index, labels)
            optimizer.zero_grad()
            (reconst + kl).mean().backward()
            optimizer.step()
    model.eval()


@pytest.mark.parametrize(
    "cls,latent,dispersion",
    [(VAE, "normal", "gene"), (VAE, "ln", "gene-batch"), (LDVAE, "normal", "gene")],
)
def test_elbo_helper_decreases_with_training(cls, latent, dispersion):
    model = make_model(cls, dispersion, "zinb", latent, True).eval()
    batches = make_dataset(model.n_batch)
    before = compute_elbo(model, batches)
    assert np.isfinite(before)
    train(model, batches)
    after = compute_elbo(model, batches)
    assert np.isfinite(after) and after < before
    assert np.isfinite(compute_reconstruction_error(model, batches))
    marginal = compute_marginal_log_likelihood_scvi(model, batches, n_samples_mc=4)
    assert np.isfinite(marginal) and marginal > 0
