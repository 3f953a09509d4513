"""Opt-in model options of TOTALVI (issue 23): observed library size, batch /
layer norm placement, covariate injection depth, presets; 0.6 stays the default."""

import inspect
import re

import numpy as np
import pytest
import torch
from scipy.special import expit, logsumexp
from scipy.stats import nbinom, norm

from scvi.dataset import SyntheticDataset
from scvi.inference import TotalPosterior
from scvi.models import TOTALVI, VAE
from scvi.models._vae_options import MODEL_PRESETS

G, P = 20, 5


@pytest.fixture(scope="module")
def dataset():
    np.random.seed(0)
    return SyntheticDataset(batch_size=30, nb_genes=G, n_proteins=P, n_batches=2)


def small(**kwargs):
    kwargs = dict(dict(n_batch=2, n_hidden=16, n_latent=4), **kwargs)
    return TOTALVI(G, P, **kwargs)


# each option at each of its values, presets, with 0.6 options beside them
COMBINATIONS = [
    (dict(), dict()),
    (dict(preset="modern"), dict(use_adversarial_loss=True)),
    (
        dict(
            preset="modern",
            reconstruction_loss_gene="zinb",
            latent_distribution="normal",
            n_layers_decoder=2,
            protein_batch_mask=[np.ones(P, bool), np.arange(P) % 2 == 0],
        ),
        dict(),
    ),
    (dict(use_observed_lib_size=True, encoder_batch=False), dict()),
    (
        dict(
            use_batch_norm="encoder",
            use_layer_norm="decoder",
            deeply_inject_covariates=False,
            n_layers_encoder=2,
            n_layers_decoder=2,
        ),
        dict(),
    ),
    (dict(use_batch_norm="decoder", use_layer_norm="encoder"), dict()),
    (dict(use_batch_norm="none", use_layer_norm="none"), dict()),
    (
        dict(
            use_batch_norm="both",
            use_layer_norm="both",
            use_observed_lib_size=True,
            gene_dispersion="gene-batch",
        ),
        dict(),
    ),
]


@pytest.mark.parametrize("options, trainer_options", COMBINATIONS, ids=str)
def test_every_combination_trains_and_answers_every_query(
    dataset, options, trainer_options, train_totalvi, check_every_totalvi_query
):
    torch.manual_seed(1)
    model = small(**options)
    trainer = train_totalvi(model, dataset, 32, **trainer_options)
    post = trainer.create_posterior(indices=np.arange(dataset.nb_cells))
    check_every_totalvi_query(post, dataset, n_latent=4)


def norm_counts(module):
    names = [type(m).__name__ for m in module.modules()]
    return names.count("BatchNorm1d"), names.count("LayerNorm")


@pytest.mark.parametrize(
    "options, encoder, decoder",
    [  # (batch norms, layer norms) of the encoder and of the decoder
        (dict(), (4, 0), (5, 0)),
        (dict(use_batch_norm="none", use_observed_lib_size=True), (0, 0), (0, 0)),
        (dict(use_batch_norm="encoder", use_layer_norm="decoder"), (4, 0), (0, 5)),
        (dict(use_batch_norm="decoder", use_layer_norm="encoder"), (0, 4), (5, 0)),
        (dict(use_batch_norm="none", use_layer_norm="both"), (0, 4), (0, 5)),
        (dict(use_batch_norm="both", use_layer_norm="both"), (4, 4), (5, 5)),
    ],
    ids=str,
)
def test_normalisations_are_placed_as_asked(options, encoder, decoder):
    """2 shared encoder layers + the z and library blocks (no library block with
    an observed library); 2 gene layers + 3 protein stacks; heads never."""
    model = small(n_layers_encoder=2, n_layers_decoder=2, **options)
    assert norm_counts(model.encoder) == encoder
    assert norm_counts(model.decoder) == decoder
    assert norm_counts(model.decoder.px_scale_decoder) == (0, 0)
    layer_norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert all(not m.elementwise_affine for m in layer_norms)


def test_covariate_injection_depth():
    kwargs = dict(n_batch=3, n_hidden=8, n_latent=4, n_layers_encoder=2)
    for deep, width in ((True, 8 + 3), (False, 8)):
        model = TOTALVI(
            G, P, n_layers_decoder=2, deeply_inject_covariates=deep, **kwargs
        )
        assert model.encoder.encoder.fc_layers[0][0].in_features == G + P + 3
        assert model.encoder.encoder.fc_layers[1][0].in_features == width
        assert model.decoder.px_decoder.fc_layers[0][0].in_features == 4 + 3
        assert model.decoder.px_decoder.fc_layers[1][0].in_features == width
        # the heads see hidden units, z and the batch either way
        head = model.decoder.px_scale_decoder.fc_layers[0][0]
        assert head.in_features == 8 + 4 + 3
    unencoded = TOTALVI(G, P, encoder_batch=False, preset="modern", **kwargs)
    assert unencoded.encoder.encoder.fc_layers[0][0].in_features == G + P
    assert unencoded.model_options["encode_covariates"] is False


def test_defaults_are_scvi_06_and_explicit_06_values_change_nothing():
    model = TOTALVI(G, P, n_batch=2)
    assert model.model_options == dict(
        MODEL_PRESETS["scvi-0.6"], encode_covariates=True
    )
    keys = model.state_dict()
    assert "encoder.l_gene_encoder.1.running_mean" in keys  # 0.6.8's names
    assert "encoder.z_encoder.1.running_mean" in keys
    explicit = dict(
        preset="scvi-0.6",
        use_observed_lib_size=False,
        use_batch_norm="both",
        use_layer_norm="none",
        deeply_inject_covariates=True,
    )
    torch.manual_seed(0)
    default = small(n_layers_decoder=2)
    torch.manual_seed(0)
    given = small(n_layers_decoder=2, **explicit)
    assert list(default.state_dict()) == list(given.state_dict())
    for name, value in default.state_dict().items():
        assert torch.equal(value, given.state_dict()[name]), name
    x, y = torch.poisson(torch.full((6, G), 3.0)), torch.poisson(
        torch.full((6, P), 9.0)
    )
    b, ones = torch.tensor([[0], [1]] * 3), torch.ones(6, 1)
    torch.manual_seed(2)
    first = default(x, y, ones, ones, b)
    torch.manual_seed(2)
    second = given(x, y, ones, ones, b)
    assert all(torch.equal(u, v) for u, v in zip(first, second))


def test_signature_keeps_the_manuals_positional_parameters():
    params = inspect.signature(TOTALVI).parameters.values()
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional[-3:] == [
        "latent_distribution",
        "protein_batch_mask",
        "encoder_batch",
    ]
    assert len(positional) == 17
    keyword_only = {p.name for p in params if p.kind is p.KEYWORD_ONLY}
    assert keyword_only == {
        "use_observed_lib_size",
        "use_batch_norm",
        "use_layer_norm",
        "deeply_inject_covariates",
        "n_continuous_cov",
        "n_cats_per_cov",
        "preset",
    }


def test_modern_preset_is_read_from_model_presets(monkeypatch):
    modern = dict(
        use_observed_lib_size=False,
        encode_covariates=False,
        deeply_inject_covariates=False,
        use_batch_norm="none",
        use_layer_norm="encoder",
    )
    for name, value in modern.items():
        monkeypatch.setitem(MODEL_PRESETS["modern"], name, value)
    model = small(preset="modern", n_layers_decoder=2)
    assert norm_counts(model.encoder) == (0, 3) and norm_counts(model.decoder) == (0, 0)
    assert hasattr(model.encoder, "l_gene_encoder")
    assert model.decoder.px_decoder.fc_layers[1][0].in_features == 16  # not deep
    # the batch stays encoded: encoder_batch (True) plays encode_covariates' part
    assert model.model_options == dict(modern, encode_covariates=True)
    assert model.encoder.encoder.fc_layers[0][0].in_features == G + P + 2
    # given options override the preset's
    model = small(preset="modern", use_observed_lib_size=True, use_layer_norm="both")
    assert not hasattr(model.encoder, "l_gene_encoder")
    assert norm_counts(model.decoder) == (0, 4)


def test_observed_library_is_each_cells_total_gene_count():
    model = TOTALVI(5, 2, n_hidden=8, n_latent=3, use_observed_lib_size=True).eval()
    assert not hasattr(model.encoder, "l_gene_encoder")
    assert not any("l_gene" in name for name in model.state_dict())
    x = torch.tensor([[1.0, 2, 0, 0, 3], [0, 0, 0, 0, 0]])
    y = torch.tensor([[4.0, 100], [7, 0]])  # proteins do not count
    out = model.inference(x, y, n_samples=3)
    assert out["ql_m"] is None and out["ql_v"] is None
    assert out["untran_l"].shape == (3, 2, 1) and out["z"].shape == (3, 2, 3)
    np.testing.assert_allclose(out["untran_l"][:, :, 0], [[np.log(6), 0]] * 3)
    rate = out["px_"]["scale"] * out["library_gene"]
    torch.testing.assert_close(out["px_"]["rate"], rate)
    for give_mean in (True, False):
        library = model.sample_from_posterior_l(x, y, give_mean=give_mean)
        np.testing.assert_allclose(library[:, 0], [6, 1], rtol=1e-6)
    ones = torch.ones(2, 1)
    _, _, kl_z, kl_l, _ = model(x, y, ones, ones)
    assert (kl_l == 0).all() and (kl_z > 0).all()
    assert model.inference(x, y, gene_dropout=False)["px_"]["dropout"] is None


def test_marginal_ll_with_an_observed_library_matches_scipy(monkeypatch):
    """log p(x, y) by importance sampling, recomputed with scipy from the same
    draws: NB genes at the observed library, NB mixture proteins, p(z) / q(z)
    and the background prior / posterior; no library term."""
    np.random.seed(1)
    ds = SyntheticDataset(batch_size=10, nb_genes=6, n_proteins=3, n_batches=2)
    torch.manual_seed(0)
    model = TOTALVI(6, 3, n_batch=2, n_hidden=8, n_latent=2, preset="modern")
    draws, original = [], model.inference

    def recording(x, y, batch_index=None, *args, **kwargs):
        out = original(x, y, batch_index, *args, **kwargs)
        draw = {k: out[k].numpy() for k in ("untran_z", "qz_m", "qz_v")}
        draw.update({k: v.numpy() for k, v in out["px_"].items() if v is not None})
        draw.update({"py_" + k: v.numpy() for k, v in out["py_"].items()})
        draw.update(x=x.numpy(), y=y.numpy(), b=batch_index.numpy().ravel())
        draw["beta"] = out["log_pro_back_mean"].numpy()
        draws.append(draw)
        return out

    monkeypatch.setattr(model, "inference", recording)
    ours = TotalPosterior(model, ds, use_cuda=False).marginal_ll(n_mc_samples=4)
    alpha = model.background_pro_alpha.detach().numpy().astype(np.float64)
    log_beta = model.background_pro_log_beta.detach().numpy().astype(np.float64)
    log_w = []
    for d in draws:
        d = {k: v.astype(np.float64) for k, v in d.items()}
        x, y, b = d["x"], d["y"], d["b"].astype(int)
        np.testing.assert_allclose(
            d["rate"], d["scale"] * x.sum(1, keepdims=True), 1e-5
        )
        theta, phi = d["r"], d["py_r"]
        log_px = nbinom.logpmf(x, theta, theta / (theta + d["rate"])).sum(-1)
        back = nbinom.logpmf(y, phi, phi / (phi + d["py_rate_back"]))
        fore = nbinom.logpmf(y, phi, phi / (phi + d["py_rate_fore"]))
        pi = expit(d["py_mixing"])
        log_py = np.logaddexp(np.log(pi) + back, np.log1p(-pi) + fore).sum(-1)
        z = d["untran_z"]
        log_z = norm.logpdf(z).sum(-1) - norm.logpdf(
            z, d["qz_m"], np.sqrt(d["qz_v"])
        ).sum(-1)
        prior = norm.logpdf(d["beta"], alpha[:, b].T, np.exp(log_beta[:, b].T))
        post = norm.logpdf(d["beta"], d["py_back_alpha"], d["py_back_beta"])
        log_w.append(log_px + log_py + log_z + (prior - post).sum(-1))
    assert len(log_w) == 4
    expected = -np.mean(logsumexp(np.stack(log_w), 0) - np.log(4))
    np.testing.assert_allclose(ours, expected, rtol=1e-4)


@pytest.mark.parametrize(
    "name, bad",
    [
        ("preset", "new"),
        ("use_layer_norm", "all"),
        ("use_batch_norm", True),
        ("use_observed_lib_size", "yes"),
        ("deeply_inject_covariates", 1),
        ("n_continuous_cov", -1),
        ("n_continuous_cov", 1.5),
        ("n_cats_per_cov", [0]),
    ],
)
def test_bad_options_raise_as_for_vae(name, bad):
    """The same checks and messages as VAE's, naming the argument."""
    with pytest.raises(ValueError) as vae_error:
        VAE(G, **{name: bad})
    message = str(vae_error.value)
    assert message.startswith(name)
    with pytest.raises(ValueError, match=re.escape(message)):
        TOTALVI(G, P, **{name: bad})
