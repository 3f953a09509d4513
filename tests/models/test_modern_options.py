"""Opt-in model options of the scVI family (observed library, covariates in the
encoders, layer / batch norm placement, extra covariates, presets)."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import nbinom, norm

from scvi.dataset import SyntheticDataset
from scvi.inference import UnsupervisedTrainer
from scvi.models import LDVAE, SCANVI, VAE
from scvi.models._vae_options import MODEL_PRESETS, resolve_model_options

N_GENES = 20


@pytest.fixture(scope="module")
def dataset():
    torch.manual_seed(0)
    np.random.seed(0)
    ds = SyntheticDataset(batch_size=40, nb_genes=N_GENES, n_batches=2, n_labels=3)
    rng = np.random.default_rng(0)
    ds.initialize_cell_attribute("cont_covs", rng.normal(size=(ds.nb_cells, 2)))
    ds.initialize_cell_attribute("cat_covs", rng.integers(0, 3, (ds.nb_cells, 2)))
    return ds


# each option at each of its values, and the presets, in 8 combinations
COMBINATIONS = [
    dict(),
    dict(preset="modern"),
    dict(use_observed_lib_size=True, encode_covariates=True),
    dict(encode_covariates=True, deeply_inject_covariates=False, n_layers=2),
    dict(use_batch_norm="encoder", use_layer_norm="decoder", n_layers=2),
    dict(use_batch_norm="decoder", use_layer_norm="encoder"),
    dict(use_batch_norm="none", use_layer_norm="none", n_continuous_cov=2),
    dict(
        preset="modern",
        encode_covariates=True,
        n_continuous_cov=2,
        n_cats_per_cov=[3, 3],
        reconstruction_loss="nb",
        dispersion="gene-batch",
    ),
]


@pytest.mark.parametrize("options", COMBINATIONS, ids=str)
def test_every_combination_trains_and_answers_every_query(dataset, options):
    torch.manual_seed(1)
    model = VAE(N_GENES, n_batch=2, n_labels=3, n_hidden=16, n_latent=4, **options)
    trainer = UnsupervisedTrainer(model, dataset, show_progbar=False, frequency=1)
    trainer.train(n_epochs=2)
    assert np.isfinite(trainer.history["elbo_train_set"]).all()
    post = trainer.create_posterior(model, dataset, indices=np.arange(dataset.nb_cells))
    n = dataset.nb_cells
    latent, batches, labels = post.get_latent()
    assert latent.shape == (n, 4) and np.isfinite(latent).all()
    scale = post.get_sample_scale()
    np.testing.assert_allclose(scale.sum(1), 1, rtol=1e-4)
    assert post.get_sample_scale(transform_batch=[0, 1]).shape == (n, N_GENES)
    assert post.imputation(n_samples=2).shape == (2, n, N_GENES)
    assert np.isfinite(post.marginal_ll(n_mc_samples=3))
    assert np.isfinite(post.elbo()) and np.isfinite(post.reconstruction_error())
    x_new, x_old = post.generate(n_samples=2)
    assert x_new.shape == (n, N_GENES, 2) and (x_new >= 0).all()
    assert [a.shape for a in post.generate_parameters()] == [(n, N_GENES)] * 3
    assert post.generate_denoised_samples(n_samples=2).shape == (n, N_GENES, 2)
    assert post.get_stats().shape == (n,)
    de = post.differential_expression_score(
        idx1=np.arange(20), idx2=np.arange(20, 40), n_samples=20
    )
    assert de.shape[0] == N_GENES and np.isfinite(de["bayes_factor"]).all()


def test_observed_library_is_each_cells_log_total():
    model = VAE(5, use_observed_lib_size=True)
    assert not hasattr(model, "l_encoder")
    x = torch.tensor([[1.0, 2, 0, 0, 3], [0, 0, 0, 0, 0]])
    out = model.inference(x, n_samples=3)
    assert out["ql_m"] is None and out["library"].shape == (3, 2, 1)
    np.testing.assert_allclose(out["library"][:, :, 0], [[np.log(6), 0]] * 3)
    torch.testing.assert_close(out["px_rate"], out["px_scale"] * out["library"].exp())
    kl_z, kl_l = model.kl_divergences(out, None, None)
    assert (kl_l == 0).all()
    np.testing.assert_allclose(model.sample_from_posterior_l(x)[:, 0], [np.log(6), 0])


def test_marginal_ll_with_an_observed_library_matches_scipy(monkeypatch):
    """log p(x) by importance sampling, recomputed with scipy from the same
    draws: p(x|z, l_obs) NB, p(z) N(0, I), q(z|x); no library term."""
    torch.manual_seed(0)
    ds = SyntheticDataset(batch_size=10, nb_genes=6, n_batches=1)
    model = VAE(6, n_latent=2, n_hidden=8, reconstruction_loss="nb", preset="modern")
    model.eval()
    draws = []
    original = model.inference

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        draws.append({k: None if v is None else v.numpy() for k, v in out.items()})
        draws[-1]["x"] = args[0].numpy()
        return out

    monkeypatch.setattr(model, "inference", recording)
    trainer = UnsupervisedTrainer(model, ds, train_size=1.0, show_progbar=False)
    ours = trainer.train_set.sequential(batch_size=20).marginal_ll(n_mc_samples=4)
    log_w = []
    for out in draws:
        x = out["x"].astype(np.float64)
        mu, theta = out["px_rate"].astype(np.float64), out["px_r"].astype(np.float64)
        log_px = nbinom.logpmf(x, theta, theta / (theta + mu)).sum(-1)
        z = out["z"].astype(np.float64)
        log_pz = norm.logpdf(z).sum(-1)
        log_qz = norm.logpdf(z, out["qz_m"], np.sqrt(out["qz_v"])).sum(-1)
        log_w.append(log_px + log_pz - log_qz)
    expected = -np.mean(logsumexp(np.stack(log_w, -1), -1) - np.log(4))
    np.testing.assert_allclose(ours, expected, rtol=1e-4)


def test_defaults_are_scvi_06():
    assert resolve_model_options(None) == MODEL_PRESETS["scvi-0.6"]
    model = VAE(10, n_batch=2)
    assert model.model_options == MODEL_PRESETS["scvi-0.6"]
    names = [type(m).__name__ for m in model.modules()]
    assert "LayerNorm" not in names and names.count("BatchNorm1d") == 3
    # the 0.6 state dict names
    assert "l_encoder.encoder.fc_layers.Layer 0.1.running_mean" in model.state_dict()
    assert model.decoder.px_decoder.fc_layers[0][0].in_features == 10 + 2


def test_presets_and_explicit_options():
    modern = VAE(10, n_batch=2, preset="modern")
    names = [type(m).__name__ for m in modern.modules()]
    # no library encoder: batch norm in the z encoder and the decoder only
    assert "LayerNorm" not in names and names.count("BatchNorm1d") == 2
    assert not hasattr(modern, "l_encoder") and modern.use_observed_lib_size
    layer = VAE(10, preset="modern", use_batch_norm="none", use_layer_norm="both")
    names = [type(m).__name__ for m in layer.modules()]
    assert "BatchNorm1d" not in names and names.count("LayerNorm") == 2
    override = VAE(10, preset="modern", use_observed_lib_size=False)
    assert hasattr(override, "l_encoder") and override.use_observed_lib_size is False


def test_covariate_injection_widths():
    deep = VAE(
        10,
        n_batch=3,
        n_layers=2,
        n_hidden=8,
        encode_covariates=True,
        n_cats_per_cov=[4],
        n_continuous_cov=2,
    )
    layers = deep.z_encoder.encoder.fc_layers
    assert layers[0][0].in_features == 10 + 2 + 3 + 4
    assert layers[1][0].in_features == 8 + 3 + 4
    # decoder: n_latent + continuous, then batch and extra categories one-hot
    assert deep.decoder.px_decoder.fc_layers[0][0].in_features == 10 + 2 + 3 + 4
    shallow = VAE(10, n_batch=3, n_layers=2, n_hidden=8, deeply_inject_covariates=False)
    assert shallow.decoder.px_decoder.fc_layers[1][0].in_features == 8


def test_encoded_batch_changes_the_latent():
    torch.manual_seed(0)
    model = VAE(10, n_batch=2, encode_covariates=True).eval()
    x = torch.poisson(torch.full((4, 10), 3.0))
    z0 = model.sample_from_posterior_z(x, give_mean=True, batch_index=torch.zeros(4, 1))
    z1 = model.sample_from_posterior_z(x, give_mean=True, batch_index=torch.ones(4, 1))
    assert not torch.allclose(z0, z1)
    with pytest.raises(ValueError, match="needs batch_index"):
        model.sample_from_posterior_z(x)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(preset="new"), "preset must be one of"),
        (dict(use_layer_norm="all"), "use_layer_norm must be one of"),
        (dict(use_batch_norm=True), "use_batch_norm must be one of"),
        (dict(use_observed_lib_size="yes"), "use_observed_lib_size must be a bool"),
        (dict(deeply_inject_covariates=1), "deeply_inject_covariates must be a bool"),
        (dict(n_continuous_cov=-1), "n_continuous_cov must be an int >= 0"),
        (dict(n_cats_per_cov=[0]), "n_cats_per_cov must hold integers >= 1"),
    ],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE(10, **kwargs)


def test_missing_covariates_raise():
    model = VAE(10, n_continuous_cov=2)
    x = torch.ones(3, 10)
    with pytest.raises(ValueError, match=r"cont_covs must have shape \(batch, 2\)"):
        model.inference(x)


def test_ldvae_and_scanvi_take_the_options(dataset):
    ld = LDVAE(N_GENES, n_batch=2, n_latent=3, preset="modern", n_continuous_cov=2)
    assert ld.get_loadings().shape == (N_GENES, 3)  # latent dims only
    assert ld.decoder.factor_regressor.fc_layers[0][0].in_features == 3 + 2 + 2
    trainer = UnsupervisedTrainer(ld, dataset, show_progbar=False)
    trainer.train(n_epochs=1)
    post = trainer.create_posterior(ld, dataset, indices=np.arange(dataset.nb_cells))
    assert np.isfinite(post.get_latent()[0]).all()
    scanvi = SCANVI(N_GENES, n_batch=2, n_labels=3, use_observed_lib_size=True)
    x = torch.tensor(dataset.X[:5], dtype=torch.float32)
    b = torch.tensor(dataset.batch_indices[:5])
    terms = scanvi(x, torch.zeros(5, 1), torch.ones(5, 1), batch_index=b)
    assert all(torch.isfinite(t).all() for t in terms[:2])
    with pytest.raises(ValueError, match="SCANVI supports neither"):
        SCANVI(N_GENES, n_labels=3, encode_covariates=True)
