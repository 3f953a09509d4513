"""Mini-batches, training and queries on counts read from disk (backed)."""

import threading

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp_sparse
import torch

import scvi
from scvi.dataset import AnnDatasetFromAnnData, BackedAnnDataset
from scvi.inference import UnsupervisedTrainer
from scvi.inference.posterior.batching import (
    BatchLoader,
    ChunkedRandomSampler,
    SequentialSubsetSampler,
    SubsetRandomSampler,
)
from scvi.inference.posterior.read_ahead import read_ahead
from scvi.models import VAE


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    rng = np.random.default_rng(0)
    n_cells, n_genes = 300, 30
    X = rng.poisson(rng.gamma(0.5, 2.0, size=(1, n_genes)), (n_cells, n_genes))
    X[rng.random(X.shape) < 0.5] = 0
    X[:, 0] += 1  # no empty cell
    obs = pd.DataFrame(
        {"batch_indices": rng.integers(0, 2, n_cells)},
        index=[f"c{i}" for i in range(n_cells)],
    )
    path = str(tmp_path_factory.mktemp("backed_training") / "counts.h5ad")
    anndata.AnnData(X=sp_sparse.csr_matrix(X.astype(np.float32)), obs=obs).write_h5ad(
        path
    )
    return path


def _pair(path):
    return BackedAnnDataset(path), AnnDatasetFromAnnData(anndata.read_h5ad(path))


def test_chunked_sampler_visits_chunks_of_neighbours():
    indices = np.random.default_rng(1).permutation(1000)[:203]
    sampler = ChunkedRandomSampler(indices, chunk_size=20)
    torch.manual_seed(0)
    order = sampler.epoch_indices()
    assert np.array_equal(np.sort(order), np.sort(indices))
    assert len(sampler) == 203 and np.array_equal(sampler.indices, indices)
    ordered = np.sort(indices)
    chunks = [set(ordered[k : k + 20]) for k in range(0, 203, 20)]
    # the order is a sequence of whole chunks (the last one has 3 cells), each
    # shuffled, every chunk once
    visited, position = [], 0
    while position < len(order):
        k = next(k for k, chunk in enumerate(chunks) if order[position] in chunk)
        part = order[position : position + len(chunks[k])]
        assert set(part) == chunks[k]
        visited.append(k)
        position += len(chunks[k])
    assert sorted(visited) == list(range(11)) and visited != sorted(visited)
    assert not np.array_equal(order, np.sort(order))
    torch.manual_seed(0)
    assert np.array_equal(sampler.epoch_indices(), order)
    assert not np.array_equal(sampler.epoch_indices(), order)
    with pytest.raises(ValueError, match="chunk_size"):
        ChunkedRandomSampler(indices, 0)


def _batches(dataset, **kwargs):
    torch.manual_seed(5)
    return list(BatchLoader(dataset, **kwargs))


def test_backed_batches_equal_in_memory_batches(paths):
    backed, memory = _pair(paths)
    indices = np.random.default_rng(2).permutation(300)[:250]
    for kwargs in (
        dict(sampler=SubsetRandomSampler(indices), chunk_size=48, batch_size=32),
        dict(sampler=SubsetRandomSampler(indices), chunk_size=50, drop_last=True),
        dict(sampler=SequentialSubsetSampler(indices[::-1]), batch_size=64),
        dict(shuffle=True, batch_size=16, chunk_size=64),
    ):
        loader = BatchLoader(backed, **kwargs)
        assert loader.backed is not None
        ours, theirs = _batches(backed, **kwargs), _batches(memory, **kwargs)
        assert len(ours) == len(theirs) == len(loader)
        for a, b in zip(ours, theirs):
            assert len(a) == 5
            for x, y in zip(a, b):
                assert x.dtype == y.dtype and torch.equal(x, y)
    default = BatchLoader(backed, sampler=SubsetRandomSampler(indices), batch_size=8)
    assert isinstance(default.sampler, ChunkedRandomSampler)
    assert default.sampler.chunk_size == 256
    with pytest.raises(ValueError, match="chunk_size"):
        BatchLoader(memory, chunk_size=-1)


def test_backed_training_gives_the_in_memory_result(paths):
    results = []
    for dataset in _pair(paths):
        scvi.set_seed(0)
        vae = VAE(dataset.nb_genes, n_batch=dataset.n_batches)
        trainer = UnsupervisedTrainer(
            vae,
            dataset,
            train_size=0.8,
            frequency=1,
            show_progbar=False,
            data_loader_kwargs=dict(batch_size=32, chunk_size=64),
        )
        trainer.train(n_epochs=3, lr=1e-2)
        full = trainer.create_posterior(vae, dataset, indices=np.arange(300))
        results.append(
            dict(
                state=vae.state_dict(),
                elbo=trainer.history["elbo_train_set"],
                latent=full.get_latent()[0],
                imputed=full.imputation(),
                ll=full.reconstruction_error(),
            )
        )
    backed, memory = results
    for name in backed["state"]:
        assert torch.equal(backed["state"][name], memory["state"][name]), name
    assert backed["elbo"] == memory["elbo"] and len(backed["elbo"]) == 4
    assert backed["latent"].shape == (300, 10)
    np.testing.assert_array_equal(backed["latent"], memory["latent"])
    np.testing.assert_array_equal(backed["imputed"], memory["imputed"])
    assert backed["ll"] == memory["ll"]


def test_read_ahead_order_errors_and_early_stop():
    assert list(read_ahead(lambda i: i * i, range(7), depth=2)) == [
        i * i for i in range(7)
    ]

    def failing(i):
        if i == 3:
            raise OSError("disk gone")
        return i

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for value in read_ahead(failing, range(10)):
            got.append(value)
    assert got == [0, 1, 2]
    before = threading.active_count()
    iterator = read_ahead(lambda i: i, range(10**6), depth=1)
    assert next(iterator) == 0
    iterator.close()  # the reading thread stops
    assert threading.active_count() == before
