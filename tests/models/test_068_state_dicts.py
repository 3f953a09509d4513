"""Models saved by scVI 0.6.8 load here (``strict=True``) and give its outputs.

Reads ``../shared/data/scvi-0.6.8-saved`` (state dicts of untrained models built
with the arguments of ``models.json``, and the outputs 0.6.8 gave for fixed inputs);
skipped without it.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scvi.models import LDVAE, SCANVI, VAE, AutoZIVAE

SAVED = Path(__file__).resolve().parents[3] / "shared" / "data" / "scvi-0.6.8-saved"
pytestmark = pytest.mark.skipif(not SAVED.is_dir(), reason="no scvi-0.6.8-saved data")


def load(name, model_class):
    specs = json.loads((SAVED / "models.json").read_text())["models"]
    model = model_class(**specs[name]["kwargs"])
    state = torch.load(SAVED / f"{name}.pt", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def expected():
    return np.load(SAVED / "expected.npz")


def close(ours, theirs):
    ours = ours.detach().numpy() if torch.is_tensor(ours) else np.asarray(ours)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "name, model_class", [("vae", VAE), ("ldvae", LDVAE), ("scanvi", SCANVI)]
)
def test_latent_means_match(expected, name, model_class):
    model = load(name, model_class)
    x = torch.from_numpy(expected["x"])
    with torch.no_grad():
        close(
            model.sample_from_posterior_z(x, give_mean=True), expected[f"{name}_z_mean"]
        )


def test_ldvae_loadings_match(expected):
    close(load("ldvae", LDVAE).get_loadings(), expected["ldvae_loadings"])


def test_scanvi_classification_matches(expected):
    model = load("scanvi", SCANVI)
    with torch.no_grad():
        close(
            model.classify(torch.from_numpy(expected["x"])), expected["scanvi_classify"]
        )


def test_autozivae_posteriors_and_priors_match(expected):
    values = load("autozivae", AutoZIVAE).get_alphas_betas(as_numpy=True)
    for name in ("alpha_posterior", "beta_posterior", "alpha_prior", "beta_prior"):
        close(np.ravel(values[name]), np.ravel(expected[f"autozivae_{name}"]))


@pytest.mark.parametrize("model_class", [LDVAE, SCANVI, AutoZIVAE])
def test_own_state_dicts_still_load(model_class):
    kwargs = dict(n_input=20, n_batch=2)
    if model_class is SCANVI:
        kwargs["n_labels"] = 3
    model = model_class(**kwargs).eval()
    copy = model_class(**kwargs).eval()
    copy.load_state_dict(model.state_dict(), strict=True)
    x = torch.poisson(torch.full((6, 20), 3.0))
    with torch.no_grad():
        torch.testing.assert_close(
            copy.sample_from_posterior_z(x, give_mean=True),
            model.sample_from_posterior_z(x, give_mean=True),
        )


def test_posterior_saved_by_scvi_068_loads(expected):
    from scvi.inference import Posterior, load_posterior

    specs = json.loads((SAVED / "models.json").read_text())["models"]
    spec = specs["posterior_vae_train"]
    model = VAE(**spec["kwargs"])
    posterior = load_posterior(str(SAVED / "posterior_vae_train"), model=model)
    assert type(posterior) is Posterior
    np.testing.assert_array_equal(posterior.indices, spec["indices"])
    assert posterior.gene_dataset.nb_genes == spec["kwargs"]["n_input"]
    x = torch.from_numpy(expected["x"])
    with torch.no_grad():
        close(
            model.sample_from_posterior_z(x, give_mean=True),
            expected["posterior_vae_z_mean"],
        )
    latent = posterior.get_latent(give_mean=True)[0]
    assert latent.shape == (len(spec["indices"]), spec["kwargs"]["n_latent"])


def test_jvae_with_scvi_068_defaults_loads_and_matches(expected):
    from scvi.models import JVAE

    specs = json.loads((SAVED / "models.json").read_text())["models"]
    kwargs = dict(specs["jvae"]["kwargs"])
    kwargs["indices_mappings"] = [np.asarray(i) for i in kwargs["indices_mappings"]]
    model = JVAE(**kwargs)  # gene-batch dispersion with n_batch=0, as in 0.6.8
    state = torch.load(SAVED / "jvae.pt", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.from_numpy(expected["x"])
    with torch.no_grad():
        z0 = model.sample_from_posterior_z(x, mode=0, deterministic=True)
        z1 = model.sample_from_posterior_z(x[:, :50], mode=1, deterministic=True)
    close(z0, expected["jvae_z_mode0"])
    close(z1, expected["jvae_z_mode1"])
    # decoding needs a dispersion per batch, which n_batch=0 does not give
    # (scVI 0.6.8 fails there too): a clear error
    batch = torch.zeros(x.shape[0], 1, dtype=torch.long)
    ones = torch.ones(x.shape[0], 1)
    with pytest.raises(ValueError, match="n_batch >= 1"):
        model(x, ones, ones, batch, None, mode=0)


def test_totalvi_loads_and_matches(expected):
    """0.6.8's encoder layout (extra hidden layers for z and the library) and
    decoder heads (one layer that sees the batch) load; the logistic-normal mean
    is a Monte Carlo average, so the comparison is loose."""
    from scvi.models import TOTALVI

    model = load("totalvi", TOTALVI)
    x = torch.from_numpy(expected["x"])
    y = torch.from_numpy(expected["y"])
    batch = torch.from_numpy(expected["batch"]).long().view(-1, 1)
    torch.manual_seed(0)
    with torch.no_grad():
        z = model.sample_from_posterior_z(x, y, batch, give_mean=True, n_samples=20000)
    # two calls of scVI 0.6.8 (5,000 draws each) differ by up to 0.012
    np.testing.assert_allclose(z.numpy(), expected["totalvi_z_mean"], atol=0.03)
    assert np.abs(z.numpy() - expected["totalvi_z_mean"]).mean() < 3e-3
    # the means of the Gaussian are exact: their softmax is close to the MC mean
    with torch.no_grad():
        qz_m = model.inference(x, y, batch)["qz_m"]
    assert (
        np.abs(torch.softmax(qz_m, -1).numpy() - expected["totalvi_z_mean"]).max() < 0.1
    )
