"""No host synchronisation inside a training iteration, for every trainer.

On CUDA a host synchronisation stalls the GPU until the host catches up. The
operations that cause one are counted here on CPU, at the aten level, with a
:class:`TorchDispatchMode` active only inside each optimisation step (loss, backward,
optimizer step, the NaN guard), plus the ``Tensor`` methods that read values back
(``item``, ``tolist``, ``numpy``). Per epoch work (the sampler's order, the NaN
counter read once per epoch, the metrics) is outside the count.
"""

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from scvi.dataset import CellMeasurement
from scvi.inference import AdapterTrainer, TotalTrainer, UnsupervisedTrainer
from scvi.inference.annotation import (
    AlternateSemiSupervisedTrainer,
    ClassifierTrainer,
    JointSemiSupervisedTrainer,
    SemiSupervisedTrainer,
)
from scvi.inference.trainer import Trainer
from scvi.models import LDVAE, SCANVI, TOTALVI, VAE, VAEC, AutoZIVAE, Classifier

from conftest import make_dataset

# aten operations that make the host wait for the device on CUDA
SYNCING = {
    "_local_scalar_dense",  # .item(), bool(t), float(t), int(t)
    "is_nonzero",
    "nonzero",
    "argwhere",
    "masked_select",
    "_unique",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "repeat_interleave",
    "equal",
    "allclose",
    "lift_fresh",  # torch.tensor(...) of host data inside the step
}


class SyncCounter(TorchDispatchMode):
    """Counts the syncing aten operations and value reads (name -> count)."""

    def __init__(self):
        super().__init__()
        self.counts = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SYNCING:
            self.counts[name] = self.counts.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def all_subclasses(cls) -> list:
    """Every subclass of ``cls``, recursively (the trainers imported so far)."""
    found = []
    for subclass in cls.__subclasses__():
        found += [subclass] + all_subclasses(subclass)
    return found


@pytest.fixture
def counted(monkeypatch):
    """Run every optimisation step of every Trainer under a SyncCounter."""
    counter = SyncCounter()
    record = {"iterations": 0}

    def count_reads(name):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            if record.get("inside"):
                counter.counts[name] = counter.counts.get(name, 0) + 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, read)

    for name in ("item", "tolist", "numpy"):
        count_reads(name)
    end = Trainer.on_iteration_end

    def counting(step):
        def counted_step(self, tensors_list):
            record["iterations"] += 1
            record["inside"] = True
            try:
                with counter:
                    step(self, tensors_list)
                    end(self)
            finally:
                record["inside"] = False

        return counted_step

    # the base step, and the steps of every trainer that writes its own
    for trainer_class in [Trainer] + all_subclasses(Trainer):
        step = trainer_class.__dict__.get("on_training_loop")
        if step is not None:
            monkeypatch.setattr(trainer_class, "on_training_loop", counting(step))
    monkeypatch.setattr(Trainer, "on_iteration_end", lambda self: None)
    return counter, record


def check(counted):
    counter, record = counted
    assert record["iterations"] > 0
    assert counter.counts == {}, f"host syncs in {record['iterations']} steps"


@pytest.fixture(scope="module")
def data():
    return make_dataset(n_cells=120, n_genes=30)


def vae_models(data):
    n_genes, n_batch = data.nb_genes, data.n_batches
    small = dict(n_hidden=16, n_latent=4)
    yield VAE(n_genes, n_batch, **small)
    yield VAE(
        n_genes, n_batch, reconstruction_loss="nb", dispersion="gene-batch", **small
    )
    yield VAE(
        n_genes,
        n_batch,
        n_labels=data.n_labels,
        reconstruction_loss="poisson",
        latent_distribution="ln",
        **small,
    )
    yield VAE(n_genes, n_batch, dispersion="gene-cell", **small)
    yield LDVAE(n_genes, n_batch, **small)
    yield AutoZIVAE(n_genes, n_batch=n_batch, n_latent=4, n_hidden=16)


@pytest.mark.parametrize("index", range(6))
def test_unsupervised_step_has_no_host_sync(counted, data, index):
    model = list(vae_models(data))[index]
    trainer = UnsupervisedTrainer(
        model, data, show_progbar=False, batch_size=32, frequency=None
    )
    trainer.train(n_epochs=1)
    check(counted)


def test_adapter_step_has_no_host_sync(counted, data):
    model = VAE(data.nb_genes, n_hidden=16, n_latent=4)
    posterior = UnsupervisedTrainer(model, data, show_progbar=False).test_set
    AdapterTrainer(model, data, posterior, frequency=1).train(n_path=1, n_epochs=1)
    check(counted)


@pytest.mark.parametrize(
    "trainer_class",
    [SemiSupervisedTrainer, JointSemiSupervisedTrainer, AlternateSemiSupervisedTrainer],
)
@pytest.mark.parametrize("model_class", [SCANVI, VAEC])
def test_semi_supervised_steps_have_no_host_sync(
    counted, data, trainer_class, model_class
):
    model = model_class(
        data.nb_genes, data.n_batches, data.n_labels, n_hidden=16, n_latent=4
    )
    trainer = trainer_class(
        model,
        data,
        n_labelled_samples_per_class=10,
        show_progbar=False,
        batch_size=32,
        frequency=None,
    )
    trainer.train(n_epochs=1)
    check(counted)


def test_classifier_step_has_no_host_sync(counted, data):
    vae = VAE(data.nb_genes, n_hidden=16, n_latent=4)
    classifier = Classifier(4, n_labels=data.n_labels)
    trainer = ClassifierTrainer(
        classifier, data, sampling_model=vae, show_progbar=False, frequency=None
    )
    trainer.train(n_epochs=1)
    check(counted)


@pytest.mark.parametrize("adversarial", [False, True])
def test_total_step_has_no_host_sync(counted, adversarial):
    data = make_dataset(n_cells=120, n_genes=30)
    proteins = np.random.RandomState(0).poisson(5.0, size=(data.nb_cells, 4))
    data.initialize_cell_measurement(
        CellMeasurement(
            name="protein_expression",
            data=proteins.astype(np.float32),
            columns_attr_name="protein_names",
            columns=np.array([f"p{i}" for i in range(4)]),
        )
    )
    model = TOTALVI(
        data.nb_genes, len(data.protein_names), n_batch=data.n_batches, n_latent=4
    )
    trainer = TotalTrainer(
        model,
        data,
        use_adversarial_loss=adversarial,
        early_stopping_kwargs=None,
        show_progbar=False,
        batch_size=32,
        frequency=None,
    )
    trainer.train(n_epochs=1)
    check(counted)


def test_the_counter_sees_syncs(counted, data):
    # the test is not blind: a loss that reads a value on the host is caught
    trainer = UnsupervisedTrainer(
        VAE(data.nb_genes, n_hidden=16, n_latent=4), data, show_progbar=False
    )
    original = trainer.loss

    def reading_loss(tensors):
        loss = original(tensors)
        if bool(loss > -1e30):
            return loss * float(loss.detach()) / loss.item()
        return loss

    trainer.loss = reading_loss
    trainer.train(n_epochs=1)
    counter, record = counted
    assert counter.counts["_local_scalar_dense"] >= 2 * record["iterations"]
    assert counter.counts["item"] == record["iterations"]
