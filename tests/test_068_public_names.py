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
        "describe_continuous_distrib",
        "pairs_sampler",
        "save_cluster_xlsx",
    ],
    "scvi.inference.total_inference": [
        "TotalPosterior",
        "TotalTrainer",
        "default_early_stopping_kwargs",
    ],
    "scvi.inference.trainer": [
        "Trainer",
        "EarlyStopping",
        "Posterior",
        "SequentialSubsetSampler",
        "SubsetRandomSampler",
    ],
    "scvi.inference.posterior_utils": [
        "load_posterior",
        "entropy_batch_mixing",
        "knn_purity",
        "nn_overlap",
        "plot_imputation",
        "unsupervised_clustering_accuracy",
        "credible_intervals",
        "describe_continuous_distrib",
        "pairs_sampler",
        "save_cluster_xlsx",
        "entropy_from_indices",
        "proximity_imputation",
    ],
    "scvi.dataset.cite_seq": ["available_datasets", "CiteSeqFilenames"],
    "scvi.dataset.dataset": [
        "GeneExpressionDataset",
        "check_nonnegative_integers",
        "compute_library_size",
        "concatenate_arrays",
        "seurat_v3_highly_variable_genes",
        "poisson_gene_selection",
    ],
    "scvi.dataset.dataset10X": [
        "available_datasets",
        "available_specification",
        "dataset_to_group",
        "group_to_url_skeleton",
        "group_to_filename_skeleton",
    ],
    "scvi.models.distributions": [
        "NegativeBinomial",
        "ZeroInflatedNegativeBinomial",
        "_convert_counts_logits_to_mean_disp",
        "_convert_mean_disp_to_counts_logits",
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


def test_dataset_helpers_behave_as_in_scvi_068():
    import numpy as np
    import scipy.sparse as sp

    from scvi.dataset.dataset import (
        check_nonnegative_integers,
        compute_library_size,
        concatenate_arrays,
    )

    X = np.array([[1, 0, 2], [0, 0, 0], [3, 1, 0]], dtype=np.float32)
    # values printed by scVI 0.6.8 for this matrix (an empty cell counts as log 1)
    mean, var = compute_library_size(X)
    assert mean.shape == var.shape == (1, 1) and mean.dtype == np.float32
    np.testing.assert_allclose([mean[0, 0], var[0, 0]], [0.8283022, 0.3568358], 1e-6)
    np.testing.assert_array_equal(compute_library_size(sp.csr_matrix(X))[0], mean)
    assert check_nonnegative_integers(X) and check_nonnegative_integers(
        sp.csr_matrix(X)
    )
    assert not check_nonnegative_integers(X + 0.5)
    assert not check_nonnegative_integers(-X)
    assert not check_nonnegative_integers(np.array([[np.nan, 1.0]]))
    dense = concatenate_arrays([X, X[:1]])
    assert isinstance(dense, np.ndarray) and dense.shape == (4, 3)
    mixed = concatenate_arrays([sp.csr_matrix(X), X[:1]])
    assert sp.isspmatrix_csr(mixed)
    np.testing.assert_array_equal(mixed.toarray(), dense)
