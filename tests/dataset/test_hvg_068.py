"""Gene and cell selection of GeneExpressionDataset as scVI 0.6.8 made it (issue 16).

Expected orders and selections were observed with scVI 0.6.8 (numpy 1.23, torch
2.13) on the inputs built here; statistics are checked against numpy.
"""

import logging

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp_sparse
import torch

import scvi.dataset._ranking as ranking
from scvi.dataset import GeneExpressionDataset
from scvi.dataset.dataset import (
    poisson_gene_selection,
    seurat_v3_highly_variable_genes,
)


def counts(seed=0, n_cells=120, n_genes=40):
    """Gamma-Poisson counts with a gene without counts (gene 3), no empty cell."""
    rng = np.random.RandomState(seed)
    mu = np.exp(rng.normal(0.0, 1.2, n_genes))
    lib = np.exp(rng.normal(0.0, 0.3, n_cells))
    X = rng.poisson(rng.gamma(2.0, lib[:, None] * mu[None, :] / 2.0))
    X = X.astype(np.float32)
    X[:, 3] = 0
    X[X.sum(axis=1) == 0, 0] = 1
    return X


def dataset(X, batches=None, gene_names=None):
    data = GeneExpressionDataset()
    data.populate_from_data(X, batch_indices=batches, gene_names=gene_names)
    return data


BATCHES = np.arange(120) % 3


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


# ------------------------------------------------------------- legacy argsort
ARGSORT_CASES = [
    # (values, np.argsort(values) with numpy 1.23)
    (
        np.array([2, 2, 2, 0, 1, 2, 2, 1, 2, 1, 0, 2, 2, 0, 2, 0, 0], np.float32),
        [16, 13, 3, 15, 10, 4, 7, 9, 14, 12, 11, 0, 5, 2, 1, 6, 8],
    ),
    (
        np.array([4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 0, 0, 0, 0]),
        [16, 14, 13, 15, 12, 11, 10, 9, 8, 6, 5, 4, 7, 3, 2, 1, 0],
    ),
    (np.zeros(17), [0, 14, 13, 12, 11, 10, 9, 15, 8, 6, 5, 4, 3, 2, 1, 7, 16]),
    (
        np.array(
            [0.87, 0.94, 0.61, 0.6, np.nan, np.nan, 0.05, 0.7, 0.99, 0.27, 0.68]
            + [0.86, 0.75, 0.96, 0.55, 0.21, 0.22, 0.22]
        ),
        [6, 15, 17, 16, 9, 14, 3, 2, 10, 7, 12, 11, 0, 1, 13, 8, 4, 5],
    ),
    (np.arange(5)[::-1], [4, 3, 2, 1, 0]),
    (np.zeros(1), [0]),
]

# a median-of-three killer: the introsort falls back to its heapsort
KILLER = [0, 25, 1, 25, 2, 24, 3, 24, 4, 23, 5, 23, 6, 22, 7, 22, 8, 21, 9, 21, 10]
KILLER += [11, 29, 28, 29, 28, 27, 27, 26, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 20]
KILLER += [19, 19, 18, 18, 17, 17, 16, 16, 15, 15, 14, 14, 13, 13, 12, 12, 26, 11]
KILLER_ORDER = [0, 29, 2, 30, 4, 31, 6, 32, 8, 33, 10, 34, 12, 35, 14, 36, 16, 37]
KILLER_ORDER += [18, 38, 20, 39, 21, 59, 56, 57, 55, 54, 52, 53, 51, 50, 49, 48]
KILLER_ORDER += [47, 46, 45, 44, 43, 42, 41, 40, 19, 17, 13, 15, 11, 9, 7, 5, 3, 1]
KILLER_ORDER += [28, 58, 27, 26, 25, 23, 24, 22]


@pytest.mark.parametrize("values, expected", ARGSORT_CASES)
def test_legacy_argsort_orders_ties_as_numpy_123(values, expected):
    np.testing.assert_array_equal(ranking.legacy_argsort(values), expected)
    ranks = ranking.legacy_ranks(values)
    np.testing.assert_array_equal(ranks[expected], np.arange(len(expected)))


def test_legacy_argsort_long_inputs_and_heapsort(monkeypatch):
    values = np.random.RandomState(2).randint(0, 4, 1000).astype(np.float32)
    order = ranking.legacy_argsort(values)
    # checksum and head of numpy 1.23's order
    assert int((order * np.arange(1000)).sum()) == 241155191
    np.testing.assert_array_equal(order[:6], [0, 639, 239, 649, 233, 232])
    calls = []
    heapsort = ranking._heapsort
    monkeypatch.setattr(
        ranking, "_heapsort", lambda *args: calls.append(1) or heapsort(*args)
    )
    np.testing.assert_array_equal(ranking.legacy_argsort(KILLER), KILLER_ORDER)
    assert calls
    # without ties, any sort gives the same order
    distinct = np.random.RandomState(3).permutation(500) * 0.5
    np.testing.assert_array_equal(
        ranking.legacy_argsort(distinct), np.argsort(distinct)
    )
    with pytest.raises(ValueError, match="values"):
        ranking.legacy_argsort(np.zeros((2, 2)))


# ------------------------------------------------------------ subsample_cells
@pytest.mark.parametrize("sparse", [False, True])
def test_subsample_cells_keeps_largest_libraries_first(sparse):
    X = np.zeros((8, 3), np.float32)
    X[:, 0] = [5, 9, 2, 7, 9, 1, 6, 3]
    X = sp_sparse.csr_matrix(X) if sparse else X
    for size, kept in [
        (4, [4, 1, 3, 6]),
        (0.4, [4, 1, 3]),
        (1.0, [4, 1, 3, 6, 0, 7, 2, 5]),
    ]:
        data = dataset(X, batches=np.arange(8) % 2)
        data.initialize_cell_attribute("cell_id", np.arange(8))
        data.subsample_cells(size)
        np.testing.assert_array_equal(data.cell_id.ravel(), kept)
        np.testing.assert_array_equal(data.batch_indices.ravel(), np.array(kept) % 2)
        totals = np.asarray(data.X.sum(axis=1)).ravel()
        np.testing.assert_array_equal(data.local_means.ravel().size, len(kept))
        assert np.all(np.diff(totals) <= 0)


def test_subsample_cells_ties_among_many_cells():
    totals = np.random.RandomState(0).randint(1, 6, 40).astype(np.float32)
    data = dataset(np.stack([totals, np.zeros(40, np.float32)], axis=1))
    data.initialize_cell_attribute("cell_id", np.arange(40))
    data.subsample_cells(25)
    # order given by scVI 0.6.8
    expected = [19, 11, 8, 0, 37, 39, 2, 6, 38, 20, 4, 3, 25, 22, 28, 29, 30, 7]
    expected += [36, 12, 24, 5, 33, 13, 27]
    np.testing.assert_array_equal(data.cell_id.ravel(), expected)


# ------------------------------------------------------------ subsample_genes
SMALL = np.array(
    [[1, 5, 0, 2, 3, 1, 0], [2, 0, 0, 2, 3, 1, 4], [3, 5, 1, 2, 0, 1, 0]]
    + [[0, 0, 1, 2, 0, 1, 4]],
    dtype=np.float32,
)
SMALL_NAMES = [f"g{i}" for i in range(7)]


@pytest.mark.parametrize("sparse", [False, True])
def test_subsample_genes_variance_puts_the_most_variable_first(sparse):
    X = sp_sparse.csr_matrix(SMALL) if sparse else SMALL
    # variances 1.25, 6.25, 0.25, 0, 2.25, 0, 4: ties (g3, g5) as in scVI 0.6.8
    for n_genes, names in [
        (6, ["g1", "g6", "g4", "g0", "g2", "g5"]),
        (2, ["g1", "g6"]),
        (7, SMALL_NAMES),  # every gene: nothing changes
    ]:
        data = dataset(X, gene_names=SMALL_NAMES)
        data.subsample_genes(new_n_genes=n_genes, mode="variance")
        np.testing.assert_array_equal(data.gene_names, names)
    data = dataset(X, gene_names=SMALL_NAMES)
    data.subsample_genes(new_ratio_genes=0.5, mode="variance")
    np.testing.assert_array_equal(data.gene_names, ["g1", "g6", "g4"])
    # a later subset keeps the order it is given
    data.subsample_genes(subset_genes=[2, 0, 1])
    np.testing.assert_array_equal(data.gene_names, ["g4", "g1", "g6"])
    np.testing.assert_array_equal(
        np.asarray(data.X.todense() if sparse else data.X), SMALL[:, [4, 1, 6]]
    )


def test_subsample_genes_variance_ties():
    X = np.array([[1, 0, 1, 0, 1, 0, 2, 0], [0, 1, 0, 1, 0, 1, 0, 2]] * 3, np.float32)
    names = [f"g{i}" for i in range(8)]
    for n_genes in [7, 3]:
        data = dataset(X, gene_names=names)
        data.subsample_genes(new_n_genes=n_genes, mode="variance")
        expected = ["g7", "g6", "g5", "g4", "g3", "g2", "g1"][:n_genes]
        np.testing.assert_array_equal(data.gene_names, expected)
    # 30 genes, a third of them 0/1 with near-tied variances (order of scVI 0.6.8)
    rng = np.random.RandomState(0)
    X = rng.poisson(rng.gamma(0.5, 2.0, 30), (40, 30)).astype(np.float32)
    X[:, :10] = np.minimum(X[:, :10], 1)
    X[X.sum(1) == 0, 0] = 1
    data = dataset(X, gene_names=[f"g{i}" for i in range(30)])
    data.subsample_genes(new_n_genes=29, mode="variance")
    expected = [18, 17, 29, 20, 26, 21, 24, 13, 15, 27, 25, 23, 10, 1, 0, 5, 14, 8]
    expected += [19, 3, 2, 22, 4, 12, 28, 16, 11, 9, 7]
    np.testing.assert_array_equal(data.gene_names, [f"g{i}" for i in expected])
    # sparse: the same genes by decreasing variance (exact ties may come otherwise)
    data = dataset(sp_sparse.csr_matrix(X), gene_names=[f"g{i}" for i in range(30)])
    data.subsample_genes(new_n_genes=29, mode="variance")
    kept = [int(name[1:]) for name in data.gene_names]
    assert sorted(kept) == sorted(expected)
    assert np.all(np.diff(X.astype(np.float64).var(axis=0)[kept]) <= 1e-12)


@pytest.mark.parametrize("mode", ["seurat_v3", "poisson_zeros", "seurat_v2"])
@pytest.mark.parametrize("batch_correction", [True, False])
def test_subsample_genes_modes_keep_the_selected_genes_in_order(mode, batch_correction):
    X = counts()
    options = dict(silent=True, n_samples=300) if mode == "poisson_zeros" else {}
    torch.manual_seed(0)
    expected = dataset(X, BATCHES).highly_variable_genes(
        n_top_genes=8, flavor=mode, batch_correction=batch_correction, **options
    )
    torch.manual_seed(0)
    data = dataset(X, BATCHES)
    data.subsample_genes(
        new_n_genes=8, mode=mode, batch_correction=batch_correction, **options
    )
    np.testing.assert_array_equal(
        data.gene_names, np.flatnonzero(expected.highly_variable).astype(str)
    )


def test_subsample_genes_errors():
    data = dataset(counts())
    with pytest.raises(ValueError, match="mode"):
        data.subsample_genes(new_n_genes=5, mode="bogus")
    with pytest.raises(ValueError, match="new_n_genes"):
        data.subsample_genes(mode="poisson_zeros")
    with pytest.raises(TypeError, match="bogus_option"):
        data.subsample_genes(new_n_genes=5, mode="seurat_v3", bogus_option=1)


# ------------------------------------------------------ highly_variable_genes
_DISPERSION = ["highly_variable", "means", "dispersions", "dispersions_norm"]
_BATCH = ["highly_variable_nbatches", "highly_variable_intersection"]
_V3 = ["highly_variable_median_rank", "highly_variable_median_variance"]
_POISSON = ["observed_fraction_zeros", "expected_fraction_zeros"]
_POISSON += ["prob_zero_enriched_nbatches", "prob_zero_enrichment"]
_POISSON += ["prob_zero_enrichment_rank", "highly_variable"]
# columns of scVI 0.6.8, by (flavor, several batches)
COLUMNS = {
    ("seurat_v2", False): _DISPERSION,
    ("seurat_v2", True): _DISPERSION + _BATCH,
    ("cell_ranger", False): _DISPERSION,
    ("cell_ranger", True): _DISPERSION + _BATCH,
    ("seurat_v3", False): ["highly_variable"] + _V3,
    ("seurat_v3", True): ["highly_variable"] + _BATCH + _V3,
    ("poisson_zeros", False): _POISSON,
    ("poisson_zeros", True): _POISSON,
}

DTYPES = dict(
    highly_variable="bool",
    means="float64",
    dispersions="float64",
    dispersions_norm="float32",
    highly_variable_nbatches="int64",
    highly_variable_intersection="bool",
    highly_variable_median_rank="float64",
    highly_variable_median_variance="float64",
    observed_fraction_zeros="float64",
    expected_fraction_zeros="float32",
    prob_zero_enriched_nbatches="int64",
    prob_zero_enrichment="float32",
    prob_zero_enrichment_rank="float64",
)


@pytest.mark.parametrize("flavor", ["seurat_v2", "cell_ranger", "seurat_v3"])
@pytest.mark.parametrize("batch_correction", [False, True])
def test_frame_columns_dtypes_and_index(flavor, batch_correction):
    data = dataset(counts(), BATCHES)
    result = data.highly_variable_genes(
        n_top_genes=8, flavor=flavor, batch_correction=batch_correction
    )
    assert list(result.columns) == COLUMNS[(flavor, batch_correction)]
    assert [str(result[c].dtype) for c in result] == [DTYPES[c] for c in result]
    assert list(result.index) == [str(i) for i in range(40)]
    assert result.index.dtype == object
    # the dispersion flavors take every gene tied with the last one (scVI 0.6.8)
    assert result.highly_variable.sum() == 8 or flavor != "seurat_v3"
    assert result.highly_variable.sum() >= 8
    # one batch only: no batch columns
    single = dataset(counts()).highly_variable_genes(n_top_genes=8, flavor=flavor)
    assert list(single.columns) == COLUMNS[(flavor, False)]
    # scVI 0.6.8's name
    same = data._highly_variable_genes(8, flavor, batch_correction)
    pd.testing.assert_frame_equal(same, result)


def test_poisson_zeros_columns():
    for batches, correction in [(None, True), (BATCHES, False), (BATCHES, True)]:
        result = dataset(counts(), batches).highly_variable_genes(
            n_top_genes=8,
            flavor="poisson_zeros",
            batch_correction=correction,
            silent=True,
            n_samples=100,
        )
        assert list(result.columns) == COLUMNS[("poisson_zeros", False)]
        assert [str(result[c].dtype) for c in result] == [DTYPES[c] for c in result]
        assert list(result.index) == [str(i) for i in range(40)]


def _normalized(X):
    return X.astype(np.float64) / X.sum(axis=1, keepdims=True) * 1e4


def test_dispersion_statistics_against_numpy():
    X = counts()
    normalized = _normalized(X)
    result = dataset(X).highly_variable_genes(n_top_genes=8, flavor="seurat_v2")
    mean = normalized.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = np.log(normalized.var(axis=0, ddof=1) / mean)
    np.testing.assert_allclose(result.means, np.log1p(mean), rtol=1e-10, atol=1e-11)
    present = mean > 0
    np.testing.assert_allclose(
        result.dispersions[present], dispersion[present], rtol=1e-10
    )
    assert np.isnan(result.dispersions_norm["3"])  # the gene without counts

    logged = np.log1p(normalized)
    result = dataset(X).highly_variable_genes(n_top_genes=8, flavor="cell_ranger")
    mean = logged.mean(axis=0)
    np.testing.assert_allclose(result.means[present], mean[present], rtol=1e-10)
    np.testing.assert_allclose(
        result.dispersions[present],
        logged.var(axis=0, ddof=1)[present] / mean[present],
        rtol=1e-10,
    )
    # cutoffs: NaN normalized dispersions come as 0 (as in scVI 0.6.8)
    cut = dataset(X).highly_variable_genes(flavor="seurat_v2", batch_correction=False)
    assert cut.dispersions_norm["3"] == 0
    selected = (cut.means > 0.0125) & (cut.means < 3) & (cut.dispersions_norm > 0.5)
    np.testing.assert_array_equal(cut.highly_variable, selected)


@pytest.mark.parametrize("flavor", ["seurat_v2", "cell_ranger"])
def test_dispersion_batches_combine_per_batch_selections(flavor):
    X = np.delete(counts(seed=1, n_cells=150, n_genes=121), 3, axis=1)
    batches = np.arange(150) % 3
    X[:3] += 1  # every gene has counts in every batch
    result = dataset(X, batches).highly_variable_genes(
        n_top_genes=15, flavor=flavor, n_bins=10
    )
    per_batch = [
        dataset(X[batches == b]).highly_variable_genes(
            n_top_genes=15, flavor=flavor, n_bins=10
        )
        for b in range(3)
    ]
    n_batches = sum(p.highly_variable.to_numpy(int) for p in per_batch)
    np.testing.assert_array_equal(result.highly_variable_nbatches, n_batches)
    np.testing.assert_array_equal(result.highly_variable_intersection, n_batches == 3)
    for column in ["means", "dispersions", "dispersions_norm"]:
        mean = np.mean([p[column].to_numpy(np.float64) for p in per_batch], axis=0)
        finite = np.isfinite(mean)
        assert finite.sum() > 100
        np.testing.assert_allclose(
            result[column].to_numpy(np.float64)[finite],
            mean[finite],
            rtol=1e-5,
            atol=1e-6,
        )
    # most batches first
    hv = result.highly_variable.to_numpy()
    assert hv.sum() == 15
    assert n_batches[hv].min() >= n_batches[~hv].max()
    # n_bins sets the bins of seurat_v2 (cell_ranger bins by percentiles)
    other = dataset(X, batches).highly_variable_genes(n_top_genes=15, flavor=flavor)
    same_bins = np.allclose(other.dispersions_norm, result.dispersions_norm)
    assert same_bins == (flavor == "cell_ranger")


def test_seurat_v3_as_scvi_068():
    X = counts()
    single = dataset(X).highly_variable_genes(n_top_genes=8, flavor="seurat_v3")
    np.testing.assert_array_equal(
        np.flatnonzero(single.highly_variable), [2, 9, 13, 15, 21, 23, 28, 35]
    )
    # rank 0: smallest normalized variance
    ranks = single.highly_variable_median_rank.to_numpy()
    np.testing.assert_array_equal(
        ranks[:10], [5.0, 9.0, 36.0, 0.0, 31.0, 25.0, 26.0, 13.0, 6.0, 32.0]
    )
    variances = single.highly_variable_median_variance.to_numpy()
    np.testing.assert_array_equal(np.argsort(np.argsort(variances)), ranks)
    sc = pytest.importorskip("scanpy")
    adata = anndata.AnnData(X.copy())
    reference = sc.pp.highly_variable_genes(
        adata, flavor="seurat_v3", n_top_genes=8, inplace=False
    )
    np.testing.assert_allclose(variances, reference["variances_norm"], rtol=1e-5)


def test_seurat_v3_batches_as_scvi_068():
    X = counts()
    result = dataset(X, BATCHES).highly_variable_genes(n_top_genes=8)
    np.testing.assert_array_equal(
        np.flatnonzero(result.highly_variable), [2, 5, 9, 13, 15, 28, 32, 39]
    )
    n_batches = [0, 1, 1, 0, 1, 2, 0, 0, 0, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    n_batches += [0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 2]
    np.testing.assert_array_equal(result.highly_variable_nbatches, n_batches)
    np.testing.assert_array_equal(
        result.highly_variable_intersection, np.array(n_batches) == 3
    )
    per_batch = [
        dataset(X[BATCHES == b]).highly_variable_genes(n_top_genes=8) for b in range(3)
    ]
    for column in ["highly_variable_median_rank", "highly_variable_median_variance"]:
        np.testing.assert_allclose(
            result[column],
            np.median([p[column] for p in per_batch], axis=0),
            rtol=1e-12,
        )
    in_top = sum(p.highly_variable.to_numpy(int) for p in per_batch)
    np.testing.assert_array_equal(result.highly_variable_nbatches, in_top)
    # most batches first, then the largest median rank
    order = np.lexsort((-result.highly_variable_median_rank, -in_top))
    np.testing.assert_array_equal(
        np.sort(order[:8]), np.flatnonzero(result.highly_variable)
    )


def test_poisson_zeros_statistics():
    X = counts()
    torch.manual_seed(0)
    result = dataset(X).highly_variable_genes(
        n_top_genes=8, flavor="poisson_zeros", n_samples=2000, silent=True
    )
    observed = (X == 0).mean(axis=0)
    np.testing.assert_allclose(result.observed_fraction_zeros, observed, atol=1e-15)
    X64 = X.astype(np.float64)
    rate = np.outer(X64.sum(1), X64.sum(0) / X64.sum())
    expected = np.exp(-rate).mean(axis=0)
    np.testing.assert_allclose(result.expected_fraction_zeros, expected, rtol=1e-6)
    # the draws of scVI 0.6.8: an observed then an expected Bernoulli per sample
    torch.manual_seed(0)
    p_observed = torch.tensor(observed, dtype=torch.float32)
    p_expected = torch.tensor(result.expected_fraction_zeros.to_numpy())
    extra = torch.zeros(40)
    for _ in range(2000):
        sample_observed = torch.distributions.Binomial(probs=p_observed).sample()
        sample_expected = torch.distributions.Binomial(probs=p_expected).sample()
        extra += (sample_observed > sample_expected).float()
    np.testing.assert_array_equal(result.prob_zero_enrichment, extra / 2000)
    # it estimates observed * (1 - expected)
    np.testing.assert_allclose(
        result.prob_zero_enrichment, observed * (1 - expected), atol=0.04
    )
    # values and selection given by scVI 0.6.8 for this seed
    np.testing.assert_array_equal(
        np.flatnonzero(result.highly_variable), [7, 9, 10, 13, 14, 26, 27, 38]
    )
    np.testing.assert_allclose(
        result.prob_zero_enrichment[:6],
        [0.056, 0.227, 0.2185, 0.0, 0.044, 0.1965],
        rtol=1e-6,
    )
    # ties (0.2605 for genes 8, 15 and 35) ranked as scVI 0.6.8 did
    np.testing.assert_array_equal(
        result.prob_zero_enrichment_rank.to_numpy()[[8, 15, 35]], [29, 31, 30]
    )
    np.testing.assert_array_equal(
        result.prob_zero_enriched_nbatches, result.highly_variable.astype(int)
    )


def test_poisson_zeros_batches():
    X = counts()
    torch.manual_seed(0)
    result = dataset(X, BATCHES).highly_variable_genes(
        n_top_genes=8, flavor="poisson_zeros", n_samples=2000, silent=True
    )
    np.testing.assert_array_equal(
        np.flatnonzero(result.highly_variable), [7, 9, 10, 13, 14, 15, 34, 39]
    )
    n_batches = [0, 1, 0, 0, 0, 0, 0, 2, 1, 2, 1, 0, 0, 3, 2, 2, 0, 1, 1, 0, 0, 1]
    n_batches += [0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]
    np.testing.assert_array_equal(result.prob_zero_enriched_nbatches, n_batches)
    # batches are sampled one after the other (sorted batch values): medians
    torch.manual_seed(0)
    per_batch = [
        dataset(X[BATCHES == b]).highly_variable_genes(
            n_top_genes=8, flavor="poisson_zeros", n_samples=2000, silent=True
        )
        for b in range(3)
    ]
    for column in result.columns[:5]:
        if column != "prob_zero_enriched_nbatches":
            np.testing.assert_array_equal(
                result[column], np.median([p[column] for p in per_batch], axis=0)
            )
    in_top = sum(p.highly_variable.to_numpy(int) for p in per_batch)
    np.testing.assert_array_equal(result.prob_zero_enriched_nbatches, in_top)


@pytest.mark.parametrize("flavor", ["seurat_v2", "seurat_v3", "poisson_zeros"])
def test_sparse_and_dense_agree(flavor):
    X = counts()
    options = dict(silent=True, n_samples=500) if flavor == "poisson_zeros" else {}
    results = []
    for matrix in [X, sp_sparse.csr_matrix(X)]:
        torch.manual_seed(0)
        results.append(
            dataset(matrix, BATCHES).highly_variable_genes(
                n_top_genes=8, flavor=flavor, **options
            )
        )
    pd.testing.assert_frame_equal(results[0], results[1], rtol=1e-9)


def test_highly_variable_genes_errors_and_edge_cases():
    data = dataset(counts(), BATCHES)
    with pytest.raises(ValueError, match="flavor.*'variance'"):
        data.highly_variable_genes(n_top_genes=5, flavor="variance")
    for flavor in ["seurat_v3", "poisson_zeros"]:
        with pytest.raises(ValueError, match="n_top_genes"):
            data.highly_variable_genes(flavor=flavor)
    for bad in [0, -3, 2.5, "5"]:
        with pytest.raises(ValueError, match="n_top_genes"):
            data.highly_variable_genes(n_top_genes=bad)
    with pytest.raises(TypeError, match="n_sample"):
        data.highly_variable_genes(n_top_genes=5, flavor="poisson_zeros", n_sample=9)
    # an option of another flavor is ignored (scVI 0.6.8 accepted them)
    data.highly_variable_genes(n_top_genes=5, flavor="seurat_v3", min_mean=0.1)
    # more genes than there are: every gene, and a warning
    records = _Records()
    logger = logging.getLogger("scvi.dataset.dataset")
    logger.addHandler(records)
    try:
        result = data.highly_variable_genes(n_top_genes=100, flavor="cell_ranger")
    finally:
        logger.removeHandler(records)
    assert result.highly_variable.all()
    assert any("n_top_genes=100" in message for message in records.messages)


# --------------------------------------------------- functions on an AnnData
def test_seurat_v3_highly_variable_genes_writes_adata_var():
    X = counts()
    var = pd.DataFrame({"keep": np.arange(40)}, index=[f"g{i}" for i in range(40)])
    adata = anndata.AnnData(sp_sparse.csr_matrix(X), var=var)
    adata.obs["batch"] = pd.Categorical(BATCHES.astype(str))
    assert (
        seurat_v3_highly_variable_genes(adata, n_top_genes=8, batch_key="batch") is None
    )
    expected = dataset(X, BATCHES).highly_variable_genes(n_top_genes=8)
    assert list(adata.var.columns) == ["keep"] + list(expected.columns)
    assert list(adata.var.index) == list(var.index)
    for column in expected:
        np.testing.assert_array_equal(adata.var[column], expected[column])
    # single batch, dense X, default n_top_genes (4000: every gene)
    adata = anndata.AnnData(X)
    seurat_v3_highly_variable_genes(adata)
    assert list(adata.var.columns) == COLUMNS[("seurat_v3", False)]
    assert adata.var.highly_variable.all()
    # a category without cells still counts in the intersection (scVI 0.6.8)
    adata = anndata.AnnData(X)
    adata.obs["batch"] = pd.Categorical(
        (BATCHES % 2).astype(str), categories=["0", "1", "unused"]
    )
    seurat_v3_highly_variable_genes(adata, n_top_genes=20, batch_key="batch")
    two = dataset(X, BATCHES % 2).highly_variable_genes(n_top_genes=20)
    for column in two:
        if column != "highly_variable_intersection":
            np.testing.assert_array_equal(adata.var[column], two[column])
    assert two.highly_variable_intersection.any()
    assert not adata.var.highly_variable_intersection.any()
    with pytest.raises(KeyError, match="nope"):
        seurat_v3_highly_variable_genes(adata, batch_key="nope")


def test_poisson_gene_selection_writes_adata_var():
    X = counts()
    adata = anndata.AnnData(sp_sparse.csr_matrix(X))
    adata.obs["batch"] = BATCHES  # not categorical: sorted values
    torch.manual_seed(0)
    returned = poisson_gene_selection(
        adata, n_top_genes=8, batch_key="batch", n_samples=2000, silent=True, foo=1
    )
    assert returned is None
    torch.manual_seed(0)
    expected = dataset(X, BATCHES).highly_variable_genes(
        n_top_genes=8, flavor="poisson_zeros", n_samples=2000, silent=True
    )
    assert list(adata.var.columns) == list(expected.columns)
    for column in expected:
        np.testing.assert_array_equal(adata.var[column], expected[column])
    with pytest.raises(ValueError, match="n_samples"):
        poisson_gene_selection(adata, n_samples=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_poisson_zeros_draws_on_the_gpu():
    X = counts()
    result = dataset(X).highly_variable_genes(
        n_top_genes=8, flavor="poisson_zeros", use_cuda=True, silent=True
    )
    X64 = X.astype(np.float64)
    expected = np.exp(-np.outer(X64.sum(1), X64.sum(0) / X64.sum())).mean(axis=0)
    np.testing.assert_allclose(
        result.prob_zero_enrichment, (X == 0).mean(0) * (1 - expected), atol=0.02
    )
    assert result.highly_variable.sum() == 8
