"""TOTALVI: every option combination, documented shapes and loss semantics."""

import itertools

import numpy as np
import pytest
import torch

from scvi.models._likelihoods import gaussian_kl
from scvi.models.log_likelihood import (
    log_mixture_nb,
    log_nb_positive,
    log_zinb_positive,
)
from scvi.models.totalvi import TOTALVI

N_CELLS, N_GENES, N_PROTEINS, N_BATCH, N_LABELS = 12, 25, 6, 2, 3
MASK = [[True] * N_PROTEINS, [True] * 3 + [False] * (N_PROTEINS - 3)]


def make_batch(seed=0):
    """Zero-rich gene counts, protein counts and covariates of N_CELLS cells."""
    gen = torch.Generator().manual_seed(seed)
    rates = torch.rand(N_CELLS, N_GENES, generator=gen) * 5
    keep = torch.rand(N_CELLS, N_GENES, generator=gen) > 0.5
    x = torch.poisson(rates, generator=gen) * keep
    y = torch.poisson(
        torch.rand(N_CELLS, N_PROTEINS, generator=gen) * 50, generator=gen
    )
    batch = torch.arange(N_CELLS).remainder(N_BATCH).view(-1, 1)
    labels = torch.arange(N_CELLS).remainder(N_LABELS).view(-1, 1)
    l_mean = torch.full((N_CELLS, 1), float(np.log(x.sum(1).mean())))
    return x, y, l_mean, torch.ones(N_CELLS, 1), batch, labels


def make_model(**kwargs):
    defaults = dict(n_batch=N_BATCH, n_labels=N_LABELS, n_hidden=16, n_latent=4)
    defaults.update(kwargs)
    return TOTALVI(N_GENES, N_PROTEINS, **defaults)


OPTIONS = list(
    itertools.product(
        ["gene", "gene-batch", "gene-label"],
        ["protein", "protein-batch", "protein-label"],
        ["nb", "zinb"],
        ["normal", "ln"],
        [False, True],
    )
)


@pytest.mark.parametrize("gene_disp,protein_disp,loss,latent,masked", OPTIONS)
def test_forward_backward_every_option(gene_disp, protein_disp, loss, latent, masked):
    torch.manual_seed(0)
    model = make_model(
        gene_dispersion=gene_disp,
        protein_dispersion=protein_disp,
        reconstruction_loss_gene=loss,
        latent_distribution=latent,
        protein_batch_mask=MASK if masked else None,
    )
    x, y, l_mean, l_var, batch, labels = make_batch()
    losses = model(x, y, l_mean, l_var, batch, labels)
    assert len(losses) == 5
    for term in losses:
        assert term.shape == (N_CELLS,)
        assert torch.isfinite(term).all()
    sum(term.sum() for term in losses).backward()
    unused = set() if loss == "zinb" else {"px_dropout_decoder_gene"}
    for name, param in model.named_parameters():
        if any(u in name for u in unused):
            assert param.grad is None, name
            continue
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(gene_dispersion="gene-cell"),
        dict(protein_dispersion="gene"),
        dict(reconstruction_loss_gene="poisson"),
        dict(latent_distribution="gaussian"),
        dict(gene_dispersion="gene-batch", n_batch=0),
        dict(protein_dispersion="protein-label", n_labels=0),
        dict(protein_batch_mask=[[True] * N_PROTEINS]),
        dict(protein_batch_mask=[[True] * 2] * N_BATCH),
    ],
)
def test_invalid_options(kwargs):
    with pytest.raises(ValueError):
        make_model(**kwargs)


def test_error_lists_valid_values():
    with pytest.raises(ValueError, match="'protein-batch'"):
        make_model(protein_dispersion="bad")


@pytest.mark.parametrize("loss", ["nb", "zinb"])
def test_losses_match_hand_computation(loss):
    model = make_model(
        reconstruction_loss_gene=loss,
        gene_dispersion="gene-label",
        protein_dispersion="protein-batch",
        protein_batch_mask=MASK,
    ).eval()
    x, y, l_mean, l_var, batch, labels = make_batch(1)
    torch.manual_seed(3)
    out = model.inference(x, y, batch, labels)
    torch.manual_seed(3)
    rec_x, rec_y, kl_z, kl_l, kl_back = model(x, y, l_mean, l_var, batch, labels)
    px_, py_ = out["px_"], out["py_"]
    b = batch.view(-1)
    theta = torch.exp(model.px_r[:, labels.view(-1)].t())
    phi = torch.exp(model.py_r[:, b].t())
    torch.testing.assert_close(px_["r"], theta)
    torch.testing.assert_close(py_["r"], phi)
    if loss == "zinb":
        log_px = log_zinb_positive(x, px_["rate"], theta, px_["dropout"])
    else:
        log_px = log_nb_positive(x, px_["rate"], theta)
    mask = torch.tensor(MASK, dtype=torch.float32)[b]
    log_py = log_mixture_nb(
        y, py_["rate_back"], py_["rate_fore"], phi, phi, py_["mixing"]
    )
    torch.testing.assert_close(rec_x, -log_px.sum(-1))
    torch.testing.assert_close(rec_y, -(log_py * mask).sum(-1))
    torch.testing.assert_close(kl_z, gaussian_kl(out["qz_m"], out["qz_v"]))
    torch.testing.assert_close(
        kl_l, gaussian_kl(out["ql_m"], out["ql_v"], l_mean, l_var)
    )
    prior_m = model.background_pro_alpha[:, b].t()
    prior_v = torch.exp(model.background_pro_log_beta[:, b].t()) ** 2
    back = gaussian_kl(
        py_["back_alpha"], py_["back_beta"] ** 2, prior_m, prior_v, False
    )
    torch.testing.assert_close(kl_back, (back * mask).sum(-1))


@pytest.mark.parametrize("loss", ["nb", "zinb"])
def test_gene_dropout_head_only_where_the_loss_uses_it(loss):
    model = make_model(reconstruction_loss_gene=loss).eval()
    x, y, l_mean, l_var, batch, labels = make_batch(4)
    torch.manual_seed(5)
    full = model.inference(x, y, batch, labels)
    torch.manual_seed(5)
    lean = model.inference(x, y, batch, labels, gene_dropout=False)
    assert full["px_"]["dropout"].shape == (N_CELLS, N_GENES)
    assert lean["px_"]["dropout"] is None
    for key in ("rate", "scale", "r"):
        torch.testing.assert_close(lean["px_"][key], full["px_"][key])
    torch.testing.assert_close(lean["py_"]["rate_back"], full["py_"]["rate_back"])
    assert model.loss_uses_gene_dropout == (loss == "zinb")
    # the training loss runs the head exactly when the likelihood needs it
    model.train()
    sum(term.sum() for term in model(x, y, l_mean, l_var, batch, labels)).backward()
    head = model.decoder.px_dropout_decoder_gene
    grads = [p.grad for p in head.parameters()]
    if loss == "zinb":
        assert all(g is not None and g.abs().sum() > 0 for g in grads)
    else:
        assert all(g is None for g in grads)


def test_masked_protein_does_not_change_loss():
    model = make_model(protein_batch_mask=MASK).eval()
    x, y, l_mean, l_var, batch, labels = make_batch(2)
    y_changed = y.clone()
    in_batch_1 = batch.view(-1) == 1
    y_changed[in_batch_1, 4] += 37.0  # protein 4 is not measured in batch 1
    torch.manual_seed(5)
    before = model(x, y, l_mean, l_var, batch, labels)
    torch.manual_seed(5)
    after = model(x, y_changed, l_mean, l_var, batch, labels)
    for term_before, term_after in zip(before, after):
        torch.testing.assert_close(term_before, term_after)
    # the same change in a batch measuring protein 4 changes the protein loss
    y_changed[~in_batch_1, 4] += 37.0
    torch.manual_seed(5)
    changed = model(x, y_changed, l_mean, l_var, batch, labels)[1]
    assert not torch.allclose(changed[~in_batch_1], before[1][~in_batch_1])


def test_inference_parameters():
    model = make_model(latent_distribution="ln").eval()
    x, y, _, _, batch, labels = make_batch()
    out = model.inference(x, y, batch, labels)
    px_, py_ = out["px_"], out["py_"]
    for key in ("scale", "rate", "dropout"):
        assert px_[key].shape == (N_CELLS, N_GENES)
    for key in ("rate_fore", "rate_back", "mixing", "scale", "back_alpha"):
        assert py_[key].shape == (N_CELLS, N_PROTEINS)
    assert px_["r"].shape == (N_GENES,) and py_["r"].shape == (N_PROTEINS,)
    torch.testing.assert_close(px_["scale"].sum(-1), torch.ones(N_CELLS))
    torch.testing.assert_close(py_["scale"].sum(-1), torch.ones(N_CELLS))
    torch.testing.assert_close(px_["rate"], out["library_gene"] * px_["scale"])
    torch.testing.assert_close(out["library_gene"], torch.exp(out["untran_l"]))
    assert (py_["rate_fore"] >= py_["rate_back"]).all()
    background = torch.sigmoid(py_["mixing"])
    assert ((background >= 0) & (background <= 1)).all()
    torch.testing.assert_close(out["z"].sum(-1), torch.ones(N_CELLS))
    torch.testing.assert_close(out["z"], torch.softmax(out["untran_z"], -1))


@pytest.mark.parametrize("gene_disp", ["gene", "gene-batch"])
def test_n_samples_leading_axis(gene_disp):
    model = make_model(gene_dispersion=gene_disp).eval()
    x, y, _, _, batch, labels = make_batch()
    scale_x, scale_y = model.get_sample_scale(x, y, batch, labels, n_samples=3)
    assert scale_x.shape == (3, N_CELLS, N_GENES)
    assert scale_y.shape == (3, N_CELLS, N_PROTEINS)
    rate = model.get_sample_rate(x, y, batch, labels, n_samples=3)
    assert rate.shape == (3, N_CELLS, N_GENES)
    px_r, py_r = model.get_sample_dispersion(x, y, batch, labels)
    expected = (N_GENES,) if gene_disp == "gene" else (N_CELLS, N_GENES)
    assert px_r.shape == expected and py_r.shape == (N_PROTEINS,)
    out = model.inference(x, y, batch, labels, n_samples=3)
    assert out["z"].shape == (3, N_CELLS, 4)
    assert out["library_gene"].shape == (3, N_CELLS, 1)
    losses = model.get_reconstruction_loss(x, y, out["px_"], out["py_"])
    assert losses[0].shape == (3, N_CELLS) and torch.isfinite(losses[1]).all()


def test_get_sample_rate_is_library_times_scale():
    model = make_model().eval()
    x, y, _, _, batch, labels = make_batch()
    torch.manual_seed(1)
    rate = model.get_sample_rate(x, y, batch, labels)
    torch.manual_seed(1)
    out = model.inference(x, y, batch, labels)
    torch.testing.assert_close(rate, out["library_gene"] * out["px_"]["scale"])


def test_transform_batch_changes_decoder_covariate_only():
    model = make_model().eval()
    x, y, _, _, batch, labels = make_batch()
    torch.manual_seed(2)
    scale_x, _ = model.get_sample_scale(
        x, y, batch, labels, transform_batch=1, sample_bern=False
    )
    torch.manual_seed(2)
    _, _, _, _, latent, _ = model.encoder(torch.log1p(torch.cat([x, y], -1)), batch)
    px_, _, _ = model.decoder(latent["z"], latent["l"], torch.ones_like(batch))
    torch.testing.assert_close(scale_x, px_["scale"])


def test_sample_scale_protein_options():
    model = make_model().eval()
    x, y, _, _, batch, labels = make_batch()

    def scale(**kwargs):
        torch.manual_seed(4)
        return model.get_sample_scale(x, y, batch, labels, **kwargs)[1]

    torch.manual_seed(4)
    py_ = model.inference(x, y, batch, labels)["py_"]
    fore = torch.sigmoid(-py_["mixing"])
    torch.testing.assert_close(scale(sample_bern=False), fore * py_["rate_fore"])
    with_bg = fore * py_["rate_fore"] + (1 - fore) * py_["rate_back"]
    torch.testing.assert_close(scale(sample_bern=False, include_bg=True), with_bg)
    torch.testing.assert_close(
        scale(sample_bern=False, eps=0.5), fore * py_["rate_fore"] + 0.5
    )
    # as in scVI 0.6.8, eps is added after the normalisation
    normalised = scale(normalize_pro=True, eps=1.0)
    n_proteins = normalised.shape[-1]
    torch.testing.assert_close(
        normalised.sum(-1), torch.full((N_CELLS,), 1.0 + n_proteins)
    )
    assert (normalised >= 1.0).all()
    sampled = scale(sample_bern=True)
    is_fore = torch.isclose(sampled, py_["rate_fore"])
    assert (is_fore | (sampled == 0)).all()


@pytest.mark.parametrize("latent", ["normal", "ln"])
def test_posterior_samples(latent):
    model = make_model(latent_distribution=latent).eval()
    x, y, _, _, batch, _ = make_batch()
    mean = model.sample_from_posterior_z(x, y, batch, give_mean=True, n_samples=200)
    assert mean.shape == (N_CELLS, 4)
    sample = model.sample_from_posterior_z(x, y, batch)
    assert sample.shape == (N_CELLS, 4)
    out = model.inference(x, y, batch)
    if latent == "normal":
        torch.testing.assert_close(mean, out["qz_m"])
        again = model.sample_from_posterior_z(x, y, batch, give_mean=True)
        torch.testing.assert_close(mean, again)
    else:
        torch.testing.assert_close(mean.sum(-1), torch.ones(N_CELLS))
        torch.testing.assert_close(sample.sum(-1), torch.ones(N_CELLS))
    lib_mean = model.sample_from_posterior_l(x, y, batch)
    torch.testing.assert_close(lib_mean, torch.exp(out["ql_m"] + 0.5 * out["ql_v"]))
    torch.testing.assert_close(lib_mean, model.sample_from_posterior_l(x, y, batch))
    lib = model.sample_from_posterior_l(x, y, batch, give_mean=False)
    assert lib.shape == (N_CELLS, 1) and (lib > 0).all()


def test_encoder_without_batch_and_no_batches():
    model = make_model(n_batch=0, encoder_batch=False, protein_batch_mask=[MASK[1]])
    x, y, l_mean, l_var, _, labels = make_batch()
    losses = model(x, y, l_mean, l_var, None, labels)
    assert all(torch.isfinite(term).all() for term in losses)
    assert model.background_pro_alpha.shape == (N_PROTEINS,)


def test_training_decreases_loss():
    torch.manual_seed(0)
    model = make_model(n_hidden=32)
    x, y, l_mean, l_var, batch, labels = make_batch(7)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def neg_elbo():
        return sum(t.mean() for t in model(x, y, l_mean, l_var, batch, labels))

    model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        before = float(neg_elbo())
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        neg_elbo().backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        after = float(neg_elbo())
    assert np.isfinite(after) and after < before
