"""Checks shared by the totalVI test modules: train a small TOTALVI for two
epochs, then ask a TotalPosterior every query and check what it returns."""

import numpy as np
import pytest
import torch

from scvi.inference import TotalTrainer


def _train_totalvi(model, dataset, batch_size: int, **trainer_options):
    """Two epochs of TotalTrainer; history and weights must stay finite."""
    trainer = TotalTrainer(
        model,
        dataset,
        show_progbar=False,
        frequency=1,
        early_stopping_kwargs=None,
        data_loader_kwargs={"batch_size": batch_size},
        **trainer_options,
    )
    trainer.train(n_epochs=2, lr=1e-2)
    assert np.isfinite(trainer.history["elbo_train_set"]).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    return trainer


def _check_every_totalvi_query(post, dataset, n_latent: int) -> None:
    """Shapes and ranges of every TotalPosterior query over all cells of
    ``dataset`` (at least 60)."""
    model, n = post.model, dataset.nb_cells
    G, P = dataset.nb_genes, dataset.protein_expression.shape[1]
    latent, batches, labels, library = post.get_latent()
    assert latent.shape == (n, n_latent) and np.isfinite(latent).all()
    assert batches.shape == (n, 1) and library.shape == (n,) and (library > 0).all()
    if model.use_observed_lib_size:
        np.testing.assert_allclose(library, dataset.X.sum(1), rtol=1e-5)
    genes, proteins = post.get_normalized_denoised_expression(n_samples=2)
    np.testing.assert_allclose(genes.sum(1), 1, rtol=1e-4)
    assert proteins.shape == (n, P) and (proteins >= 0).all()
    assert (post.get_protein_mean(n_samples=2) > 0).all()
    scale = post.get_sample_scale(transform_batch=[0, 1])
    assert scale.shape == (n, G + P) and np.isfinite(scale).all()
    mixing = post.get_sample_mixing(n_samples=2, give_mean=False)
    assert mixing.shape == (n, P, 2) and ((mixing >= 0) & (mixing <= 1)).all()
    assert (post.get_protein_background_mean() > 0).all()
    if model.reconstruction_loss_gene == "zinb":
        dropout = post.get_sample_dropout()
        assert dropout.shape == (n, G) and ((dropout >= 0) & (dropout <= 1)).all()
    assert post.imputation(n_samples=2).shape == (2, n, G)
    x_new, x_old = post.generate(n_samples=2)
    assert x_new.shape == (n, G + P, 2) and (x_new >= 0).all()
    np.testing.assert_array_equal(x_old[:, G:], dataset.protein_expression)
    assert [a.shape for a in post.generate_parameters()] == [(n, G)] * 3
    samples = post.generate_denoised_samples(n_samples=2)
    assert samples.shape == (n, G + P, 2) and (samples >= 0).all()
    corr = post.generate_feature_correlation_matrix(n_samples=2)
    assert corr.shape == (G + P, G + P)
    for value in (post.elbo(), post.reconstruction_error(), post.marginal_ll(3)):
        assert np.isfinite(value)
    de = post.differential_expression_score(
        idx1=np.arange(30), idx2=np.arange(30, 60), n_samples=10
    )
    assert de.shape[0] == G + P and np.isfinite(de["bayes_factor"]).all()


@pytest.fixture
def train_totalvi():
    """``train_totalvi(model, dataset, batch_size, **trainer_options)``."""
    return _train_totalvi


@pytest.fixture
def check_every_totalvi_query():
    """``check_every_totalvi_query(posterior, dataset, n_latent)``."""
    return _check_every_totalvi_query
