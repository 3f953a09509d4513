"""The AutoZI workflow of tutorial 2.6: train, read q(delta), call zero-inflation."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import beta as beta_distribution
from sklearn.metrics import roc_auc_score

import scvi
from scvi.dataset import GeneExpressionDataset, SyntheticDataset, ZISyntheticDatasetCorr
from scvi.inference import UnsupervisedTrainer
from scvi.models import AutoZIVAE
from scvi.models.autozivae import zero_inflation_probabilities, zero_inflation_table

N_GENES = 30
SHAPES = {
    "gene": (N_GENES,),
    "gene-batch": (N_GENES, 2),
    "gene-label": (N_GENES, 3),
}


@pytest.fixture(scope="module")
def dataset():
    scvi.set_seed(0)
    return SyntheticDataset(batch_size=40, nb_genes=N_GENES, n_proteins=0)


def train(dataset, zero_inflation="gene", seed=0, n_epochs=2, **kwargs):
    scvi.set_seed(seed)
    model = AutoZIVAE(
        dataset.nb_genes,
        zero_inflation=zero_inflation,
        n_batch=dataset.n_batches,
        n_labels=dataset.n_labels,
        n_hidden=16,
        n_latent=4,
        **kwargs,
    )
    trainer = UnsupervisedTrainer(
        model, dataset, show_progbar=False, frequency=1, n_epochs_kl_warmup=None
    )
    trainer.train(n_epochs=n_epochs, lr=1e-2)
    return model, trainer


@pytest.mark.parametrize("zero_inflation", sorted(SHAPES))
def test_every_global_mode_trains_and_calls(dataset, zero_inflation):
    model, trainer = train(dataset, zero_inflation)
    assert trainer.normalize_loss is False  # AutoZI's default
    elbo = trainer.history["elbo_train_set"]
    assert len(elbo) >= 2 and np.all(np.isfinite(elbo))
    params = model.get_alphas_betas(as_numpy=True)
    alpha, beta = params["alpha_posterior"], params["beta_posterior"]
    for value in (alpha, beta):
        assert value.shape == SHAPES[zero_inflation]
        assert np.all(value > 0) and np.all(value < 1)
    probabilities = model.get_zero_inflation_probabilities()
    np.testing.assert_allclose(
        probabilities, beta_distribution.cdf(0.5, alpha, beta), rtol=1e-6
    )
    calls = model.zero_inflation_calls()
    assert calls.dtype == bool and calls.shape == SHAPES[zero_inflation]
    # at the threshold 0.5 the call is alpha < beta (the Beta median below 0.5)
    np.testing.assert_array_equal(calls, alpha < beta)
    strict = model.zero_inflation_calls(threshold=0.9, delta_threshold=0.3)
    np.testing.assert_array_equal(strict, beta_distribution.cdf(0.3, alpha, beta) > 0.9)
    ll = trainer.test_set.marginal_ll(n_mc_samples=3)
    assert np.isfinite(ll) and ll > 0


def test_gene_cell_mode_trains_but_has_no_global_calls(dataset):
    model, _ = train(dataset, "gene-cell", alpha_prior=None, beta_prior=None)
    params = model.get_alphas_betas()
    assert set(params) == {"alpha_prior", "beta_prior"}
    assert 0 < params["alpha_prior"] < 1 and 0 < params["beta_prior"] < 1
    with pytest.raises(ValueError, match="gene-cell"):
        model.get_zero_inflation_probabilities()
    with pytest.raises(ValueError, match="gene-cell"):
        model.zero_inflation_table()


def test_calls_are_reproducible_under_a_seed(dataset):
    first, _ = train(dataset, "gene-label", seed=3)
    again, _ = train(dataset, "gene-label", seed=3)
    other, _ = train(dataset, "gene-label", seed=4)
    a, b, c = (m.get_zero_inflation_probabilities() for m in (first, again, other))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        first.zero_inflation_calls(), again.zero_inflation_calls()
    )
    assert not np.array_equal(a, c)


def test_zero_inflation_table():
    alpha = np.array([[0.2, 0.6], [0.5, 0.1], [0.3, 0.3]])
    beta = np.array([[0.7, 0.2], [0.5, 0.9], [0.01, 0.9]])
    table = zero_inflation_table(
        alpha, beta, ["g0", "g1", "g2"], ["B cells", "T cells"], threshold=0.6
    )
    assert list(table.columns) == [
        "gene",
        "category",
        "alpha_posterior",
        "beta_posterior",
        "zi_probability",
        "is_zi",
    ]
    assert list(table.gene) == ["g0", "g0", "g1", "g1", "g2", "g2"]
    assert list(table.category) == ["B cells", "T cells"] * 3
    expected = beta_distribution.cdf(0.5, alpha, beta).ravel()
    np.testing.assert_allclose(table.zi_probability, expected, rtol=1e-6)
    np.testing.assert_array_equal(table.is_zi, expected > 0.6)
    per_gene = zero_inflation_table(alpha[:, 0], beta[:, 0])
    assert "category" not in per_gene and list(per_gene.gene) == [0, 1, 2]
    assert isinstance(per_gene, pd.DataFrame) and len(per_gene) == 3


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: zero_inflation_probabilities([0.5], [0.5, 0.5]), "same shape"),
        (lambda: zero_inflation_probabilities([0.0], [0.5]), "> 0"),
        (lambda: zero_inflation_probabilities([0.5], [0.5], 1.0), "delta_threshold"),
        (lambda: zero_inflation_table([0.5], [0.5], threshold=1.0), "threshold"),
        (lambda: zero_inflation_table([0.5, 0.2], [0.5, 0.1], ["a"]), "gene_names"),
        (
            lambda: zero_inflation_table([[0.5]], [[0.5]], category_names=["a", "b"]),
            "category_names",
        ),
    ],
)
def test_invalid_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_autozi_finds_the_zero_inflated_genes():
    """NB counts; 40% extra Bernoulli zeros on half of the genes only."""
    rs = np.random.RandomState(0)
    n_cells = 600
    level = np.resize([5.0, 20.0], 40)
    is_zi = np.arange(40) % 4 < 2
    mean = level * rs.lognormal(0.0, 0.3, (n_cells, 1))
    counts = rs.poisson(rs.gamma(5.0, mean / 5.0))
    counts[:, is_zi] *= rs.uniform(size=(n_cells, is_zi.sum())) >= 0.4
    simulated = GeneExpressionDataset()
    simulated.populate_from_data(counts.astype(np.float32))
    scvi.set_seed(1)
    model = AutoZIVAE(40, n_hidden=32, n_latent=5)
    trainer = UnsupervisedTrainer(
        model,
        simulated,
        show_progbar=False,
        frequency=None,
        n_epochs_kl_warmup=None,
        data_loader_kwargs={"batch_size": 64},
    )
    trainer.train(n_epochs=60, lr=2e-2)
    probabilities = model.get_zero_inflation_probabilities()
    assert roc_auc_score(is_zi, probabilities) >= 0.8
    table = model.zero_inflation_table(gene_names=simulated.gene_names)
    np.testing.assert_array_equal(table.gene, simulated.gene_names)
    np.testing.assert_array_equal(table.is_zi, model.zero_inflation_calls())


def test_trains_on_zi_synthetic_dataset_per_label():
    dataset = ZISyntheticDatasetCorr(n_cells_cluster=30, n_genes_high=5)
    model, trainer = train(dataset, "gene-label", n_epochs=1)
    table = model.zero_inflation_table(
        gene_names=dataset.gene_names, category_names=dataset.cell_types
    )
    assert len(table) == dataset.nb_genes * 3
    assert set(table.category) == {"cluster_0", "cluster_1", "cluster_2"}
    assert torch.isfinite(torch.as_tensor(table.zi_probability.values)).all()
