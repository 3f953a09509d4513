"""Behaviours a scVI 0.6.8 user relies on (observed with scVI 0.6.8)."""

import anndata
import numpy as np
import pandas as pd
import pytest

from scvi.dataset import AnnDatasetFromAnnData, GeneExpressionDataset
from scvi.dataset._checks import UnknownNameError


def make():
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        np.random.RandomState(0).poisson(2, (10, 4)).astype(np.float32),
        gene_names=["a", "b", "c", "d"],
        labels=np.array([0, 1] * 5),
        cell_types=["t0", "t1"],
    )
    return dataset


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.reorder_genes(["a", "zz"]),
        lambda d: d.subsample_genes(subset_genes=["a", "zz"]),
        lambda d: d.genes_to_index(["zz"]),
        lambda d: d.filter_cell_types(["zz"]),
        lambda d: d.reorder_cell_types(["zz"]),
        lambda d: d.merge_cell_types(["t0", "zz"], "new"),
    ],
)
def test_unknown_names_raise_a_key_error_that_is_also_a_value_error(call):
    # scVI 0.6.8's reorder_genes raised KeyError; ours was a ValueError: both
    # kinds of caller catch it, and the message names the unknown entry
    for kind in (KeyError, ValueError, UnknownNameError):
        with pytest.raises(kind, match="zz"):
            call(make())
    with pytest.raises(KeyError) as caught:
        call(make())
    assert str(caught.value).startswith(("genes not found", "cell types not found"))
    assert "np.str_" not in str(caught.value)


def test_any_obs_column_name_loads():
    # a column named like the dataset's own state (_X, n_batches) is renamed with a
    # warning instead of breaking the dataset
    obs = pd.DataFrame(
        {"_X": np.arange(5), "n_batches": 3, "batch": [0, 0, 1, 1, 1]},
        index=[f"c{i}" for i in range(5)],
    )
    counts = np.arange(15, dtype=np.float32).reshape(5, 3)
    dataset = AnnDatasetFromAnnData(anndata.AnnData(counts, obs=obs))
    assert dataset.X.shape == (5, 3) and dataset.nb_genes == 3
    np.testing.assert_array_equal(dataset.X, counts)
    np.testing.assert_array_equal(np.ravel(dataset._X_cell), np.arange(5))
    np.testing.assert_array_equal(np.ravel(dataset.n_batches_cell), [3] * 5)
    assert dataset.n_batches == 1
