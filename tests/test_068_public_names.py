"""Public names of scVI 0.6.8's modules that 0.6 code imports (issue 16, in part)."""

import importlib

import pytest
import torch

NAMES = {
    "scvi.inference.posterior": [
        "Posterior",
        "entropy_batch_mixing",
        "knn_purity",
        "nn_overlap",
        "plot_imputation",
        "unsupervised_clustering_accuracy",
        "compute_elbo",
        "compute_reconstruction_error",
        "compute_marginal_log_likelihood_scvi",
        "compute_marginal_log_likelihood_autozi",
        "NegativeBinomial",
        "ZeroInflatedNegativeBinomial",
        "SequentialSampler",
        "RandomSampler",
        "SequentialSubsetSampler",
        "SubsetRandomSampler",
    ],
    "scvi.inference.trainer": [
        "Trainer",
        "EarlyStopping",
        "Posterior",
        "SequentialSubsetSampler",
        "SubsetRandomSampler",
    ],
    "scvi.models.utils": [
        "one_hot",
        "broadcast_labels",
        "enumerate_discrete",
        "iterate",
    ],
}


@pytest.mark.parametrize("module", sorted(NAMES))
def test_names_import_and_are_documented(module):
    loaded = importlib.import_module(module)
    for name in NAMES[module]:
        value = getattr(loaded, name)
        assert value.__doc__, f"{module}.{name} has no docstring"


def test_models_utils_behave_as_in_scvi_068():
    from scvi.models.utils import (
        broadcast_labels,
        enumerate_discrete,
        iterate,
        one_hot,
    )

    encoded = one_hot(torch.tensor([[0], [2], [1]]), 3)
    assert encoded.dtype == torch.float32
    torch.testing.assert_close(encoded, torch.eye(3)[[0, 2, 1]])
    # every label for every cell, label-major
    expected = torch.eye(3).repeat_interleave(2, dim=0)
    torch.testing.assert_close(enumerate_discrete(torch.ones(2, 4), 3), expected)
    o = torch.arange(6.0).reshape(2, 3)
    ys, same = broadcast_labels(torch.tensor([[1], [0]]), o, n_broadcast=3)
    torch.testing.assert_close(ys, torch.eye(3)[[1, 0]])
    assert same is o
    ys, tiled = broadcast_labels(None, o, n_broadcast=3)
    torch.testing.assert_close(ys, expected)
    torch.testing.assert_close(tiled, o.repeat(3, 1))
    assert iterate([1, [2, 3], (4,)], lambda v: v * 10) == [10, [20, 30], (40,)]
    assert iterate(None, lambda v: v * 10) is None
