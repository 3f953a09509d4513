"""Extra continuous and categorical covariates of TOTALVI (issue 23): in the
decoder (and, with ``encoder_batch``, the encoder), passed on by TotalTrainer and
every TotalPosterior query; none given is the 0.6 model."""

import numpy as np
import pytest
import torch

from scvi.dataset import SyntheticDataset
from scvi.inference import TotalPosterior, TotalTrainer
from scvi.models import TOTALVI
from scvi.models._totalvi_sampling import protein_expression

G, P, N_CONT, CATS = 20, 5, 1, [3, 4]


def covariates_of(x: np.ndarray):
    """Covariates that are functions of the counts, so that a mini-batch shows
    whether its covariates belong to its cells: ``log1p`` of the total count and
    the first two genes' counts modulo 3 and 4."""
    cont = np.log1p(x.sum(1, keepdims=True))
    cats = np.stack([x[:, 0] % 3, x[:, 1] % 4], axis=1).astype(np.int64)
    return cont.astype(np.float32), cats


def make_dataset(cont: bool = True, cat: bool = True) -> SyntheticDataset:
    np.random.seed(0)
    ds = SyntheticDataset(batch_size=30, nb_genes=G, n_proteins=P, n_batches=2)
    cont_covs, cat_covs = covariates_of(np.asarray(ds.X))
    if cont:
        ds.initialize_cell_attribute("cont_covs", cont_covs)
    if cat:
        ds.initialize_cell_attribute("cat_covs", cat_covs)
    return ds


@pytest.fixture(scope="module")
def dataset():
    return make_dataset()


def small(**kwargs) -> TOTALVI:
    kwargs = dict(dict(n_batch=2, n_hidden=16, n_latent=4), **kwargs)
    return TOTALVI(G, P, **kwargs)


def cell_tensors(ds, cells=slice(None)):
    """``x, y, batch_index, labels, cont_covs, cat_covs`` of the dataset's cells."""
    return (
        torch.as_tensor(np.asarray(ds.X)[cells], dtype=torch.float32),
        torch.as_tensor(ds.protein_expression[cells], dtype=torch.float32),
        torch.as_tensor(np.asarray(ds.batch_indices)[cells].reshape(-1, 1)),
        torch.as_tensor(np.asarray(ds.labels)[cells].reshape(-1, 1)),
        torch.as_tensor(ds.cont_covs[cells], dtype=torch.float32),
        torch.as_tensor(ds.cat_covs[cells], dtype=torch.int64),
    )


COMBINATIONS = [
    (dict(n_continuous_cov=N_CONT, n_cats_per_cov=CATS), dict()),
    (
        dict(n_continuous_cov=N_CONT, n_cats_per_cov=CATS, preset="modern"),
        dict(use_adversarial_loss=True),
    ),
    (
        dict(
            n_cats_per_cov=CATS,
            encoder_batch=False,
            reconstruction_loss_gene="zinb",
            n_layers_decoder=2,
            deeply_inject_covariates=False,
            protein_batch_mask=[np.ones(P, bool), np.arange(P) % 2 == 0],
        ),
        dict(),
    ),
    (
        dict(
            n_continuous_cov=N_CONT,
            use_observed_lib_size=True,
            latent_distribution="normal",
            n_layers_encoder=2,
            gene_dispersion="gene-batch",
        ),
        dict(),
    ),
]


@pytest.mark.parametrize("options, trainer_options", COMBINATIONS, ids=str)
def test_training_and_every_query_with_covariates(
    dataset,
    options,
    trainer_options,
    monkeypatch,
    train_totalvi,
    check_every_totalvi_query,
):
    torch.manual_seed(1)
    model = small(**options)
    seen, original = [], model.inference

    def recording(x, y, *args, **kwargs):
        seen.append((x, kwargs.get("cont_covs"), kwargs.get("cat_covs")))
        return original(x, y, *args, **kwargs)

    monkeypatch.setattr(model, "inference", recording)
    trainer = train_totalvi(model, dataset, 16, **trainer_options)
    # every call, training steps included, got the covariates of its own cells
    assert len(seen) > 8
    for x, cont, cat in seen:
        expected_cont, expected_cat = covariates_of(x.numpy())
        if model.n_continuous_cov:
            np.testing.assert_allclose(cont.numpy(), expected_cont, rtol=1e-6)
        else:
            assert cont is None
        if model.n_cats_per_cov:
            np.testing.assert_array_equal(cat.numpy(), expected_cat)
        else:
            assert cat is None

    post = trainer.create_posterior(indices=np.arange(dataset.nb_cells))
    check_every_totalvi_query(post, dataset, n_latent=4)


def test_posterior_queries_match_the_model_on_the_datasets_covariates(dataset):
    """Mini-batches are ``(x, l_mean, l_var, batch, labels, y, cont, cat)``: the
    queries give what the model gives on the dataset's own tensors."""
    torch.manual_seed(0)
    model = small(n_continuous_cov=N_CONT, n_cats_per_cov=CATS).eval()
    n = dataset.nb_cells
    post = TotalPosterior(
        model, dataset, use_cuda=False, data_loader_kwargs={"batch_size": n}
    )
    tensors = next(iter(post.sequential(n)))
    assert len(tensors) == 8
    x, y, b, labels, cont, cat = cell_tensors(dataset)
    torch.testing.assert_close(tensors[0], x)
    torch.testing.assert_close(tensors[5], y)  # the proteins before covariates
    torch.testing.assert_close(tensors[6], cont)
    assert torch.equal(tensors[7], cat)

    torch.manual_seed(3)
    genes, proteins = post.get_normalized_denoised_expression(
        sample_protein_mixing=False
    )
    torch.manual_seed(3)
    with torch.no_grad():
        out = model.inference(x, y, b, labels, cont_covs=cont, cat_covs=cat)
    np.testing.assert_allclose(genes, out["px_"]["scale"].numpy(), rtol=1e-5)
    expected = protein_expression(out["py_"], sample_bern=False).numpy()
    np.testing.assert_allclose(proteins, expected, rtol=1e-5)
    torch.manual_seed(4)
    ll = post.marginal_ll(n_mc_samples=1)
    torch.manual_seed(4)
    with torch.no_grad():
        log_w = model.log_importance_weight(
            x, y, *tensors[1:3], b, labels, cont_covs=cont, cat_covs=cat
        )
    np.testing.assert_allclose(ll, -log_w.mean().item(), rtol=1e-5)


@pytest.mark.parametrize("encoder_batch", [True, False])
def test_covariates_change_the_decoder_and_encoder_outputs(dataset, encoder_batch):
    """Cells whose covariates change get other outputs; the other cells (and,
    without ``encoder_batch``, the latent posterior) do not."""
    torch.manual_seed(0)
    model = small(
        n_continuous_cov=N_CONT, n_cats_per_cov=CATS, encoder_batch=encoder_batch
    ).eval()
    x, y, b, labels, cont, cat = cell_tensors(dataset, slice(0, 12))
    changed = torch.arange(12) < 6
    other_cat = torch.where(changed[:, None], (cat + 1) % torch.tensor(CATS), cat)
    other_cont = torch.where(changed[:, None], cont + 2.0, cont)

    def run(cont_covs, cat_covs):
        torch.manual_seed(5)
        with torch.no_grad():
            return model.inference(
                x, y, b, labels, n_samples=2, cont_covs=cont_covs, cat_covs=cat_covs
            )

    base = run(cont, cat)
    for outputs in (run(cont, other_cat), run(other_cont, cat)):
        for value, ref in (
            (outputs["px_"]["scale"], base["px_"]["scale"]),
            (outputs["py_"]["mixing"], base["py_"]["mixing"]),
        ):
            assert value.shape == ref.shape
            differs = ~torch.isclose(value, ref).all(-1).all(0)
            assert torch.equal(differs, changed)
        encoded = ~torch.isclose(outputs["qz_m"], base["qz_m"]).all(-1).all(0)
        assert torch.equal(encoded, changed & encoder_batch)
    # the Posterior query follows the dataset's covariates
    post = TotalPosterior(model, dataset, use_cuda=False, indices=np.arange(12))
    torch.manual_seed(6)
    genes, _ = post.get_normalized_denoised_expression()
    altered = make_dataset()
    altered.cat_covs[:6] = other_cat[:6].numpy()
    post = TotalPosterior(model, altered, use_cuda=False, indices=np.arange(12))
    torch.manual_seed(6)
    other_genes, _ = post.get_normalized_denoised_expression()
    differs = ~np.isclose(genes, other_genes).all(1)
    np.testing.assert_array_equal(differs, changed.numpy())


def test_covariate_widths_and_attributes():
    kwargs = dict(n_batch=3, n_hidden=8, n_latent=4, n_layers_encoder=2)
    model = TOTALVI(
        G, P, n_layers_decoder=2, n_continuous_cov=2, n_cats_per_cov=[4, 5], **kwargs
    )
    assert model.covariate_attributes == {
        "cont_covs": ("cont_covs", np.float32),
        "cat_covs": ("cat_covs", np.int64),
    }
    assert model.encoder.encoder.fc_layers[0][0].in_features == G + P + 2 + 3 + 9
    assert model.encoder.encoder.fc_layers[1][0].in_features == 8 + 3 + 9
    decoder = model.decoder
    assert decoder.px_decoder.fc_layers[0][0].in_features == 4 + 2 + 3 + 9
    assert decoder.px_decoder.fc_layers[1][0].in_features == 8 + 3 + 9
    for head in (decoder.px_scale_decoder, decoder.py_background_decoder):
        assert head.fc_layers[0][0].in_features == 8 + (4 + 2) + 3 + 9
    unencoded = TOTALVI(G, P, encoder_batch=False, n_continuous_cov=2, **kwargs)
    assert unencoded.encoder.encoder.fc_layers[0][0].in_features == G + P
    assert unencoded.decoder.py_fore_decoder.fc_layers[0][0].in_features == 4 + 2 + 3
    default = TOTALVI(G, P, **kwargs)
    assert default.covariate_attributes == {}
    assert default.n_continuous_cov == 0 and default.n_cats_per_cov == ()
    # 0.6's covariate lists (modules called directly take the batch alone)
    assert default.encoder.encoder.n_cat_list == [3]
    assert default.decoder.px_decoder.n_cat_list == [3]
    assert model.encoder.encoder.n_cat_list == [3, 4, 5]
    assert model.decoder.px_scale_decoder.n_cat_list == [3, 4, 5]


def test_no_covariates_keeps_the_state_dict_and_the_outputs():
    torch.manual_seed(0)
    default = small(n_layers_decoder=2)
    torch.manual_seed(0)
    given = small(n_layers_decoder=2, n_continuous_cov=0, n_cats_per_cov=[])
    assert [(k, v.shape) for k, v in default.state_dict().items()] == [
        (k, v.shape) for k, v in given.state_dict().items()
    ]
    x = torch.poisson(torch.full((6, G), 3.0))
    y = torch.poisson(torch.full((6, P), 9.0))
    b, ones = torch.tensor([[0], [1]] * 3), torch.ones(6, 1)
    torch.manual_seed(2)
    first = default(x, y, ones, ones, b)
    torch.manual_seed(2)
    second = given(x, y, ones, ones, b, cont_covs=None, cat_covs=None)
    assert all(torch.equal(u, v) for u, v in zip(first, second))
    assert all(torch.isfinite(t).all() for t in first)
    ds = make_dataset(cont=False, cat=False)
    tensors = next(iter(TotalPosterior(default, ds, use_cuda=False)))
    assert len(tensors) == 6 and tensors[5].shape[1] == P


def test_missing_covariates_raise_clear_errors():
    model = small(n_continuous_cov=N_CONT, n_cats_per_cov=CATS)
    ds = make_dataset(cat=False)
    with pytest.raises(ValueError, match="the dataset has no attribute 'cat_covs'"):
        TotalPosterior(model, ds, use_cuda=False)
    with pytest.raises(ValueError, match="the dataset has no attribute 'cat_covs'"):
        TotalTrainer(model, ds, show_progbar=False)
    x, y, b, labels, cont, cat = cell_tensors(make_dataset(), slice(0, 4))
    with pytest.raises(ValueError, match=r"cont_covs must have shape \(batch, 1\)"):
        model.inference(x, y, b, cat_covs=cat)
    with pytest.raises(ValueError, match=r"cat_covs must have shape \(batch, 2\)"):
        model(x, y, torch.ones(4, 1), torch.ones(4, 1), b, cont_covs=cont)
    with pytest.raises(ValueError, match=r"cat_covs must have shape \(batch, 2\)"):
        model.get_sample_scale(x, y, b, cont_covs=cont, cat_covs=cat[:, :1])
    with pytest.raises(ValueError, match="needs batch_index"):
        model.sample_from_posterior_z(x, y, cont_covs=cont, cat_covs=cat)
    genes, proteins = model.eval().get_sample_scale(
        x, y, b, n_samples=3, cont_covs=cont, cat_covs=cat
    )
    assert genes.shape == (3, 4, G) and proteins.shape == (3, 4, P)
    torch.testing.assert_close(genes.sum(-1), torch.ones(3, 4))
