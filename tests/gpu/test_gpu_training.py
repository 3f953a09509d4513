"""Every trainer for one epoch on CUDA, with no host synchronisation in a step.

Skipped without CUDA. ``torch.cuda.set_sync_debug_mode("error")`` is active inside
each optimisation step (loss, backward, optimizer step, NaN guard): any operation
that makes the host wait for the GPU raises there. Per epoch work (the sampler's
order, the NaN counter, the metrics) runs outside it.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scvi.inference import AdapterTrainer, UnsupervisedTrainer
from scvi.inference.annotation import (
    AlternateSemiSupervisedTrainer,
    ClassifierTrainer,
    JointSemiSupervisedTrainer,
    SemiSupervisedTrainer,
)
from scvi.inference.trainer import Trainer
from scvi.models import LDVAE, SCANVI, VAE, VAEC, AutoZIVAE, Classifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from conftest import make_dataset  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def make_steps_strict(monkeypatch):
    """Run every optimisation step under set_sync_debug_mode("error"); returns the
    list that each strict step appends to."""
    step = Trainer.on_training_loop
    steps = []

    def strict_step(self, tensors_list):
        assert all(t.is_cuda for t in tensors_list[0])
        torch.cuda.set_sync_debug_mode("error")
        try:
            step(self, tensors_list)
            self.check_training_status()
        finally:
            torch.cuda.set_sync_debug_mode(0)
        steps.append(1)

    monkeypatch.setattr(Trainer, "on_training_loop", strict_step)
    monkeypatch.setattr(Trainer, "on_iteration_end", lambda self: None)
    return steps


@pytest.fixture
def strict(monkeypatch):
    """Every optimisation step under set_sync_debug_mode("error")."""
    steps = make_steps_strict(monkeypatch)
    yield steps
    assert steps


@pytest.fixture(scope="module", params=[False, True], ids=["dense", "sparse"])
def data(request):
    return make_dataset(sparse=request.param, n_cells=300, n_genes=40)


def unsupervised_models(data):
    n_genes, n_batch = data.nb_genes, data.n_batches
    return [
        VAE(n_genes, n_batch),
        VAE(n_genes, n_batch, reconstruction_loss="nb", dispersion="gene-batch"),
        VAE(n_genes, n_batch, reconstruction_loss="poisson", latent_distribution="ln"),
        LDVAE(n_genes, n_batch),
        AutoZIVAE(n_genes, n_batch=n_batch),
    ]


@pytest.mark.parametrize("index", range(5))
def test_unsupervised(strict, data, index):
    model = unsupervised_models(data)[index]
    trainer = UnsupervisedTrainer(model, data, frequency=1, show_progbar=False)
    assert trainer.train_set.data_loader.on_device is not None
    trainer.train(n_epochs=2)
    assert np.isfinite(trainer.history["elbo_test_set"]).all()


def test_compiled_step(monkeypatch, caplog):
    """The compiled step: compilation (which may synchronise) in a first epoch, then
    strict steps."""
    data = make_dataset(n_cells=300, n_genes=40)
    trainer = UnsupervisedTrainer(
        VAE(data.nb_genes, data.n_batches), data, show_progbar=False, compile=True
    )
    with caplog.at_level("WARNING", logger="scvi"):
        trainer.train(n_epochs=1)
        steps = make_steps_strict(monkeypatch)
        trainer.train(n_epochs=2)
    assert steps
    assert "torch.compile failed" not in caplog.text


def test_adapter(strict, data):
    model = VAE(data.nb_genes)
    posterior = UnsupervisedTrainer(model, data, show_progbar=False).test_set
    AdapterTrainer(model, data, posterior, frequency=1).train(n_path=1, n_epochs=1)


@pytest.mark.parametrize(
    "trainer_class",
    [SemiSupervisedTrainer, JointSemiSupervisedTrainer, AlternateSemiSupervisedTrainer],
)
@pytest.mark.parametrize("model_class", [SCANVI, VAEC])
def test_semi_supervised(strict, data, trainer_class, model_class):
    model = model_class(data.nb_genes, data.n_batches, data.n_labels)
    trainer = trainer_class(
        model, data, n_labelled_samples_per_class=10, show_progbar=False
    )
    trainer.train(n_epochs=1)


def test_classifier(strict, data):
    vae = VAE(data.nb_genes)
    trainer = ClassifierTrainer(
        Classifier(vae.n_latent, n_labels=data.n_labels),
        data,
        sampling_model=vae,
        show_progbar=False,
    )
    trainer.train(n_epochs=1)
    assert 0 <= trainer.test_set.accuracy() <= 1


def test_nan_guard_on_cuda(data):
    trainer = UnsupervisedTrainer(
        VAE(data.nb_genes), data, max_nans=2, show_progbar=False
    )
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.loss = lambda tensors: sum(p.sum() for p in trainer.model.parameters()) * (
        float("nan")
    )
    with pytest.raises(ValueError, match="NaN"):
        trainer.train(n_epochs=1)
    for a, b in zip(before, trainer.model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("adversarial", [False, True])
def test_total_trainer(strict, adversarial):
    from scvi.inference import TotalTrainer
    from scvi.models import TOTALVI
    from test_total import N_PROTEINS, make_cite

    data = make_cite(n_cells=200)
    model = TOTALVI(data.nb_genes, N_PROTEINS, n_batch=data.n_batches, n_latent=5)
    trainer = TotalTrainer(
        model,
        data,
        use_adversarial_loss=adversarial,
        frequency=1,
        early_stopping_kwargs=None,
        show_progbar=False,
    )
    assert trainer.train_set.data_loader.on_device is not None
    trainer.train(n_epochs=2)
    assert np.isfinite(trainer.history["elbo_test_set"]).all()
    latent = trainer.test_set.get_latent()[0]
    assert latent.shape == (trainer.test_set.nb_cells, 5)
