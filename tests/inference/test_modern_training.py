"""Trainer side of the opt-in options: epoch rule, held-out early stopping,
the ``"modern"`` preset and ``scvi train --modern``."""

import argparse

import anndata
import numpy as np
import pytest

from scvi.cli import main
from scvi.dataset import SyntheticDataset
from scvi.inference import UnsupervisedTrainer
from scvi.inference.trainers.loop import Trainer
from scvi.inference.trainers.unsupervised import auto_kl_warmup_epochs, auto_n_epochs
from scvi.models import VAE


@pytest.fixture(scope="module")
def dataset():
    np.random.seed(0)
    return SyntheticDataset(batch_size=30, nb_genes=15, n_batches=2)


@pytest.mark.parametrize(
    "n_cells, epochs", [(1, 400), (20000, 400), (40000, 200), (30000, 267), (10**9, 1)]
)
def test_auto_n_epochs_is_scvi_tools_rule(n_cells, epochs):
    assert auto_n_epochs(n_cells) == epochs == max(1, min(round(8e6 / n_cells), 400))


def test_auto_n_epochs_rejects_bad_input():
    with pytest.raises(ValueError, match="n_cells must be a positive int"):
        auto_n_epochs(0)


def _recorded_epochs(monkeypatch, trainer, **train_kwargs):
    seen = {}

    def fake_train(self, n_epochs=400, *args, **kwargs):
        seen["n_epochs"] = n_epochs

    monkeypatch.setattr(Trainer, "train", fake_train)
    trainer.train(**train_kwargs)
    return seen["n_epochs"]


def test_the_epoch_rule_is_opt_in(dataset, monkeypatch):
    model = VAE(dataset.nb_genes, preset="modern")
    trainer = UnsupervisedTrainer(model, dataset, show_progbar=False)
    rule = auto_n_epochs(dataset.nb_cells)
    assert _recorded_epochs(monkeypatch, trainer, n_epochs="auto") == rule
    assert _recorded_epochs(monkeypatch, trainer, n_epochs=7) == 7
    # scVI 0.6's signature and default, whatever the model's preset
    assert _recorded_epochs(monkeypatch, trainer) == 400
    large = UnsupervisedTrainer(model, dataset, show_progbar=False)
    monkeypatch.setattr(type(dataset), "__len__", lambda self: 40000)
    assert _recorded_epochs(monkeypatch, large, n_epochs="auto") == 200


@pytest.mark.parametrize("n_epochs, warmup", [(0, 0), (3, 3), (400, 400), (999, 400)])
def test_auto_kl_warmup_is_the_shorter_of_training_and_400(n_epochs, warmup):
    assert auto_kl_warmup_epochs(n_epochs) == warmup


def test_auto_kl_warmup_follows_each_train_call(dataset, monkeypatch):
    model = VAE(dataset.nb_genes, preset="modern")
    trainer = UnsupervisedTrainer(
        model, dataset, n_epochs_kl_warmup="auto", show_progbar=False
    )
    assert trainer.auto_kl_warmup and trainer.n_epochs_kl_warmup == 400
    monkeypatch.setattr(type(dataset), "__len__", lambda self: 40000)
    assert _recorded_epochs(monkeypatch, trainer, n_epochs="auto") == 200
    assert trainer.n_epochs_kl_warmup == 200
    _recorded_epochs(monkeypatch, trainer, n_epochs=1000)
    assert trainer.n_epochs_kl_warmup == 400
    # a number given stays as it is
    fixed = UnsupervisedTrainer(model, dataset, n_epochs_kl_warmup=400)
    _recorded_epochs(monkeypatch, fixed, n_epochs=3)
    assert not fixed.auto_kl_warmup and fixed.n_epochs_kl_warmup == 400


def test_auto_kl_warmup_reaches_the_elbo_by_the_last_epoch(dataset):
    model = VAE(dataset.nb_genes, n_hidden=8, preset="modern")
    trainer = UnsupervisedTrainer(
        model, dataset, n_epochs_kl_warmup="auto", show_progbar=False
    )
    weights = []
    trainer.on_epoch_begin = lambda: weights.append(trainer.kl_weight)
    trainer.train(n_epochs=4)
    assert trainer.n_epochs_kl_warmup == 4
    np.testing.assert_allclose(weights, [0.0, 0.25, 0.5, 0.75])


def test_bad_trainer_options_raise(dataset):
    model = VAE(dataset.nb_genes)
    with pytest.raises(ValueError, match="early_stopping must be a bool"):
        UnsupervisedTrainer(model, dataset, early_stopping="yes")
    with pytest.raises(ValueError, match="n_epochs_kl_warmup must be None, a num"):
        UnsupervisedTrainer(model, dataset, n_epochs_kl_warmup="soon")
    trainer = UnsupervisedTrainer(model, dataset, show_progbar=False)
    with pytest.raises(ValueError, match="n_epochs must be an int or 'auto'"):
        trainer.train(n_epochs="many")


def test_held_out_early_stopping_watches_the_test_elbo(dataset):
    model = VAE(dataset.nb_genes, n_hidden=16, preset="modern")
    trainer = UnsupervisedTrainer(
        model,
        dataset,
        early_stopping=True,
        early_stopping_kwargs={"patience": 1, "threshold": 1e9},
        show_progbar=False,
    )
    stopping = trainer.early_stopping
    assert (stopping.early_stopping_metric, stopping.on) == ("elbo", "test_set")
    assert stopping.patience == 1 and stopping.save_best_state_metric == "elbo"
    trainer.train(n_epochs=20, lr=1e-3)
    # no epoch can improve by 1e9: training stops after the patience runs out
    history = trainer.history["elbo_test_set"]
    assert 2 <= len(history) < 10 and np.isfinite(history).all()


def test_weight_decay_reaches_the_optimizer(dataset):
    model = VAE(dataset.nb_genes, n_hidden=8)
    trainer = UnsupervisedTrainer(model, dataset, weight_decay=0.01, show_progbar=False)
    trainer.train(n_epochs=1)
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.01


def test_cli_train_modern(tmp_path, capsys):
    out = tmp_path / "modern.h5ad"
    argv = ["train", "--demo", "--out", str(out), "--demo-cells-per-batch", "40"]
    argv += ["--demo-genes", "20", "--n-hidden", "8", "--no-progress", "--modern"]
    argv += ["--epochs", "2"]
    assert main(argv) == 0
    adata = anndata.read_h5ad(out)
    assert (
        adata.uns["scvi"]["preset"] == "modern" and adata.uns["scvi"]["n_epochs"] == 2
    )
    # the KL warm-up ends with the 2 epochs, unless given
    assert adata.uns["scvi"]["n_epochs_kl_warmup"] == 2
    assert adata.obsm["X_scVI"].shape == (80, 10)
    assert np.isfinite(adata.obsm["X_scVI"]).all()
    assert main(argv + ["--n-epochs-kl-warmup", "5", "--force"]) == 0
    assert anndata.read_h5ad(out).uns["scvi"]["n_epochs_kl_warmup"] == 5


def test_cli_train_modern_totalvi(tmp_path):
    genes, proteins = _cite_counts()
    adata = anndata.AnnData(X=genes)
    adata.obsm["protein_expression"] = proteins
    path = tmp_path / "cite.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "modern_totalvi.h5ad"
    argv = ["train", str(path), "--out", str(out), "--model", "totalvi", "--modern"]
    argv += ["--epochs", "2", "--n-hidden", "8", "--n-latent", "4", "--no-progress"]
    argv += ["--n-samples", "2"]
    assert main(argv) == 0
    result = anndata.read_h5ad(out)
    assert result.uns["scvi"]["preset"] == "modern"
    latent = result.obsm["X_totalVI"]
    assert latent.shape == (60, 4) and np.isfinite(latent).all()
    foreground = result.obsm["totalvi_protein_foreground_prob"]
    assert ((foreground >= 0) & (foreground <= 1)).all()


def _cite_counts(n_cells=60, n_genes=15, n_proteins=4, seed=0):
    rng = np.random.default_rng(seed)
    genes = rng.poisson(2.0, size=(n_cells, n_genes)).astype(np.float32)
    genes[:, 0] += 1
    proteins = rng.poisson(20.0, size=(n_cells, n_proteins)).astype(np.float32)
    return genes, proteins


def test_cli_modern_epoch_rule_by_dataset_size():
    from scvi.cli.models import _resolve_preset

    class Cells:
        nb_cells = 50_000

    args = argparse.Namespace(epochs="auto", modern=True, n_epochs_kl_warmup="auto")
    assert _resolve_preset(args, Cells()) == "modern"
    assert args.epochs == auto_n_epochs(50_000) == 160
    assert args.n_epochs_kl_warmup == 160
    args = argparse.Namespace(epochs=7, modern=False)
    assert _resolve_preset(args, Cells()) is None and args.epochs == 7
