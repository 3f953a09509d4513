"""A training run recorded step by step, for tests/inference/test_distributed.py.

Run by ``torchrun --standalone --nproc_per_node 2 distributed_worker.py OUT``:
every process trains a small VAE data-parallel (its sampling makes the loss
noisy), then a deterministic linear autoencoder, recording the loss and the
parameters after each step; it trains the linear autoencoder again on
``OUT/counts.h5ad`` (written by the test) in memory and backed on disk, both with
chunks of neighbouring cells, recording the rows each disk read covers; it saves a
posterior (rank 0 alone should write it), trains an adversarial TotalTrainer and
a JVAETrainer, reduces a known cell-mean metric, and writes what it recorded to
``OUT/rank<r>.pt``. The test imports :func:`train_recorded` and
:func:`train_linear` to train the one-process references.
"""

import os
import sys

import anndata
import numpy as np
import torch

import scvi
from scvi.dataset import AnnDatasetFromAnnData, BackedAnnDataset
from scvi.inference import TotalTrainer, Trainer, UnsupervisedTrainer
from scvi.inference.trainers.distributed import ShardSampler, rank, reduce_metric
from scvi.models import VAE

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import make_dataset  # noqa: E402

N_CELLS, TRAIN_SIZE, BATCH_SIZE, N_EPOCHS = 240, 180, 16, 4


class Recording:
    """Keeps, on the device, the loss and a copy of the parameters after every
    step (tests only: nothing is read during training)."""

    def on_training_begin(self):
        super().on_training_begin()
        self.losses, self.states, self.epoch_steps = [], [], []

    def on_epoch_begin(self):
        super().on_epoch_begin()
        self.epoch_steps.append(0)
        sampler = self.train_set.data_loader.sampler
        if isinstance(sampler, ShardSampler):  # the reference run's own shard
            sampler.epoch = self.epoch

    def on_iteration_end(self):
        super().on_iteration_end()
        self.epoch_steps[-1] += 1
        self.losses.append(self.current_loss.detach().clone())
        parameters = [p.detach().reshape(-1).double() for p in self.model.parameters()]
        self.states.append(torch.cat(parameters))


class RecordingTrainer(Recording, UnsupervisedTrainer):
    """:class:`UnsupervisedTrainer` recording every step."""


class LinearTrainer(Recording, Trainer):
    """Fits a linear autoencoder of log counts (no sampling, no batch norm: the
    loss of a mini-batch is deterministic), recording every step."""

    def __init__(self, model, dataset, **kwargs):
        super().__init__(model, dataset, **kwargs)
        self.train_set = self.create_posterior(indices=np.arange(200))
        self.train_set.to_monitor = []

    @property
    def posteriors_loop(self):
        return ["train_set"]

    def loss(self, tensors):
        x = torch.log1p(tensors[0])
        return torch.mean((self.model(x) - x) ** 2)


def train_recorded(batch_size: int, distributed: bool) -> dict:
    """Train a VAE on 180 of 240 synthetic cells for 4 epochs and return what was
    recorded (``losses``, ``states``, ``epoch_steps``, ``history``)."""
    torch.set_num_threads(1)
    scvi.set_seed(0)
    data = make_dataset(n_cells=N_CELLS)
    model = VAE(data.nb_genes, n_batch=data.n_batches, n_latent=5, n_hidden=32)
    trainer = RecordingTrainer(
        model,
        data,
        train_size=TRAIN_SIZE,
        batch_size=batch_size,
        frequency=1,
        n_epochs_kl_warmup=2,
        show_progbar=False,
        distributed=distributed,
    )
    if not distributed:  # the same cell orders as the shards, in one process
        train_set = trainer.train_set
        sampler = ShardSampler(train_set.indices, batch_size, rank=0, world_size=1)
        trainer.train_set = train_set.update({"sampler": sampler})
    trainer.train(n_epochs=N_EPOCHS, lr=5e-3)
    return {
        "trainer": trainer,
        "losses": torch.stack(trainer.losses).cpu(),
        "states": torch.stack(trainer.states).cpu(),
        "epoch_steps": trainer.epoch_steps,
        "history": {key: list(values) for key, values in trainer.history.items()},
    }


def train_linear(
    batch_size: int, distributed: bool, data=None, chunk_size=None
) -> dict:
    """Train a linear autoencoder on the first 200 cells (of ``data``, default
    synthetic) for 3 epochs and return the recorded ``losses`` and ``states``."""
    torch.set_num_threads(1)
    scvi.set_seed(0)
    data = make_dataset(n_cells=N_CELLS) if data is None else data
    model = torch.nn.Sequential(
        torch.nn.Linear(data.nb_genes, 4), torch.nn.Linear(4, data.nb_genes)
    )
    trainer = LinearTrainer(
        model,
        data,
        show_progbar=False,
        distributed=distributed,
        data_loader_kwargs=dict(batch_size=batch_size, chunk_size=chunk_size),
    )
    if not distributed:
        sampler = ShardSampler(np.arange(200), batch_size, rank=0, world_size=1)
        trainer.train_set = trainer.train_set.update({"sampler": sampler})
    trainer.train(n_epochs=3, lr=1e-2)
    return {
        "losses": torch.stack(trainer.losses),
        "states": torch.stack(trainer.states),
    }


class MeanOfCells:
    """A posterior stand-in whose metric ``elbo`` is the mean of ``values`` over
    its cells (to check that shares are reduced as a mean over all cells)."""

    def __init__(self, values, indices):
        self.values, self.indices = values, np.asarray(indices)
        self.nb_cells = len(self.indices)

    def update(self, kwargs):
        return MeanOfCells(self.values, kwargs["sampler"].indices)

    def elbo(self):
        return float(self.values[self.indices].mean())


def train_linear_backed(path: str, chunk_size: int) -> dict:
    """:func:`train_linear` data-parallel on ``path`` in memory and backed, with
    the positions of the rows of each disk read (``reads``)."""
    in_memory = AnnDatasetFromAnnData(anndata.read_h5ad(path))
    backed = BackedAnnDataset(path)
    reads, read = [], backed.X.read

    def recording_read(positions):
        reads.append(np.array(positions))
        return read(positions)

    backed.X.read = recording_read
    runs = {
        "memory": train_linear(BATCH_SIZE, True, in_memory, chunk_size),
        "backed": train_linear(BATCH_SIZE, True, backed, chunk_size),
    }
    runs["reads"] = reads
    return runs


def train_adversarial() -> dict:
    """Parameters of the model and of the discriminator of an adversarial
    TotalTrainer and of a JVAETrainer after 2 data-parallel epochs, started from
    a different random initialisation on each rank."""
    from test_jvae_trainer import make_trainer as make_jvae_trainer
    from test_jvae_trainer import simulate_pair
    from test_total import make_cite
    from test_total import make_model as make_total_model

    torch.set_num_threads(1)
    scvi.set_seed(rank())
    data = make_cite(n_cells=160)
    total = TotalTrainer(
        make_total_model(data),
        data,
        use_adversarial_loss=True,
        early_stopping_kwargs=None,
        show_progbar=False,
        data_loader_kwargs={"batch_size": 16},
        distributed=True,
    )
    jvae = make_jvae_trainer(
        simulate_pair(n_a=60, n_b=50), batch_size=16, distributed=True
    )
    result = {}
    for name, trainer in (("total", total), ("jvae", jvae)):
        initial = _flat(trainer.discriminator)
        trainer.train(n_epochs=2)
        result[name] = {
            "model": _flat(trainer.model),
            "discriminator": _flat(trainer.discriminator),
            "initial_discriminator": initial,
        }
    return result


def _flat(module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double() for p in module.parameters()])


def main(out: str) -> None:
    run = train_recorded(BATCH_SIZE, distributed=True)
    run.pop("trainer").train_set.save_posterior(os.path.join(out, f"post{rank()}"))
    run["world_size"] = torch.distributed.get_world_size()
    run["linear"] = train_linear(BATCH_SIZE, distributed=True)
    run["linear_chunked"] = train_linear_backed(os.path.join(out, "counts.h5ad"), 50)
    run["adversarial"] = train_adversarial()
    values = np.arange(7.0) ** 2  # shares of 4 and 3 cells: a mean of means is off
    run["reduced_elbo"] = reduce_metric(MeanOfCells(values, range(7)), "elbo")
    torch.save(run, os.path.join(out, f"rank{rank()}.pt"))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
