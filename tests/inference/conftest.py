"""Small datasets and trained models shared by the inference tests."""

import numpy as np
import pytest
import scipy.sparse as sp_sparse

import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.inference import UnsupervisedTrainer
from scvi.models import VAE


def make_counts(n_cells=240, n_genes=40, n_batches=2, n_labels=3, seed=0):
    """Counts from 3 cell types with distinct gene programs, 2 batches."""
    rs = np.random.RandomState(seed)
    labels = rs.randint(n_labels, size=n_cells)
    batches = np.arange(n_cells) % n_batches
    programs = rs.gamma(2.0, 1.0, size=(n_labels, n_genes))
    library = rs.lognormal(3.0, 0.3, size=(n_cells, 1))
    rate = library * programs[labels] / programs[labels].sum(1, keepdims=True)
    counts = rs.poisson(rate * (1 + 0.5 * batches[:, None]))
    return counts.astype(np.float32), batches, labels


def make_dataset(sparse=False, **kwargs):
    counts, batches, labels = make_counts(**kwargs)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        sp_sparse.csr_matrix(counts) if sparse else counts,
        batch_indices=batches,
        labels=labels,
        gene_names=[f"g{i}" for i in range(counts.shape[1])],
    )
    return dataset


@pytest.fixture
def dataset():
    return make_dataset()


@pytest.fixture(scope="module")
def trained():
    """A VAE trained a few epochs, and its trainer."""
    scvi.set_seed(0)
    data = make_dataset()
    model = VAE(data.nb_genes, n_batch=data.n_batches, n_latent=5, n_hidden=32)
    trainer = UnsupervisedTrainer(
        model, data, train_size=0.7, frequency=5, show_progbar=False, batch_size=32
    )
    trainer.train(n_epochs=10, lr=1e-2)
    return trainer
