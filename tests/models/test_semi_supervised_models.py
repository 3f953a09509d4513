"""VAEC and SCANVI: label marginalisation, classifiers, gradients and the helpers."""

import itertools

import numpy as np
import pytest
import torch

import scvi.models.modules.encoders as encoders_module
from scvi.models._likelihoods import gaussian_kl, gaussian_log_prob
from scvi.models.log_likelihood import (
    compute_elbo,
    compute_reconstruction_error,
    log_nb_positive,
    log_zinb_positive,
)
from scvi.models.scanvi import SCANVI
from scvi.models.vaec import VAEC

N_CELLS, N_GENES, N_LATENT, N_HIDDEN, N_LABELS = 16, 12, 3, 8, 3
GROUPS = [1, 0, 1]
DISPERSIONS = ["gene", "gene-batch", "gene-label", "gene-cell"]
LOSSES = ["zinb", "nb", "poisson"]
COMBINATIONS = list(
    itertools.product(DISPERSIONS, LOSSES, [False, True], [False, True])
)
IDS = [
    "-".join([d, r, "batches" if b else "nobatch", "labelled" if y else "unlabelled"])
    for d, r, b, y in COMBINATIONS
]
MODELS = [
    ("VAEC", {}),
    ("SCANVI", {}),
    ("SCANVI", dict(labels_groups=GROUPS, use_labels_groups=True)),
]
MODEL_IDS = ["VAEC", "SCANVI", "SCANVI-groups"]


def make_model(name, dispersion="gene", loss="zinb", with_batches=True, **kwargs):
    n_batch = 3 if with_batches else (1 if dispersion == "gene-batch" else 0)
    cls = VAEC if name == "VAEC" else SCANVI
    torch.manual_seed(0)
    return cls(
        N_GENES,
        n_batch,
        N_LABELS,
        n_hidden=N_HIDDEN,
        n_latent=N_LATENT,
        dispersion=dispersion,
        reconstruction_loss=loss,
        **kwargs,
    )


def make_minibatch(n_batch, seed=0):
    """A zero-rich mini-batch tuple as built by the dataset collate functions."""
    gen = torch.Generator().manual_seed(seed)
    rate = torch.distributions.Gamma(0.6, 0.3).sample((N_CELLS, N_GENES))
    x = torch.poisson(rate, generator=gen)
    x = x * (torch.rand(N_CELLS, N_GENES, generator=gen) > 0.5)
    log_lib = torch.log(x.sum(1, keepdim=True).clamp(min=1.0))
    l_mean = torch.full((N_CELLS, 1), float(log_lib.mean()))
    l_var = torch.full((N_CELLS, 1), float(log_lib.var()) + 0.1)
    batch_index = torch.randint(max(n_batch, 1), (N_CELLS, 1), generator=gen)
    labels = torch.randint(N_LABELS, (N_CELLS, 1), generator=gen)
    return x, l_mean, l_var, batch_index, labels


def unused_parameters(model, dispersion, loss, labelled):
    """Names of the parameters the forward pass of the configuration ignores."""
    prefixes = []
    if loss != "zinb":
        prefixes.append("decoder.px_dropout_decoder.")
    if dispersion != "gene-cell" or loss == "poisson":
        prefixes.append("decoder.px_r_decoder.")
    if loss == "poisson":
        prefixes.append("px_r")
    if labelled:
        prefixes += ["classifier.", "classifier_groups."]
    names = [name for name, _ in model.named_parameters()]
    return {name for name in names if name.startswith(tuple(prefixes))}


@pytest.mark.parametrize("name,kwargs", MODELS, ids=MODEL_IDS)
@pytest.mark.parametrize("dispersion,loss,with_batches,labelled", COMBINATIONS, ids=IDS)
def test_forward_backward_finite(
    name, kwargs, dispersion, loss, with_batches, labelled
):
    model = make_model(name, dispersion, loss, with_batches, **kwargs)
    x, l_mean, l_var, batch_index, labels = make_minibatch(model.n_batch)
    y = labels if labelled else None
    reconst, kl, _ = model(x, l_mean, l_var, batch_index=batch_index, y=y)
    assert reconst.shape == kl.shape == (N_CELLS,)
    assert reconst.dtype == kl.dtype == torch.float32
    assert torch.isfinite(reconst).all() and torch.isfinite(kl).all()
    (reconst + kl).mean().backward()
    unused = unused_parameters(model, dispersion, loss, labelled)
    for param_name, param in model.named_parameters():
        if param_name in unused:
            assert param.grad is None, param_name
        else:
            assert param.grad is not None, param_name
            assert torch.isfinite(param.grad).all(), param_name


@pytest.fixture
def no_noise(monkeypatch):
    """Make every Gaussian sample of the encoders equal to its mean."""
    monkeypatch.setattr(encoders_module, "reparameterize_gaussian", lambda m, v: m)


@pytest.mark.parametrize("name,kwargs", MODELS, ids=MODEL_IDS)
@pytest.mark.parametrize("dispersion", DISPERSIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_unlabelled_loss_is_expectation_over_labels(
    no_noise, name, kwargs, dispersion, loss
):
    model = make_model(name, dispersion, loss, True, **kwargs).eval()
    x, l_mean, l_var, batch_index, _ = make_minibatch(model.n_batch)
    reconst, kl, _ = model(x, l_mean, l_var, batch_index, None)
    per_label = [
        model(x, l_mean, l_var, batch_index, torch.full((N_CELLS, 1), k))
        for k in range(N_LABELS)
    ]
    probs = model.classify(x)
    expected_reconst = sum(probs[:, k] * per_label[k][0] for k in range(N_LABELS))
    expected_kl = sum(probs[:, k] * per_label[k][1] for k in range(N_LABELS))
    prior = model.y_prior
    expected_kl = expected_kl + (probs * torch.log(probs / prior)).sum(-1)
    torch.testing.assert_close(reconst, expected_reconst)
    torch.testing.assert_close(kl, expected_kl)


def expected_reconstruction(loss, x, out):
    if loss == "zinb":
        log_px = log_zinb_positive(x, out["px_rate"], out["px_r"], out["px_dropout"])
    elif loss == "nb":
        log_px = log_nb_positive(x, out["px_rate"], out["px_r"])
    else:
        log_px = torch.distributions.Poisson(out["px_rate"]).log_prob(x)
    return -log_px.sum(-1)


@pytest.mark.parametrize("name", ["VAEC", "SCANVI"])
@pytest.mark.parametrize("dispersion", DISPERSIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_labelled_loss_matches_hand_computation(name, dispersion, loss):
    model = make_model(name, dispersion, loss).eval()
    x, l_mean, l_var, batch_index, labels = make_minibatch(model.n_batch)
    torch.manual_seed(2)
    out = model.inference(x, batch_index, labels)
    if name == "SCANVI":
        qz2_m, qz2_v, z2 = model.encoder_z2_z1(out["z"], labels)
        pz1_m, pz1_v = model.decoder_z1_z2(z2, labels)
    torch.manual_seed(2)
    reconst_kl_l, kl, _ = model(x, l_mean, l_var, batch_index, labels)
    kl_l = gaussian_kl(out["ql_m"], out["ql_v"], l_mean, l_var)
    expected = expected_reconstruction(loss, x, out) + kl_l
    torch.testing.assert_close(reconst_kl_l, expected)
    if name == "VAEC":
        expected_kl = gaussian_kl(out["qz_m"], out["qz_v"])
    else:
        expected_kl = gaussian_log_prob(out["z"], out["qz_m"], out["qz_v"])
        expected_kl = expected_kl - gaussian_log_prob(out["z"], pz1_m, pz1_v)
        expected_kl = expected_kl + gaussian_kl(qz2_m, qz2_v)
    torch.testing.assert_close(kl, expected_kl)


def test_one_hot_labels_equal_index_labels():
    for name in ["VAEC", "SCANVI"]:
        model = make_model(name, "gene-label").eval()
        x, l_mean, l_var, batch_index, labels = make_minibatch(model.n_batch)
        one_hot = torch.nn.functional.one_hot(labels[:, 0], N_LABELS).float()
        torch.manual_seed(4)
        from_index = model(x, l_mean, l_var, batch_index, labels)
        torch.manual_seed(4)
        from_one_hot = model(x, l_mean, l_var, batch_index, one_hot)
        for a, b in zip(from_index, from_one_hot):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name,kwargs", MODELS, ids=MODEL_IDS)
def test_classify_and_latents(name, kwargs):
    model = make_model(name, **kwargs).eval()
    x, _, _, batch_index, labels = make_minibatch(model.n_batch)
    probs = model.classify(x)
    assert probs.shape == (N_CELLS, N_LABELS) and (probs >= 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(N_CELLS))
    for y in [None, labels]:
        (latent,) = model.get_latents(x, y)
        assert latent.shape == (N_CELLS, N_LATENT) and torch.isfinite(latent).all()
        mean = model.sample_from_posterior_z(x, y, give_mean=True)
        torch.testing.assert_close(mean, model.sample_from_posterior_z(x, y, True))
        scale = model.get_sample_scale(x, batch_index, y, n_samples=2)
        assert scale.shape == (2, N_CELLS, N_GENES)
        torch.testing.assert_close(scale.sum(-1), torch.ones(2, N_CELLS))
    if name == "VAEC":
        predicted = probs.argmax(-1, keepdim=True)
        torch.testing.assert_close(
            model.sample_from_posterior_z(x, None, give_mean=True),
            model.sample_from_posterior_z(x, predicted, give_mean=True),
        )
    else:
        qz1_m = model.z_encoder(torch.log1p(x))[0]
        mean = model.sample_from_posterior_z(x, give_mean=True)
        torch.testing.assert_close(mean, qz1_m)


def test_scanvi_hierarchical_classification():
    model = make_model("SCANVI", labels_groups=GROUPS, use_labels_groups=True).eval()
    assert model.n_groups == 2
    x = make_minibatch(model.n_batch)[0]
    z1 = model.z_encoder(torch.log1p(x))[0]
    probs = model.classify(x)
    label_probs = model.classifier(z1)
    group_probs = model.classifier_groups(z1)
    groups = torch.as_tensor(GROUPS)
    for k in range(N_LABELS):
        same_group = label_probs[:, groups == groups[k]].sum(-1)
        expected = group_probs[:, groups[k]] * label_probs[:, k] / same_group
        torch.testing.assert_close(probs[:, k], expected)
    for g in range(2):
        torch.testing.assert_close(probs[:, groups == g].sum(-1), group_probs[:, g])
    flat = make_model("SCANVI", labels_groups=GROUPS).eval()
    assert not hasattr(flat, "classifier_groups")
    torch.testing.assert_close(
        flat.classify(x), flat.classifier(flat.z_encoder(torch.log1p(x))[0])
    )


def test_priors_and_options():
    for name in ["VAEC", "SCANVI"]:
        model = make_model(name)
        torch.testing.assert_close(model.y_prior, torch.full((3,), 1.0 / 3))
        prior = torch.tensor([[0.1, 0.5, 0.4]])
        model = make_model(name, y_prior=prior)
        torch.testing.assert_close(model.y_prior, prior[0])
        assert model.y_prior.dtype == torch.float32
        assert "y_prior" not in dict(model.named_parameters())
        with pytest.raises(ValueError, match="3 entries"):
            make_model(name, y_prior=[0.5, 0.5])
        with pytest.raises(ValueError, match="positive"):
            make_model(name, y_prior=[0.5, 0.5, 0.0])
        with pytest.raises(ValueError, match="n_labels >= 1"):
            (VAEC if name == "VAEC" else SCANVI)(N_GENES, 0, 0)
        with pytest.raises(ValueError, match="'zinb', 'nb', 'poisson'"):
            make_model(name, loss="gaussian")
        with pytest.raises(ValueError, match="'gene', 'gene-batch'"):
            make_model(name, dispersion="cell")
    with pytest.raises(ValueError, match="needs labels_groups"):
        make_model("SCANVI", use_labels_groups=True)
    with pytest.raises(ValueError, match="one group per label"):
        make_model("SCANVI", labels_groups=[0, 1])


def test_scanvi_classifier_parameters():
    parameters = {"n_hidden": 5, "n_layers": 2}
    model = make_model("SCANVI", classifier_parameters=parameters)
    assert parameters == {"n_hidden": 5, "n_layers": 2}
    layers = model.classifier.classifier[0].fc_layers
    assert len(layers) == 2 and layers[0][0].out_features == 5
    assert model.classifier.classifier[0].fc_layers[0][0].in_features == N_LATENT
    default = make_model("SCANVI")
    assert default.classifier.classifier[0].fc_layers[0][0].out_features == N_HIDDEN


def make_dataset(n_batch, seed=0, n_cells=96, batch_size=32):
    """Mini-batches of a small synthetic data set with three cell types."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_cells) % N_LABELS
    profiles = torch.rand(N_LABELS, N_GENES, generator=gen) * 4 + 0.2
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


@pytest.mark.parametrize("name,kwargs", MODELS, ids=MODEL_IDS)
def test_elbo_helper_decreases_with_training(name, kwargs):
    model = make_model(name, **kwargs).eval()
    batches = make_dataset(model.n_batch)
    before = compute_elbo(model, batches)
    assert np.isfinite(before)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for epoch in range(40):
        for i, (x, l_mean, l_var, batch_index, labels) in enumerate(batches):
            y = labels if i == 0 else None  # one labelled, two unlabelled batches
            reconst, kl, _ = model(x, l_mean, l_var, batch_index, y)
            optimizer.zero_grad()
            (reconst + kl).mean().backward()
            optimizer.step()
    model.eval()
    after = compute_elbo(model, batches)
    assert np.isfinite(after) and after < before
    assert np.isfinite(compute_reconstruction_error(model, batches))
