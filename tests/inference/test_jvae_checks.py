"""JVAETrainer: errors that name the problem, and steps without host syncs."""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.inference import JVAETrainer
from scvi.inference.jvae_trainer import JPosterior
from scvi.inference.trainer import Trainer
from scvi.models import JVAE, VAE, Classifier

from test_host_syncs import check, counted  # noqa: F401
from test_jvae_trainer import N_LATENT, make_model, make_trainer, simulate_pair


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pair():
    return simulate_pair(n_a=60, n_b=50)


def trainer_on(pair, datasets, **kwargs):
    """A trainer of the model of ``pair`` on other ``datasets``."""
    return make_trainer(dict(pair, datasets=datasets), model=make_model(pair), **kwargs)


def test_datasets_must_fit_the_model(pair):
    datasets = pair["datasets"]
    wide = copy.deepcopy(datasets[0])
    wide.batch_indices += 1
    with pytest.raises(ValueError, match=r"has 24 genes.*dim_input_list\[1\]"):
        trainer_on(pair, [datasets[0], wide])
    with pytest.raises(ValueError, match="holds 1 datasets"):
        trainer_on(pair, datasets[:1])
    with pytest.raises(ValueError, match="must be a JVAE"):
        make_trainer(pair, model=VAE(datasets[0].nb_genes))
    with pytest.raises(ValueError, match="n_batch=0"):
        make_trainer(pair, model=make_model(pair, n_batch=0))


def test_mappings_must_fit_the_gene_counts(pair):
    datasets = pair["datasets"]
    with pytest.raises(ValueError, match=r"indices_mappings\[1\] must hold"):
        JVAE(
            [d.nb_genes for d in datasets],
            datasets[0].nb_genes,
            [slice(None), pair["mappings"][1][:-1]],
            ["zinb", "nb"],
            [True, False],
            n_batch=2,
        )


def test_batches_of_the_datasets_must_not_overlap(pair):
    second = copy.deepcopy(pair["datasets"][1])
    second.batch_indices -= 1
    with pytest.raises(ValueError, match="share batch index 0"):
        trainer_on(pair, [pair["datasets"][0], second])
    second.batch_indices += 5
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        trainer_on(pair, [pair["datasets"][0], second])


def test_empty_datasets_and_cells_without_counts(pair):
    first, second = pair["datasets"]
    empty = GeneExpressionDataset()  # never populated
    with pytest.raises(ValueError, match=r"gene_dataset_list\[1\] is empty"):
        trainer_on(pair, [first, empty])
    silent = copy.deepcopy(second)
    silent.X[:3] = 0
    with pytest.raises(ValueError, match="3 cells without counts"):
        trainer_on(pair, [first, silent])
    with pytest.raises(ValueError, match="leaves 2 training cells"):
        make_trainer(pair, train_size=2)


def test_options_are_checked(pair):
    with pytest.raises(ValueError, match="kappa"):
        make_trainer(pair, kappa=-1.0)
    with pytest.raises(ValueError, match="3 classes"):
        make_trainer(pair, discriminator=Classifier(N_LATENT, 8, 3, logits=True))
    with pytest.raises(ValueError, match="n_epochs_kl_warmup"):
        make_trainer(pair, n_epochs_kl_warmup=-1)
    with pytest.raises(ValueError, match="mode"):
        JPosterior(make_model(pair), pair["datasets"][1], mode=2)
    with pytest.raises(ValueError, match="dataset 0 of the model has"):
        JPosterior(make_model(pair), pair["datasets"][1], mode=0)


def test_probability_discriminator_and_cpu_fallback(pair):
    # a Classifier without logits gives probabilities; use_cuda falls back quietly
    scvi.set_seed(0)
    discriminator = Classifier(N_LATENT, 8, 2, logits=False)
    trainer = make_trainer(pair, discriminator=discriminator, use_cuda=True)
    trainer.train(n_epochs=1)
    confusion = trainer.get_discriminator_confusion()
    np.testing.assert_allclose(confusion.sum(1), 1.0, rtol=1e-5)
    assert np.isfinite(trainer.get_loss_magnitude()[2]).all()


@pytest.fixture
def jvae_step(monkeypatch):
    """Make the JVAETrainer's step the Trainer's, so that ``make_steps_strict``
    (which patches ``Trainer.on_training_loop``) wraps it."""
    monkeypatch.setattr(Trainer, "on_training_loop", JVAETrainer.on_training_loop)
    monkeypatch.delattr(JVAETrainer, "on_training_loop")


@pytest.mark.parametrize("kappa", [1.0, 0.0])
def test_step_has_no_host_sync(counted, pair, kappa):  # noqa: F811
    make_trainer(pair, kappa=kappa, batch_size=16).train(n_epochs=1)
    check(counted)


def test_the_counter_sees_syncs(counted, pair):  # noqa: F811
    trainer = make_trainer(pair, batch_size=16)
    objective = trainer._objective

    def reading_objective(*tensors_list):
        loss, latents = objective(*tensors_list)
        loss.item()
        return loss, latents

    trainer._objective = reading_objective
    trainer.train(n_epochs=1)
    counter, record = counted
    assert counter.counts["item"] == record["iterations"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_steps_are_sync_free(jvae_step, pair, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
    from test_gpu_training import make_steps_strict

    steps = make_steps_strict(monkeypatch)
    trainer = make_trainer(pair, use_cuda=True, frequency=1)
    trainer.train(n_epochs=2)
    assert steps and all(np.isfinite(v).all() for v in trainer.history.values())
    assert all(z.shape[1] == N_LATENT for z in trainer.get_latent())
