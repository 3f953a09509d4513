"""scANVI annotation on simulated ground truth, classifiers and AnnotationPosterior.

The data: 5 cell types x 120 cells x 60 genes in 2 batches. Each type has its own
program (a third of the genes up 2 to 6 fold, the programs of different types
overlapping), on a shared baseline; each batch multiplies every gene by its own
factor (log-normal, sd 0.5) and the second batch has 1.5 times larger libraries;
libraries vary (log-normal, sd 0.6) around 60 counts, and the counts are negative
binomial (inverse dispersion 2). Knowing the true programs, a cell's type is
recovered 98.5% of the time (likelihood classifier with the true parameters), so
the ceiling is near 1 but single genes are noisy.

Both classifiers see the same 20 labelled cells per type and are scored on the other
500 cells: scANVI also reads the unlabelled cells (it is semi-supervised), the
``ClassifierTrainer`` reads the raw counts of the labelled cells, as documented.
"""

import logging

import numpy as np
import pytest
import torch

import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.inference import (
    AlternateSemiSupervisedTrainer,
    ClassifierTrainer,
    JointSemiSupervisedTrainer,
    SemiSupervisedTrainer,
    load_posterior,
    UnsupervisedTrainer,
)
from scvi.inference.annotation import AnnotationPosterior
from scvi.models import SCANVI, VAE, Classifier

N_TYPES, N_PER_TYPE, N_GENES, N_LABELLED = 5, 120, 60, 20


def simulate(n_per_type=N_PER_TYPE, n_genes=N_GENES, n_types=N_TYPES, seed=0):
    """Two batches of cell types with overlapping programs (see the module doc)."""
    rs = np.random.RandomState(seed)
    baseline = rs.gamma(1.0, 1.0, n_genes)
    log_fold = np.zeros((n_types, n_genes))
    for k in range(n_types):
        genes = rs.choice(n_genes, n_genes // 3, replace=False)
        log_fold[k, genes] = np.log(4.0) * rs.uniform(0.5, 1.5, genes.size)
    batch_factor = rs.lognormal(0.0, 0.5, (2, n_genes))
    labels = np.repeat(np.arange(n_types), n_per_type)
    batches = rs.randint(2, size=labels.size)
    mean = baseline * np.exp(log_fold[labels]) * batch_factor[batches]
    mean /= mean.sum(axis=1, keepdims=True)
    size = rs.lognormal(np.log(60), 0.6, labels.size) * (1 + 0.5 * batches)
    counts = rs.poisson(rs.gamma(2.0, mean * size[:, None] / 2.0)).astype(np.float32)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        counts,
        batch_indices=batches,
        labels=labels,
        gene_names=[f"g{i}" for i in range(n_genes)],
        cell_types=[f"type_{k}" for k in range(n_types)],
    )
    return dataset


def make_scanvi(dataset, **kwargs):
    return SCANVI(
        dataset.nb_genes, dataset.n_batches, dataset.n_labels, n_hidden=64, **kwargs
    )


def semi_trainer(model, dataset, trainer_class=SemiSupervisedTrainer, **kwargs):
    kwargs.setdefault("n_labelled_samples_per_class", N_LABELLED)
    return trainer_class(
        model,
        dataset,
        show_progbar=False,
        batch_size=64,
        n_epochs_kl_warmup=None,
        **kwargs,
    )


@pytest.fixture(scope="module")
def data():
    return simulate()


@pytest.fixture(scope="module")
def scanvi_trainer(data):
    scvi.set_seed(0)
    trainer = semi_trainer(make_scanvi(data), data, frequency=10)
    trainer.train(n_epochs=40, lr=1e-2)
    return trainer


@pytest.fixture(scope="module")
def raw_classifier(data, scanvi_trainer):
    """A classifier of raw counts trained on the labelled cells of scANVI."""
    scvi.set_seed(0)
    classifier = Classifier(data.nb_genes, n_hidden=64, n_labels=data.n_labels)
    trainer = ClassifierTrainer(classifier, data, show_progbar=False, batch_size=64)
    trainer.train_set = trainer.create_posterior(
        indices=scanvi_trainer.labelled_set.indices
    )
    trainer.test_set = trainer.create_posterior(
        indices=scanvi_trainer.unlabelled_set.indices
    )
    trainer.train(n_epochs=100, lr=1e-3)
    return trainer


# ---------------------------------------------------------------- quality
def test_scanvi_annotates_unlabelled_cells_better_than_a_raw_classifier(
    scanvi_trainer, raw_classifier
):
    scanvi_accuracy = scanvi_trainer.unlabelled_set.accuracy()
    raw_accuracy = raw_classifier.test_set.accuracy()
    assert raw_classifier.train_set.accuracy() > 0.95  # it did learn its cells
    assert scanvi_accuracy >= 0.9
    assert scanvi_accuracy > raw_accuracy + 0.02, (scanvi_accuracy, raw_accuracy)


def test_history_and_latent_space(scanvi_trainer):
    history = scanvi_trainer.history
    unlabelled_accuracy = history["accuracy_unlabelled_set"]
    assert len(unlabelled_accuracy) == 5  # epochs 0, 10, ..., 40
    assert len(history["accuracy_labelled_set"]) == 5
    assert unlabelled_accuracy[0] < 0.5 < 0.9 < unlabelled_accuracy[-1]
    assert unlabelled_accuracy[-1] == scanvi_trainer.unlabelled_set.accuracy()
    # the keys of scVI 0.6.8: its posteriors, no train/test split
    assert sorted(history) == [
        "accuracy_labelled_set",
        "accuracy_unlabelled_set",
        "elbo_full_dataset",
        "elbo_labelled_set",
        "elbo_unlabelled_set",
        "reconstruction_error_labelled_set",
        "reconstruction_error_unlabelled_set",
    ]
    assert all(len(values) == 5 for values in history.values())
    assert history["elbo_unlabelled_set"][-1] == pytest.approx(
        scanvi_trainer.unlabelled_set.elbo(), rel=0.05
    )
    labelled, unlabelled = scanvi_trainer.labelled_set, scanvi_trainer.unlabelled_set
    assert labelled.nn_latentspace(unlabelled) >= 0.9
    assert unlabelled.unsupervised_classification_accuracy() >= unlabelled.accuracy()


def test_predictions(scanvi_trainer, data):
    posterior = scanvi_trainer.unlabelled_set
    y, y_pred = posterior.compute_predictions()
    assert y.shape == y_pred.shape == (posterior.nb_cells,)
    np.testing.assert_array_equal(y, data.labels.ravel()[posterior.indices])
    assert posterior.accuracy() == pytest.approx(np.mean(y == y_pred))
    y_soft, probs = posterior.compute_predictions(soft=True)
    np.testing.assert_array_equal(y_soft, y)
    assert probs.shape == (posterior.nb_cells, N_TYPES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    np.testing.assert_array_equal(probs.argmax(axis=1), y_pred)
    # the model's own classifier, called directly, gives the same probabilities
    x = torch.as_tensor(data.X[posterior.indices[:7]])
    with torch.no_grad():
        direct = scanvi_trainer.model.eval().classify(x).numpy()
    np.testing.assert_allclose(direct, probs[:7], rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- labelled set
def test_labelled_set_draws_n_cells_per_class(data):
    trainer = semi_trainer(make_scanvi(data), data, seed=3)
    labels = data.labels.ravel()
    labelled, unlabelled = trainer.labelled_set.indices, trainer.unlabelled_set.indices
    assert np.bincount(labels[labelled]).tolist() == [N_LABELLED] * N_TYPES
    assert not set(labelled) & set(unlabelled)
    assert sorted(np.concatenate([labelled, unlabelled])) == list(range(len(data)))
    assert trainer.full_dataset.nb_cells == len(data)
    assert isinstance(trainer.labelled_set, AnnotationPosterior)
    assert not hasattr(trainer, "test_set")  # as in scVI 0.6.8
    assert trainer.classifier_trainer.train_set is trainer.labelled_set
    again = semi_trainer(make_scanvi(data), data, seed=3).labelled_set.indices
    other = semi_trainer(make_scanvi(data), data, seed=4).labelled_set.indices
    assert set(again) == set(labelled) and set(other) != set(labelled)


def test_too_few_cells_of_a_class_are_all_labelled(caplog):
    data = simulate(n_per_type=30, n_genes=20)
    keep = np.flatnonzero(data.labels.ravel() != 4)[:120].tolist() + [120, 121, 122]
    data.update_cells(np.sort(keep))  # type 4 keeps 3 cells
    with caplog.at_level(logging.WARNING, logger="scvi"):
        trainer = semi_trainer(make_scanvi(data), data, n_labelled_samples_per_class=10)
    labels = data.labels.ravel()
    assert np.bincount(labels[trainer.labelled_set.indices]).tolist() == [10] * 4 + [3]
    assert 4 not in labels[trainer.unlabelled_set.indices]
    assert "fewer than n_labelled_samples_per_class" in caplog.text


def test_early_stopping_on_accuracy_looks_for_a_maximum(data):
    trainer = semi_trainer(
        make_scanvi(data),
        data,
        early_stopping_kwargs={
            "early_stopping_metric": "accuracy",
            "save_best_state_metric": "accuracy",
            "on": "unlabelled_set",
        },
    )
    assert trainer.early_stopping.mode == trainer.early_stopping.mode_save_state
    assert trainer.early_stopping.mode == "max"
    assert trainer.frequency == 1 and "accuracy" in trainer.metrics_to_monitor


def test_reassigned_labelled_set_feeds_the_classifier_phase(data):
    trainer = semi_trainer(make_scanvi(data), data)
    first_batch = np.flatnonzero(data.batch_indices.ravel() == 0)
    trainer.labelled_set = trainer.create_posterior(indices=first_batch)
    assert trainer.classifier_trainer.train_set is trainer.labelled_set
    assert trainer.labelled_set.to_monitor == ["reconstruction_error", "accuracy"]


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n_labelled_samples_per_class": 0}, "n_labelled_samples_per_class"),
        ({"n_labelled_samples_per_class": 2.5}, "n_labelled_samples_per_class"),
        ({"n_epochs_classifier": -1}, "n_epochs_classifier"),
        ({"lr_classification": 0}, "lr_classification"),
        ({"classification_ratio": -1}, "classification_ratio"),
    ],
)
def test_semi_supervised_arguments_are_checked(data, kwargs, word):
    with pytest.raises(ValueError, match=word):
        semi_trainer(make_scanvi(data), data, **kwargs)


def test_semi_supervised_needs_a_classifying_model(data):
    with pytest.raises(ValueError, match="classify"):
        semi_trainer(VAE(data.nb_genes), data)
    too_few_labels = SCANVI(data.nb_genes, data.n_batches, n_labels=3)
    with pytest.raises(ValueError, match="n_labels"):
        semi_trainer(too_few_labels, data)


# ---------------------------------------------------------------- hierarchy
def test_labels_groups_hierarchical_accuracy(data):
    groups = np.array([0, 0, 1, 1, 2])
    scvi.set_seed(0)
    model = make_scanvi(data, labels_groups=groups, use_labels_groups=True)
    group_weights = [p.detach().clone() for p in model.classifier_groups.parameters()]
    trainer = semi_trainer(model, data)
    trainer.train(n_epochs=10, lr=1e-2)
    trained = list(model.classifier_groups.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(group_weights, trained))

    posterior = trainer.unlabelled_set
    y, y_pred = posterior.compute_predictions()
    expected = np.mean(groups[y] == groups[y_pred])
    assert posterior.hierarchical_accuracy() == pytest.approx(expected)
    assert posterior.hierarchical_accuracy() >= posterior.accuracy() >= 0.85
    _, probs = posterior.compute_predictions(soft=True)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_hierarchical_accuracy_needs_groups(scanvi_trainer):
    with pytest.raises(ValueError, match="labels_groups"):
        scanvi_trainer.unlabelled_set.hierarchical_accuracy()


# ---------------------------------------------------------------- other schemes
@pytest.mark.parametrize(
    "trainer_class", [JointSemiSupervisedTrainer, AlternateSemiSupervisedTrainer]
)
def test_joint_and_alternate_training_improve_accuracy(data, trainer_class):
    scvi.set_seed(0)
    kwargs = {"n_epochs_classifier": 5}
    if trainer_class is JointSemiSupervisedTrainer:
        kwargs = {"n_epochs_classifier": 5, "classification_ratio": 100}
    trainer = semi_trainer(make_scanvi(data), data, trainer_class, **kwargs)
    before = trainer.unlabelled_set.accuracy()
    trainer.train(n_epochs=15, lr=1e-2)
    after = trainer.unlabelled_set.accuracy()
    assert after >= 0.8 and after > before + 0.3, (before, after)
    if trainer_class is JointSemiSupervisedTrainer:
        assert trainer.n_epochs_classifier == 0
        assert trainer.classifier_trainer.optimizer is None  # never trained alone
        assert trainer.posteriors_loop == ["full_dataset", "labelled_set"]
    else:
        assert trainer.classifier_trainer.n_epochs == 5
        assert trainer.posteriors_loop == ["full_dataset"]


# ---------------------------------------------------------------- classifiers
@pytest.mark.parametrize("sampling_zl", [False, True])
def test_classifier_on_the_latent_space(scanvi_trainer, data, sampling_zl):
    scanvi = scanvi_trainer.model
    weights = {k: v.clone() for k, v in scanvi.state_dict().items()}
    scvi.set_seed(0)
    classifier = Classifier(scanvi.n_latent + sampling_zl, n_labels=N_TYPES)
    trainer = ClassifierTrainer(
        classifier,
        data,
        sampling_model=scanvi,
        sampling_zl=sampling_zl,
        show_progbar=False,
        frequency=5,
    )
    trainer.train_set = trainer.create_posterior(
        indices=scanvi_trainer.labelled_set.indices
    )
    trainer.test_set = trainer.create_posterior(
        indices=scanvi_trainer.unlabelled_set.indices
    )
    trainer.train(n_epochs=30, lr=1e-2)
    assert trainer.test_set.accuracy() >= 0.9
    assert trainer.history["accuracy_test_set"][-1] == trainer.test_set.accuracy()
    for key, value in scanvi.state_dict().items():  # the sampling model is fixed
        assert torch.equal(value, weights[key]), key
    assert not scanvi.training
    y, probs = trainer.compute_predictions(soft=True)
    np.testing.assert_array_equal(y, data.labels.ravel())
    assert probs.shape == (len(data), N_TYPES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    _, y_pred = trainer.compute_predictions()
    np.testing.assert_array_equal(y_pred, probs.argmax(axis=1))
    latent = trainer.test_set.get_latent()[0]
    assert latent.shape == (trainer.test_set.nb_cells, scanvi.n_latent)


def test_classifier_trainer_on_the_models_own_classifier(scanvi_trainer, data):
    scanvi = scanvi_trainer.model
    trainer = ClassifierTrainer(
        scanvi.classifier, data, sampling_model=scanvi, show_progbar=False
    )
    y, probs = trainer.compute_predictions(soft=True)
    _, expected = scanvi_trainer.create_posterior(
        indices=np.arange(len(data))
    ).compute_predictions(soft=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)


def test_classifier_trainer_defaults_and_errors(data):
    classifier = Classifier(data.nb_genes, n_labels=N_TYPES)
    trainer = ClassifierTrainer(classifier, data, show_progbar=False)
    assert trainer.posteriors_loop == ["train_set"]
    assert trainer.train_set.nb_cells == int(0.8 * len(data))
    assert trainer.train_set.to_monitor == ["accuracy"]
    assert trainer.early_stopping.mode == "min"  # no early stopping metric
    stopping = ClassifierTrainer(
        classifier,
        data,
        early_stopping_kwargs={"early_stopping_metric": "accuracy"},
    )
    assert stopping.early_stopping.mode == "max"
    with pytest.raises(ValueError, match="sampling_zl"):
        ClassifierTrainer(classifier, data, sampling_zl=True)
    with pytest.raises(ValueError, match="z_encoder"):
        ClassifierTrainer(classifier, data, sampling_model=classifier)


# ---------------------------------------------------------------- persistence
def test_annotation_posterior_save_and_load(scanvi_trainer, data, tmp_path):
    posterior = scanvi_trainer.unlabelled_set
    posterior.save_posterior(str(tmp_path / "unlabelled"))
    model = make_scanvi(data)
    loaded = load_posterior(str(tmp_path / "unlabelled"), model=model, use_cuda=False)
    assert type(loaded) is AnnotationPosterior
    np.testing.assert_array_equal(loaded.indices, posterior.indices)
    assert loaded.accuracy() == posterior.accuracy()
    np.testing.assert_allclose(
        loaded.compute_predictions(soft=True)[1],
        posterior.compute_predictions(soft=True)[1],
        rtol=1e-5,
        atol=1e-7,
    )


# ---------------------------------------------------------------- scVI 0.6.8 history
def test_history_keys_of_scvi_068(data):
    """Observed with scVI 0.6.8: the monitored metrics of each posterior are its
    own ``to_monitor`` plus the trainer's ``metrics_to_monitor``."""
    trainer = semi_trainer(make_scanvi(data), data, frequency=1)
    assert list(trainer._posteriors) == [
        "full_dataset",
        "labelled_set",
        "unlabelled_set",
    ]
    trainer.train(n_epochs=1)
    assert {k: len(v) for k, v in trainer.history.items()} == {
        "elbo_full_dataset": 2,
        "reconstruction_error_labelled_set": 2,
        "accuracy_labelled_set": 2,
        "elbo_labelled_set": 2,
        "reconstruction_error_unlabelled_set": 2,
        "accuracy_unlabelled_set": 2,
        "elbo_unlabelled_set": 2,
    }
    trainer = semi_trainer(
        make_scanvi(data), data, frequency=1, metrics_to_monitor=["elbo", "accuracy"]
    )
    trainer.train(n_epochs=1)
    assert "accuracy_full_dataset" in trainer.history
    # a classifier records the accuracy of its sets even with no metric asked for
    vae = VAE(data.nb_genes)
    classifier = ClassifierTrainer(
        Classifier(vae.n_latent, n_labels=data.n_labels),
        data,
        sampling_model=vae,
        frequency=1,
        show_progbar=False,
    )
    classifier.train(n_epochs=1)
    assert sorted(classifier.history) == ["accuracy_test_set", "accuracy_train_set"]
    # and an unsupervised trainer records every metric asked for (accuracy: None)
    unsupervised = UnsupervisedTrainer(
        VAE(data.nb_genes),
        data,
        frequency=1,
        show_progbar=False,
        metrics_to_monitor=["elbo", "accuracy", "reconstruction_error"],
    )
    unsupervised.train(n_epochs=1)
    assert unsupervised.history["accuracy_test_set"] == [None, None]
    assert len(unsupervised.history["reconstruction_error_train_set"]) == 2


def test_early_stopping_on_a_missing_posterior_is_a_clear_error(data):
    trainer = semi_trainer(
        make_scanvi(data),
        data,
        early_stopping_kwargs={"early_stopping_metric": "elbo", "on": "test_set"},
    )
    with pytest.raises(ValueError, match="on='test_set'.*unlabelled_set"):
        trainer.train(n_epochs=1)
