"""LDVAE gene programs (tutorial 2.8): loadings recover a linear model, as tables."""

import numpy as np
import pandas as pd
import pytest

import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.inference import UnsupervisedTrainer
from scvi.inference.posterior.loadings import top_loadings
from scvi.models import LDVAE, VAE

N_CELLS, N_GENES, N_LATENT = 600, 60, 3


def canonical_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Canonical correlations between the columns of ``a`` and ``b`` (genes as
    observations), after centring each column over the genes: a softmax decoder
    leaves loadings defined up to adding a constant per latent dimension, and CCA
    makes the comparison blind to any invertible linear map (rotations too)."""
    q_a, _ = np.linalg.qr(a - a.mean(0))
    q_b, _ = np.linalg.qr(b - b.mean(0))
    return np.linalg.svd(q_a.T @ q_b, compute_uv=False)


@pytest.fixture(scope="module")
def linear_data():
    """Poisson counts of ``library * softmax(W z + b)`` with z ~ N(0, I_3)."""
    rs = np.random.RandomState(0)
    loadings = rs.normal(0.0, 0.7, (N_GENES, N_LATENT))
    logits = rs.normal(size=(N_CELLS, N_LATENT)) @ loadings.T
    logits += rs.normal(0.0, 0.8, N_GENES)
    rho = np.exp(logits - logits.max(1, keepdims=True))
    rho /= rho.sum(1, keepdims=True)
    library = rs.lognormal(np.log(2000.0), 0.2, (N_CELLS, 1))
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        rs.poisson(rho * library).astype(np.float32),
        gene_names=np.array([f"G{g}" for g in range(N_GENES)]),
    )
    return dataset, loadings


@pytest.fixture(scope="module")
def trained(linear_data):
    dataset, _ = linear_data
    scvi.set_seed(0)
    model = LDVAE(N_GENES, n_latent=N_LATENT, n_hidden=64)
    trainer = UnsupervisedTrainer(
        model,
        dataset,
        show_progbar=False,
        frequency=None,
        n_epochs_kl_warmup=None,
        data_loader_kwargs={"batch_size": 64},
    )
    untrained = model.get_loadings()
    trainer.train(n_epochs=80, lr=2e-2)
    return model, trainer, untrained


def test_loadings_recover_the_true_ones_up_to_rotation(linear_data, trained):
    _, truth = linear_data
    model, _, untrained = trained
    loadings = model.get_loadings()
    assert loadings.shape == (N_GENES, N_LATENT)
    assert canonical_correlations(truth, loadings).min() >= 0.9
    # the check can fail: random initial weights are far from the truth
    assert canonical_correlations(truth, untrained).min() < 0.9


def test_canonical_correlations_are_rotation_invariant():
    rs = np.random.RandomState(1)
    a = rs.normal(size=(50, 3))
    rotation, _ = np.linalg.qr(rs.normal(size=(3, 3)))
    shifted = 2.0 * a @ rotation + rs.normal(size=3)  # plus a constant per column
    np.testing.assert_allclose(canonical_correlations(a, shifted), 1.0, atol=1e-10)
    assert canonical_correlations(a, rs.normal(size=(50, 3))).min() < 0.5


def test_posterior_loadings_are_labelled(linear_data, trained):
    dataset, _ = linear_data
    model, trainer, _ = trained
    full = trainer.create_posterior(model, dataset, indices=np.arange(len(dataset)))
    table = full.get_loadings()
    assert isinstance(table, pd.DataFrame) and table.shape == (N_GENES, N_LATENT)
    assert list(table.columns) == ["Z_0", "Z_1", "Z_2"]
    np.testing.assert_array_equal(table.index, dataset.gene_names)
    np.testing.assert_array_equal(table.values, model.get_loadings())
    with pytest.raises(ValueError, match="LDVAE"):
        trainer.create_posterior(VAE(N_GENES), dataset).get_loadings()


def test_latent_frame(linear_data, trained):
    dataset, _ = linear_data
    model, trainer, _ = trained
    posterior = trainer.test_set
    frame = posterior.get_latent_frame()
    latent = posterior.get_latent()[0]
    assert frame.shape == (len(posterior.indices), N_LATENT)
    np.testing.assert_array_equal(frame.index, posterior.indices)
    np.testing.assert_allclose(frame.values, latent)
    assert list(frame.columns) == ["Z_0", "Z_1", "Z_2"]


def test_top_loadings():
    rs = np.random.RandomState(2)
    values = rs.normal(size=(20, 2))
    genes = [f"g{i}" for i in range(20)]
    table = top_loadings(pd.DataFrame(values, index=genes, columns=["Z_0", "Z_1"]), 3)
    assert len(table) == 2 * 2 * 3
    for j, column in enumerate(["Z_0", "Z_1"]):
        order = np.argsort(values[:, j])
        rows = table[table.dimension == column]
        negative = rows[rows.direction == "negative"]
        positive = rows[rows.direction == "positive"]
        assert list(negative.gene) == [genes[i] for i in order[:3]]
        assert list(positive.gene) == [genes[i] for i in order[::-1][:3]]
        np.testing.assert_allclose(positive.loading, values[order[::-1][:3], j])
        assert list(positive["rank"]) == [0, 1, 2]
    with pytest.raises(ValueError, match="n_top"):
        top_loadings(pd.DataFrame(values), 21)
    with pytest.raises(ValueError, match="DataFrame"):
        top_loadings(values)
