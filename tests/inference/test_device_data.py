"""Mini-batches cut from arrays kept on the training device (here the CPU)."""

import numpy as np
import pytest
import torch

import scvi
from scvi.inference import UnsupervisedTrainer
from scvi.inference.posterior.batching import BatchLoader, SequentialSubsetSampler
from scvi.models import VAE

from conftest import make_dataset


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("corrupted", [False, True])
def test_device_batches_equal_host_batches(sparse, corrupted):
    dataset = make_dataset(sparse=sparse, n_cells=90, n_genes=25)
    if corrupted:
        dataset.corrupt(rate=0.2)
    collate = dataset.collate_fn_builder(corrupted=corrupted)
    order = np.random.RandomState(0).permutation(90)[:70]
    loaders = [
        BatchLoader(
            dataset,
            batch_size=32,
            sampler=SequentialSubsetSampler(order),
            collate_fn=collate,
            data_on_device=on_device,
        )
        for on_device in (False, True)
    ]
    assert loaders[0].on_device is None and loaders[1].on_device is not None
    host, device = (list(loader) for loader in loaders)
    assert len(host) == len(device) == 3
    for a, b in zip(host, device):
        assert len(a) == len(b) == 5
        for t, u in zip(a, b):
            assert t.dtype == u.dtype and t.shape == u.shape
            torch.testing.assert_close(t, u, rtol=0, atol=0)
    # the arrays were copied once, and are reused by a new loader
    cached = dict(dataset._device_arrays)
    list(BatchLoader(dataset, collate_fn=collate, data_on_device=True))
    assert all(dataset._device_arrays[k][2] is v[2] for k, v in cached.items())


def test_a_new_array_is_copied_again():
    dataset = make_dataset(n_cells=40, n_genes=10)
    first = next(iter(BatchLoader(dataset, batch_size=40, data_on_device=True)))[0]
    dataset.X = dataset.X * 2
    second = next(iter(BatchLoader(dataset, batch_size=40, data_on_device=True)))[0]
    torch.testing.assert_close(second, first * 2)


def test_custom_collate_functions_stay_on_the_host():
    dataset = make_dataset(n_cells=40, n_genes=10)

    def collate(indices):
        return (torch.as_tensor(dataset.X[indices]),)

    loader = BatchLoader(dataset, collate_fn=collate, data_on_device=True)
    assert loader.on_device is None
    assert next(iter(loader))[0].shape == (40, 10)


def test_automatic_choice_keeps_cpu_training_on_the_host():
    dataset = make_dataset(n_cells=40, n_genes=10)
    assert BatchLoader(dataset).on_device is None


@pytest.mark.parametrize("sparse", [False, True])
def test_training_is_the_same_with_data_on_device(sparse):
    dataset = make_dataset(sparse=sparse, n_cells=120, n_genes=20)
    histories = []
    for on_device in (False, True):
        scvi.set_seed(0)
        model = VAE(dataset.nb_genes, dataset.n_batches, n_hidden=16, n_latent=4)
        trainer = UnsupervisedTrainer(
            model,
            dataset,
            show_progbar=False,
            frequency=1,
            batch_size=32,
            data_on_device=on_device,
        )
        assert (trainer.train_set.data_loader.on_device is not None) == on_device
        trainer.train(n_epochs=3, lr=1e-2)
        histories.append(trainer.history["elbo_test_set"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-6)
