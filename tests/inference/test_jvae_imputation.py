"""gimVI imputes hidden genes better than nearest neighbours in the shared genes.

A simulated pair of datasets shares a log-linear latent structure; the second sees
half of the genes at a lower depth through a noisier likelihood, and a third of
those are hidden during training. The hidden genes of its cells are imputed by
gimVI (decoded with all genes) and by a nearest-neighbour regression on the first
dataset in the space of the shared genes (log-normalised), for several numbers
of neighbours; the median over the hidden genes of the Spearman correlation with
the held-out counts, and with the true frequencies, is higher for gimVI.
"""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import scvi
from scvi.inference import JVAETrainer
from scvi.inference.posterior_utils import proximity_imputation
from scvi.models import JVAE, Classifier

from test_jvae_trainer import simulate_pair


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def median_spearman(imputed: np.ndarray, reference: np.ndarray) -> float:
    """Median over the genes (columns) of the Spearman correlation over cells."""
    return float(
        np.median(
            [
                spearmanr(imputed[:, j], reference[:, j])[0]
                for j in range(imputed.shape[1])
            ]
        )
    )


def log_normalized(x: np.ndarray) -> np.ndarray:
    return np.log1p(1e4 * x / np.maximum(x.sum(1, keepdims=True), 1.0))


def test_gimvi_beats_nearest_neighbours_on_hidden_genes():
    pair = simulate_pair(
        seed=0,
        n_a=600,
        n_b=600,
        n_genes=60,
        n_spatial=30,
        n_hidden=10,
        depth_a=250.0,
        depth_b=100.0,
    )
    datasets, mappings, hidden = pair["datasets"], pair["mappings"], pair["hidden"]
    scvi.set_seed(0)
    model = JVAE(
        [d.nb_genes for d in datasets],
        datasets[0].nb_genes,
        mappings,
        ["nb", "nb"],
        [True, False],
        n_batch=2,
        n_latent=4,
        dim_hidden_encoder=64,
        dim_hidden_decoder_shared=64,
        dropout_rate_encoder=0.1,
        dropout_rate_decoder=0.1,
    )
    trainer = JVAETrainer(
        model,
        Classifier(4, 32, 2, 3, logits=True),
        datasets,
        0.95,
        n_epochs_kl_warmup=50,
        show_progbar=False,
    )
    trainer.train(n_epochs=100, lr=1e-2)
    imputed = trainer.get_imputed_values(normalized=True)[1][:, hidden]
    assert (imputed >= 0).all()

    # nearest neighbours of the second dataset's cells among the first's, in the
    # shared genes; their (normalised) expression of the hidden genes
    x_a = pair["x_a"]
    reference = log_normalized(x_a[:, mappings[1]])
    query = log_normalized(pair["x_b"])
    expression = x_a[:, hidden] / x_a.sum(1, keepdims=True)
    gimvi = {
        "held-out counts": median_spearman(imputed, pair["held_out"]),
        "true frequencies": median_spearman(imputed, pair["truth"]),
    }
    for k in (5, 10, 20, 50):
        neighbours = proximity_imputation(reference, expression, query, k=k)
        for target, score in gimvi.items():
            key = "held_out" if target == "held-out counts" else "truth"
            baseline = median_spearman(neighbours, pair[key])
            assert score > baseline + 0.01, (target, k, score, baseline)
