"""TotalTrainer and TotalPosterior (issue 17): training, every query, errors."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score

import scvi
from scvi.dataset import CellMeasurement, GeneExpressionDataset
from scvi.inference import (
    TotalPosterior,
    TotalTrainer,
    load_posterior,
)
from scvi.inference.total_inference import default_early_stopping_kwargs
from scvi.models import TOTALVI

N_GENES, N_PROTEINS = 40, 8
UP_GENES, DOWN_GENES = [0, 1, 2], [3, 4, 5]  # 4-fold higher in type 1 / type 0
UP_PROTEINS, DOWN_PROTEINS = [0, 1], [2, 3]


def make_cite(n_cells=300, seed=0, batch_shift=0.0):
    """Two cell types; the UP features are 4-fold higher in type 1, the DOWN ones
    in type 0 (so that the other genes keep their frequencies); proteins have a
    background of about 5 counts."""
    rs = np.random.RandomState(seed)
    labels = np.arange(n_cells) % 2
    batches = (np.arange(n_cells) // 2) % 2
    genes = rs.gamma(2.0, 1.0, size=N_GENES)
    programs = np.tile(genes, (2, 1))
    programs[1, UP_GENES] *= 4.0
    programs[0, DOWN_GENES] *= 4.0
    library = rs.lognormal(4.0, 0.5, size=(n_cells, 1))
    rate = library * programs[labels] / programs[labels].sum(1, keepdims=True)
    rate = (
        rate
        * np.exp(batch_shift * batches)[:, None]
        * (1 + batch_shift * (np.arange(N_GENES) % 3 == batches[:, None]))
    )
    x = rs.poisson(rate).astype(np.float32)
    fore = np.tile(rs.gamma(5.0, 6.0, size=N_PROTEINS), (2, 1))
    fore[1, UP_PROTEINS] *= 4.0
    fore[0, DOWN_PROTEINS] *= 4.0
    y = rs.poisson(5.0 + fore[labels] * rs.binomial(1, 0.9, (n_cells, N_PROTEINS)))
    data = GeneExpressionDataset()
    data.populate_from_data(
        x,
        batch_indices=batches,
        labels=labels,
        gene_names=[f"g{i}" for i in range(N_GENES)],
    )
    data.initialize_cell_measurement(
        CellMeasurement(
            name="protein_expression",
            data=y.astype(np.float32),
            columns_attr_name="protein_names",
            columns=np.array([f"p{i}" for i in range(N_PROTEINS)]),
        )
    )
    return data


def make_model(data, **kwargs):
    kwargs.setdefault("n_latent", 5)
    kwargs.setdefault("n_hidden", 32)
    return TOTALVI(data.nb_genes, N_PROTEINS, n_batch=data.n_batches, **kwargs)


@pytest.fixture(scope="module")
def trained():
    scvi.set_seed(0)
    data = make_cite()
    trainer = TotalTrainer(
        make_model(data),
        data,
        frequency=5,
        show_progbar=False,
        early_stopping_kwargs=None,
        data_loader_kwargs={"batch_size": 64},
    )
    trainer.train(n_epochs=60, lr=1e-2)
    return trainer


@pytest.fixture(scope="module")
def full(trained):
    data = trained.gene_dataset
    return trained.create_posterior(indices=np.arange(len(data)))


# ---------------------------------------------------------------- trainer
def test_trainer_defaults_of_scvi_068():
    data = make_cite(n_cells=100)
    trainer = TotalTrainer(make_model(data), data, show_progbar=False)
    assert trainer.n_iter_kl_warmup == 75.0 and trainer.n_epochs_kl_warmup is None
    assert trainer.kappa is None and trainer.pro_recons_weight == 1.0
    sizes = {name: p.nb_cells for name, p in trainer._posteriors.items()}
    assert sizes == {"train_set": 90, "test_set": 10, "validation_set": 0}
    assert all(type(p) is TotalPosterior for p in trainer._posteriors.values())
    stopping = trainer.early_stopping
    assert stopping.early_stopping_metric == "elbo" and stopping.patience == 45
    assert stopping.reduce_lr_on_plateau and stopping.lr_factor == 0.6
    assert default_early_stopping_kwargs["lr_patience"] == 30
    assert trainer.frequency == 1  # early stopping watches the held-out ELBO
    assert type(trainer.create_posterior()) is TotalPosterior


def test_training_lowers_the_heldout_elbo(trained):
    history = trained.history
    assert sorted(history) == ["elbo_test_set", "elbo_train_set"]
    assert len(history["elbo_test_set"]) == 13  # epochs 0, 5, ..., 60
    assert history["elbo_test_set"][-1] < 0.8 * history["elbo_test_set"][0]
    assert np.isfinite(history["elbo_train_set"]).all()


def test_auto_early_stopping_stops_a_stalled_run():
    data = make_cite(n_cells=40)
    trainer = TotalTrainer(make_model(data, n_hidden=16), data, show_progbar=False)
    trainer.train(n_epochs=200, lr=1e-12)  # the ELBO cannot improve
    assert len(trainer.history["elbo_test_set"]) < 120  # stopped well before 200


def batch_accuracy(posterior):
    """Cross-validated accuracy of a logistic regression of the batch on the
    latent space."""
    latent, batches = posterior.get_latent()[:2]
    classifier = LogisticRegression(max_iter=1000)
    return cross_val_score(classifier, latent, batches.ravel(), cv=3).mean()


def test_adversarial_training_fools_the_batch_classifier():
    """The batch classifier trains, and the encoder pushes it below chance on the
    latent space, where a plain classifier finds the batches of a model trained
    without the adversarial loss. (With two batches, scVI 0.6's fooling target,
    the other batch, flips the classifier rather than mixing the batches.)"""
    data = make_cite(n_cells=300, batch_shift=1.0)
    scvi.set_seed(0)
    plain = TotalTrainer(
        make_model(data), data, early_stopping_kwargs=None, show_progbar=False
    )
    plain.train(n_epochs=40, lr=1e-2)
    plain_accuracy = batch_accuracy(plain.create_posterior(indices=np.arange(300)))
    scvi.set_seed(0)
    trainer = TotalTrainer(
        make_model(data),
        data,
        use_adversarial_loss=True,
        kappa=1.0,
        early_stopping_kwargs=None,
        show_progbar=False,
    )
    before = [p.detach().clone() for p in trainer.discriminator.parameters()]
    trainer.train(n_epochs=40, lr=1e-2)
    after = list(trainer.discriminator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert not trainer.discriminator.training
    latent, batches = trainer.create_posterior(indices=np.arange(300)).get_latent()[:2]
    with torch.no_grad():
        predicted = trainer.discriminator(torch.from_numpy(latent)).argmax(1).numpy()
    fooled = (predicted == batches.ravel()).mean()
    assert fooled < 0.5 < 0.7 < plain_accuracy, (fooled, plain_accuracy)


def test_adversarial_loss_needs_several_batches():
    data = make_cite(n_cells=60)
    model = TOTALVI(data.nb_genes, N_PROTEINS, n_batch=1)
    with pytest.raises(ValueError, match="more than one batch"):
        TotalTrainer(model, data, use_adversarial_loss=True)


# ---------------------------------------------------------------- errors
def test_bad_protein_data_is_named():
    data = make_cite(n_cells=40)
    model = make_model(data)
    with pytest.raises(ValueError, match="n_input_proteins=6.*8 proteins"):
        TotalPosterior(TOTALVI(data.nb_genes, 6), data)
    with pytest.raises(ValueError, match="must be a TOTALVI"):
        TotalTrainer(scvi.models.VAE(data.nb_genes), data)
    for bad, word in ((-1.0, "negative"), (np.nan, "NaN")):
        broken = make_cite(n_cells=40)
        broken.protein_expression[3, 2] = bad
        with pytest.raises(ValueError, match=word):
            TotalTrainer(model, broken)
    plain = GeneExpressionDataset()
    plain.populate_from_data(np.ones((10, N_GENES), np.float32))
    with pytest.raises(ValueError, match="no protein_expression"):
        TotalPosterior(model, plain)
    with pytest.raises(ValueError, match="mode must be one of"):
        TotalPosterior(model, data).reconstruction_error("rna")


# ---------------------------------------------------------------- queries
def test_likelihoods(full):
    genes, proteins = full.compute_reconstruction_error(full.model)
    assert full.reconstruction_error("gene") == pytest.approx(genes, rel=0.05)
    assert full.reconstruction_error("protein") == pytest.approx(proteins, rel=0.05)
    assert full.reconstruction_error() == pytest.approx(genes + proteins, rel=0.05)
    elbo = full.elbo()
    assert elbo > genes + proteins - 1.0  # KL terms are non-negative (noise aside)
    nll = full.marginal_ll(n_mc_samples=50)
    assert 0.5 * elbo < nll < elbo * 1.01  # -log p(x, y) <= -ELBO, up to noise


def test_latent_space(full):
    latent, batches, labels, library = full.get_latent()
    n = full.nb_cells
    assert latent.shape == (n, 5) and batches.shape == (n, 1)
    assert labels.shape == (n,) and library.shape == (n,)
    np.testing.assert_allclose(latent.sum(1), 1.0, atol=1e-3)  # logistic normal
    observed = full.gene_dataset.X.sum(1)
    assert np.corrcoef(np.log(library), np.log(observed))[0, 1] > 0.8
    sample = full.get_latent(sample=True)[0]
    assert sample.shape == latent.shape and not np.allclose(sample, latent)
    assert full.clustering_scores("gmm")[0] > 0  # Posterior's scores apply


def test_expression_queries(full):
    n = full.nb_cells
    genes, proteins = full.get_normalized_denoised_expression(n_samples=3)
    assert genes.shape == (n, N_GENES) and proteins.shape == (n, N_PROTEINS)
    np.testing.assert_allclose(genes.sum(1), 1.0, rtol=1e-4)
    assert (proteins >= 0).all()
    samples = full.get_normalized_denoised_expression(n_samples=4, give_mean=False)
    assert samples[0].shape == (n, N_GENES, 4) and samples[1].shape == (
        n,
        N_PROTEINS,
        4,
    )
    mixing = full.get_sample_mixing(n_samples=2)
    assert mixing.shape == (n, N_PROTEINS) and ((mixing >= 0) & (mixing <= 1)).all()
    dropout = full.get_sample_dropout(n_samples=3, give_mean=False)
    assert dropout.shape == (n, N_GENES, 3) and ((dropout >= 0) & (dropout <= 1)).all()
    mean = full.get_protein_mean()
    background = full.get_protein_background_mean()
    assert mean.shape == background.shape == (n, N_PROTEINS)
    assert (mean > 0).all() and (background > 0).all()
    scale = full.get_sample_scale()
    assert scale.shape == (n, N_GENES + N_PROTEINS)
    normalised = full.get_sample_scale(normalize_pro=True, eps=0.0)[:, N_GENES:]
    sums = normalised.sum(1)
    assert np.all(np.isclose(sums, 1.0, rtol=1e-4) | (sums == 0))
    rates = full.imputation()
    assert rates.shape == (n, N_GENES) and (rates >= 0).all()
    assert full.imputation(n_samples=2).shape == (2, n, N_GENES)
    dropout_logits, means, theta = full.generate_parameters()
    assert dropout_logits.shape == means.shape == theta.shape == (n, N_GENES)
    np.testing.assert_allclose(means.mean(0), rates.mean(0), rtol=0.2)


def test_foreground_probability_tracks_the_signal(full):
    """Denoised proteins keep the direction of the 4-fold differences between
    the types, and the foreground probability is not lower where a protein is
    high."""
    foreground = 1 - full.get_sample_mixing(n_samples=5)
    labels = full.gene_dataset.labels.ravel()
    high = foreground[labels == 1][:, UP_PROTEINS].mean()
    assert high >= foreground[labels == 0][:, UP_PROTEINS].mean() - 0.02
    denoised = full.get_normalized_denoised_expression(n_samples=5)[1]
    ratio = denoised[labels == 1].mean(0) / denoised[labels == 0].mean(0)
    # (the decoder shrinks them after a short training, as scVI 0.6.8's does)
    assert (ratio[UP_PROTEINS] > 1.05).all(), ratio
    assert (ratio[DOWN_PROTEINS] < 0.95).all(), ratio


def test_transform_batch_and_reproducibility(full):
    scvi.set_seed(3)
    a = full.get_normalized_denoised_expression(transform_batch=0)[0]
    scvi.set_seed(3)
    again = full.get_normalized_denoised_expression(transform_batch=0)[0]
    np.testing.assert_array_equal(a, again)
    b = full.get_normalized_denoised_expression(transform_batch=1)[0]
    assert not np.allclose(a, b)
    both = full.get_protein_mean(transform_batch=[0, 1], n_samples=2)
    assert both.shape == (full.nb_cells, N_PROTEINS)
    with pytest.raises(ValueError, match="transform_batch"):
        full.get_sample_mixing(transform_batch=5)


def test_samples(full):
    n, features = full.nb_cells, N_GENES + N_PROTEINS
    new, old = full.generate(n_samples=3)
    assert new.shape == (n, features, 3) and old.shape == (n, features)
    np.testing.assert_array_equal(
        old[:, N_GENES:], full.gene_dataset.protein_expression
    )
    assert (new >= 0).all() and np.all(new == np.round(new))
    assert abs(new[:, N_GENES:].mean() / old[:, N_GENES:].mean() - 1) < 0.5
    denoised = full.generate_denoised_samples(n_samples=2, rna_size_factor=1000)
    assert denoised.shape == (n, features, 2) and (denoised >= 0).all()
    for mode in ("pearson", "spearman"):
        corr = full.generate_feature_correlation_matrix(
            n_samples=2, correlation_mode=mode, log_transform=True
        )
        assert corr.shape == (features, features)
        np.testing.assert_allclose(np.diag(corr), 1.0)
        np.testing.assert_allclose(corr, corr.T)
    with pytest.raises(ValueError, match="correlation_mode"):
        full.generate_feature_correlation_matrix(correlation_mode="kendall")


def test_imputation_list(trained):
    data = make_cite(n_cells=80)
    data.corrupt(rate=0.1)
    posterior = TotalPosterior(trained.model, data, indices=np.arange(80))
    original, imputed = posterior.imputation_list(n_samples=2)
    assert len(original) == len(imputed) == 80
    assert all(len(o) == len(i) for o, i in zip(original, imputed))
    assert sum(len(o) for o in original) > 0


def test_save_and_load_round_trip(full, tmp_path):
    full.save_posterior(tmp_path / "total")
    model = TOTALVI(N_GENES, N_PROTEINS, n_batch=2, n_latent=5, n_hidden=32)
    loaded = load_posterior(str(tmp_path / "total"), model=model, use_cuda=False)
    assert type(loaded) is TotalPosterior
    np.testing.assert_array_equal(loaded.indices, full.indices)
    np.testing.assert_array_equal(
        loaded.gene_dataset.protein_expression, full.gene_dataset.protein_expression
    )
    scvi.set_seed(1)
    expected = full.get_latent()[0]
    scvi.set_seed(1)
    np.testing.assert_allclose(loaded.get_latent()[0], expected, atol=1e-5)


# ---------------------------------------------------------------- DE
@pytest.mark.parametrize("mode", ["vanilla", "change"])
def test_differential_expression_finds_genes_and_proteins(full, mode):
    labels = full.gene_dataset.labels.ravel()
    scvi.set_seed(0)
    de = full.differential_expression_score(
        labels == 1, labels == 0, mode=mode, n_samples=500
    )
    names = list(full.gene_dataset.gene_names) + [f"p{i}" for i in range(N_PROTEINS)]
    assert sorted(de.index) == sorted(names)
    score = de["bayes_factor"].abs() if mode == "vanilla" else de["proba_de"]
    changed = [f"g{i}" for i in UP_GENES + DOWN_GENES]
    changed += [f"p{i}" for i in UP_PROTEINS + DOWN_PROTEINS]
    truth = np.isin(de.index, changed)
    is_gene = np.array([n.startswith("g") for n in de.index])
    assert roc_auc_score(truth[is_gene], score[is_gene]) >= 0.9
    assert roc_auc_score(truth[~is_gene], score[~is_gene]) >= 0.9
    protein_rows = de.loc[[f"p{i}" for i in range(N_PROTEINS)]]
    y = full.gene_dataset.protein_expression
    np.testing.assert_allclose(protein_rows["raw_mean1"], y[labels == 1].mean(0))


def test_one_vs_all_over_genes_and_proteins(full):
    scvi.set_seed(0)
    results, table = full.one_vs_all_degenes(min_cells=1, n_samples=200)
    assert len(results) == 2
    assert len(results[0]) == N_GENES + N_PROTEINS
