"""Library size statistics, update_cells / update_genes and the filters.

Every test runs on a dense and on a CSR count matrix; expected values are computed
independently with NumPy on small hand-made matrices.
"""

import os

import numpy as np
import pytest
import scipy.sparse as sp_sparse

import scvi.dataset as scvi_dataset
from scvi.dataset import GeneExpressionDataset

HAS_GENE_SELECTION = os.path.exists(
    os.path.join(os.path.dirname(scvi_dataset.__file__), "_gene_selection.py")
)


@pytest.fixture(params=["dense", "csr"])
def fmt(request):
    return request.param


def _as(X, fmt):
    return sp_sparse.csr_matrix(X) if fmt == "csr" else np.array(X)


def _dense(X):
    return X.toarray() if sp_sparse.issparse(X) else np.asarray(X)


def _dataset(X, fmt, **kwargs):
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(_as(X, fmt), **kwargs)
    return dataset


def _check_format(dataset, fmt):
    assert sp_sparse.isspmatrix_csr(dataset.X) == (fmt == "csr")


def _expected_library(X, batches):
    """Mean and variance (ddof=0) of log library sizes per batch, NumPy only."""
    X = _dense(X)
    batches = np.asarray(batches).ravel()
    totals = X.sum(axis=1)
    means = np.zeros(len(totals))
    variances = np.zeros(len(totals))
    for batch in np.unique(batches):
        members = batches == batch
        logs = np.log(totals[members & (totals > 0)])
        if logs.size:
            means[members] = logs.mean()
            variances[members] = logs.var()
    return means, variances


def _check_library(dataset):
    means, variances = _expected_library(dataset.X, dataset.batch_indices)
    for name, expected in (("local_means", means), ("local_vars", variances)):
        values = getattr(dataset, name)
        assert values.dtype == np.float32
        assert values.shape == (dataset.nb_cells, 1)
        np.testing.assert_allclose(values.ravel(), expected, rtol=1e-5, atol=1e-6)


def _random_counts(n_cells, n_genes, seed):
    rng = np.random.default_rng(seed)
    X = rng.poisson(4.0, size=(n_cells, n_genes)).astype(np.float32)
    X[:, 0] += 1  # no empty cell
    return X


# ---------------------------------------------------------------- library size
def test_library_size_statistics(fmt):
    X = np.array(
        [
            [1, 2, 0, 1],  # batch 0, total 4
            [5, 0, 3, 0],  # batch 1, total 8
            [0, 0, 0, 0],  # batch 0, empty: left out
            [10, 2, 4, 0],  # batch 0, total 16
            [1, 0, 0, 0],  # batch 1, total 1
            [2, 2, 2, 2],  # batch 0, total 8
        ],
        dtype=np.float32,
    )
    batches = np.array([0, 1, 0, 0, 1, 0])
    dataset = _dataset(X, fmt, batch_indices=batches)
    _check_library(dataset)

    log0 = np.log([4.0, 16.0, 8.0])
    log1 = np.log([8.0, 1.0])
    expected_means = np.where(batches == 0, log0.mean(), log1.mean())
    expected_vars = np.where(batches == 0, log0.var(), log1.var())
    np.testing.assert_allclose(dataset.local_means.ravel(), expected_means, rtol=1e-6)
    np.testing.assert_allclose(dataset.local_vars.ravel(), expected_vars, rtol=1e-6)


def test_library_recomputed_after_setting_batch_indices(fmt):
    X = _random_counts(8, 5, seed=1)
    dataset = _dataset(X, fmt)
    _check_library(dataset)
    assert np.unique(dataset.local_means).size == 1

    new_batches = np.array([0, 1, 1, 0, 2, 2, 1, 0])
    dataset.batch_indices = new_batches
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), new_batches)
    assert dataset.batch_indices.shape == (8, 1)
    assert dataset.n_batches == 3
    _check_library(dataset)
    assert np.unique(dataset.local_means).size == 3

    with pytest.raises(ValueError, match="batch_indices"):
        dataset.batch_indices = [0, 1]


# ---------------------------------------------------------------- update_cells
def test_update_cells_with_positions_keeps_order(fmt):
    X = _random_counts(6, 4, seed=2)
    batches = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([0, 1, 2, 0, 1, 2])
    dataset = _dataset(
        X, fmt, batch_indices=batches, labels=labels, cell_types=["a", "b", "c"]
    )
    dataset.update_cells(np.array([5, 0, 3]))
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(_dense(dataset.X), X[[5, 0, 3]])
    # batches {2, 0, 1} are all still there: codes kept
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), [2, 0, 1])
    # label 1 ("b") disappeared: labels remapped, cell types reduced
    np.testing.assert_array_equal(dataset.cell_types, ["a", "c"])
    np.testing.assert_array_equal(
        dataset.cell_types[dataset.labels.ravel()], ["c", "a", "a"]
    )
    assert dataset.n_labels == 2 and dataset.n_batches == 3
    _check_library(dataset)


def test_update_cells_with_mask(fmt):
    X = _random_counts(6, 4, seed=3)
    batches = np.array([0, 1, 0, 1, 0, 1])
    dataset = _dataset(X, fmt, batch_indices=batches)
    mask = np.array([True, False, True, True, False, False])
    dataset.update_cells(mask)
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(_dense(dataset.X), X[mask])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), batches[mask])
    _check_library(dataset)
    expected, _ = _expected_library(X[mask], batches[mask])
    np.testing.assert_allclose(dataset.local_means.ravel(), expected, rtol=1e-6)


def test_update_cells_errors(fmt):
    dataset = _dataset(_random_counts(4, 3, seed=4), fmt)
    with pytest.raises(ValueError, match="subset_cells"):
        dataset.update_cells([0, 4])
    with pytest.raises(ValueError, match="subset_cells"):
        dataset.update_cells(np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="subset_cells"):
        dataset.update_cells(np.array([], dtype=np.int64))
    assert dataset.nb_cells == 4


# ---------------------------------------------------------------- update_genes
def test_update_genes_reorders_names_and_columns(fmt):
    X = _random_counts(5, 4, seed=5)
    names = np.array(["a", "b", "c", "d"])
    dataset = _dataset(X, fmt, gene_names=names, batch_indices=[0, 1, 0, 1, 1])
    order = np.array([2, 0, 3, 1])
    dataset.update_genes(order)
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(dataset.gene_names, names[order])
    np.testing.assert_array_equal(_dense(dataset.X), X[:, order])
    _check_library(dataset)


def test_update_genes_with_mask_and_removes_empty_cells(fmt):
    X = np.array(
        [
            [1, 0, 2, 0],
            [3, 0, 0, 0],  # only gene 0
            [0, 1, 1, 1],
            [4, 0, 0, 0],  # only gene 0
            [0, 0, 0, 5],
        ],
        dtype=np.float32,
    )
    labels = np.array([0, 1, 0, 2, 0])
    batches = np.array([0, 0, 1, 1, 1])
    dataset = _dataset(
        X,
        fmt,
        labels=labels,
        batch_indices=batches,
        cell_types=["x", "y", "z"],
        gene_names=list("abcd"),
    )
    dataset.update_genes(np.array([False, True, True, True]))
    _check_format(dataset, fmt)
    kept = np.array([0, 2, 4])
    np.testing.assert_array_equal(_dense(dataset.X), X[kept][:, 1:])
    np.testing.assert_array_equal(dataset.gene_names, ["b", "c", "d"])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), batches[kept])
    # every kept cell keeps its cell type name
    np.testing.assert_array_equal(dataset.cell_types[dataset.labels.ravel()], ["x"] * 3)
    _check_library(dataset)


def test_update_cells_drops_lost_middle_category(fmt):
    X = _random_counts(6, 3, seed=20)
    dataset = _dataset(X, fmt, labels=[0, 1, 2, 0, 1, 2], cell_types=list("abc"))
    dataset.update_cells([0, 2, 3, 5])  # "b" (code 1) loses all its cells
    np.testing.assert_array_equal(dataset.cell_types, ["a", "c"])
    np.testing.assert_array_equal(dataset.labels.ravel(), [0, 1, 0, 1])
    assert dataset.n_labels == len(dataset.cell_types) == 2


def test_update_cells_drops_lost_last_category(fmt):
    X = _random_counts(6, 3, seed=20)
    dataset = _dataset(X, fmt, labels=[0, 1, 2, 0, 1, 2], cell_types=list("abc"))
    dataset.update_cells([0, 1, 3, 4])  # "c" (code 2) loses all its cells
    np.testing.assert_array_equal(dataset.labels.ravel(), [0, 1, 0, 1])
    assert dataset.n_labels == 2
    # same contract as when a middle category is lost: its entry is dropped
    np.testing.assert_array_equal(dataset.cell_types, ["a", "b"])


def test_update_genes_errors(fmt):
    X = np.array([[1, 0], [2, 0]], dtype=np.float32)
    dataset = _dataset(X, fmt)
    with pytest.raises(ValueError, match="subset_genes"):
        dataset.update_genes([2])
    with pytest.raises(ValueError, match="subset_genes"):
        dataset.update_genes(np.zeros(2, dtype=bool))
    with pytest.raises(ValueError):
        dataset.update_genes([1])  # no cell expresses gene 1
    assert dataset.nb_cells == 2


def test_versions_follow_updates(fmt):
    X = _random_counts(8, 6, seed=6)
    X[3, 1:] = 0  # cell 3 only expresses gene 0
    dataset = _dataset(X, fmt)
    dataset.normalize()
    np.random.seed(0)
    dataset.corrupt(rate=0.5)
    norm = _dense(dataset.norm_X).copy()
    corrupted = _dense(dataset.corrupted_X).copy()

    cells = np.array([7, 3, 0, 2, 5])
    dataset.update_cells(cells)
    np.testing.assert_allclose(_dense(dataset.norm_X), norm[cells])
    np.testing.assert_array_equal(_dense(dataset.corrupted_X), corrupted[cells])

    genes = np.array([5, 1, 2])  # drops gene 0: cell 3 (now row 1) goes
    dataset.update_genes(genes)
    rows = np.array([0, 2, 3, 4])
    np.testing.assert_allclose(_dense(dataset.norm_X), norm[cells][rows][:, genes])
    np.testing.assert_array_equal(
        _dense(dataset.corrupted_X), corrupted[cells][rows][:, genes]
    )
    np.testing.assert_array_equal(_dense(dataset.X), X[cells][rows][:, genes])
    for name in ("norm_X", "corrupted_X"):
        assert getattr(dataset, name).shape == dataset.X.shape
    _check_library(dataset)


# --------------------------------------------------------------------- filters
def test_filter_cells_by_count(fmt):
    X = _random_counts(10, 4, seed=7)
    X[2] = 0
    X[6] = [1, 0, 0, 0]
    batches = np.array([0, 1] * 5)
    dataset = _dataset(X, fmt, batch_indices=batches)
    totals = X.sum(axis=1)
    min_count = np.median(totals)
    dataset.filter_cells_by_count(min_count=min_count)
    mask = totals >= min_count
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(_dense(dataset.X), X[mask])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), batches[mask])
    _check_library(dataset)

    dataset = _dataset(X, fmt, batch_indices=batches)
    dataset.filter_cells_by_count()  # default min_count=1 drops the empty cell
    np.testing.assert_array_equal(_dense(dataset.X), X[totals >= 1])
    _check_library(dataset)


@pytest.mark.parametrize(
    "per_batch, min_count, expected",
    [
        (False, 4, [True, False, True, True, True]),
        (True, 2, [True, False, True, False, True]),
        (False, 2, [True, True, True, True, True]),
    ],
)
def test_filter_genes_by_count(fmt, per_batch, min_count, expected):
    X = np.array(
        [
            [3, 0, 1, 0, 2],  # batch 0
            [2, 0, 1, 1, 2],  # batch 0
            [1, 2, 0, 4, 1],  # batch 1
            [1, 1, 3, 0, 1],  # batch 1
        ],
        dtype=np.float32,
    )
    batches = np.array([0, 0, 1, 1])
    names = np.array(list("abcde"))
    dataset = _dataset(X, fmt, batch_indices=batches, gene_names=names)
    dataset.filter_genes_by_count(min_count=min_count, per_batch=per_batch)
    if per_batch:
        keep = np.ones(5, dtype=bool)
        for batch in (0, 1):
            keep &= X[batches == batch].sum(axis=0) >= min_count
    else:
        keep = X.sum(axis=0) >= min_count
    np.testing.assert_array_equal(keep, expected)
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(dataset.gene_names, names[keep])
    np.testing.assert_array_equal(_dense(dataset.X), X[:, keep])
    _check_library(dataset)


def test_filter_genes_by_count_per_batch_is_stricter(fmt):
    X = np.array([[4, 1], [0, 1], [1, 3]], dtype=np.float32)
    batches = np.array([0, 0, 1])
    dataset = _dataset(X, fmt, batch_indices=batches)
    dataset.filter_genes_by_count(min_count=2, per_batch=False)
    assert dataset.nb_genes == 2
    # gene 0 has 1 count in batch 1, gene 1 has 2 in batch 0 and 3 in batch 1
    dataset.filter_genes_by_count(min_count=2, per_batch=True)
    np.testing.assert_array_equal(dataset.gene_names, ["1"])
    np.testing.assert_array_equal(_dense(dataset.X), X[:, [1]])
    _check_library(dataset)


def test_filter_genes_by_attribute(fmt):
    X = _random_counts(6, 5, seed=8)
    names = np.array(["g0", "g1", "g2", "g3", "g4"])
    chrom = np.array(["1", "X", "2", "X", "Y"])
    dataset = _dataset(X, fmt, gene_names=names, gene_attributes_dict={"chrom": chrom})
    dataset.filter_genes_by_attribute(["X", "Y"], on="chrom")
    mask = np.isin(chrom, ["X", "Y"])
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(dataset.gene_names, names[mask])
    np.testing.assert_array_equal(dataset.chrom, chrom[mask])
    np.testing.assert_array_equal(_dense(dataset.X), X[:, mask])
    _check_library(dataset)

    dataset.filter_genes_by_attribute(["g4", "g1"])  # on gene_names by default
    np.testing.assert_array_equal(dataset.gene_names, ["g1", "g4"])
    expressing = X[:, [1, 4]].sum(axis=1) > 0
    np.testing.assert_array_equal(_dense(dataset.X), X[expressing][:, [1, 4]])
    _check_library(dataset)

    with pytest.raises(ValueError, match="unknown"):
        dataset.filter_genes_by_attribute(["a"], on="unknown")


def test_filter_cells_by_attribute(fmt):
    X = _random_counts(8, 4, seed=9)
    labels = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    batches = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    donor = np.array(["p", "q", "r", "p", "q", "r", "p", "q"])
    dataset = _dataset(
        X,
        fmt,
        labels=labels,
        batch_indices=batches,
        cell_types=["A", "B", "C"],
        cell_attributes_dict={"donor": donor},
    )
    dataset.filter_cells_by_attribute(["p", "r"], on="donor")
    mask = np.isin(donor, ["p", "r"])
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(_dense(dataset.X), X[mask])
    np.testing.assert_array_equal(dataset.donor, donor[mask])
    np.testing.assert_array_equal(
        dataset.cell_types[dataset.labels.ravel()],
        np.array(["A", "B", "C"])[labels[mask]],
    )
    _check_library(dataset)

    dataset = _dataset(X, fmt, labels=labels, batch_indices=batches)
    dataset.filter_cells_by_attribute([0, 2])  # on labels by default
    mask = np.isin(labels, [0, 2])
    np.testing.assert_array_equal(_dense(dataset.X), X[mask])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), batches[mask])
    _check_library(dataset)

    dataset.filter_cells_by_attribute([1], on="batch_indices")
    mask = np.isin(labels, [0, 2]) & (batches == 1)
    np.testing.assert_array_equal(_dense(dataset.X), X[mask])
    _check_library(dataset)


@pytest.mark.parametrize("size, n_keep", [(4, 4), (0.5, 5), (0.35, 3), (1.0, 10)])
def test_subsample_cells_keeps_largest_totals_first(fmt, size, n_keep):
    rng = np.random.default_rng(10)
    X = _random_counts(10, 6, seed=11)
    X[:, 0] += rng.permutation(10) * 100  # distinct totals, in a shuffled order
    totals = X.sum(axis=1)
    assert len(np.unique(totals)) == 10
    batches = np.array([0, 1] * 5)
    dataset = _dataset(X, fmt, batch_indices=batches)
    dataset.subsample_cells(size)
    # as in scVI 0.6.8: largest library size first
    kept = np.argsort(-totals)[:n_keep]
    _check_format(dataset, fmt)
    assert dataset.nb_cells == n_keep
    np.testing.assert_array_equal(_dense(dataset.X), X[kept])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), batches[kept])
    _check_library(dataset)


def test_subsample_cells_all_and_errors(fmt):
    X = _random_counts(5, 3, seed=12)
    X[:, 0] += np.array([3, 0, 4, 1, 2]) * 50  # distinct totals
    dataset = _dataset(X, fmt)
    dataset.subsample_cells(1.0)
    dataset.subsample_cells(50)
    # every cell is kept, by decreasing library size (scVI 0.6.8)
    np.testing.assert_array_equal(_dense(dataset.X), X[[2, 0, 4, 3, 1]])
    for bad in (0, 0.0, 1.5, -2, "3"):
        with pytest.raises(ValueError, match="size"):
            dataset.subsample_cells(bad)


def test_genes_to_index(fmt):
    X = _random_counts(4, 5, seed=13)
    dataset = _dataset(X, fmt, gene_names=["a", "b", "c", "d", "e"])
    np.testing.assert_array_equal(dataset.genes_to_index(["d", "a", "e"]), [3, 0, 4])
    np.testing.assert_array_equal(dataset.genes_to_index(np.array([4, 1])), [4, 1])
    with pytest.raises(ValueError, match="zz"):
        dataset.genes_to_index(["a", "zz"])

    symbols = _dataset(
        X, fmt, gene_attributes_dict={"symbol": ["s0", "s1", "s2", "s3", "s4"]}
    )
    np.testing.assert_array_equal(
        symbols.genes_to_index(["s3", "s1"], on="symbol"), [3, 1]
    )
    with pytest.raises(ValueError, match="nope"):
        symbols.genes_to_index(["s1"], on="nope")

    dup = _dataset(X, fmt, gene_names=["a", "b", "a", "c", "d"])
    np.testing.assert_array_equal(dup.genes_to_index(["d", "b"]), [4, 1])
    with pytest.raises(ValueError, match="'a'"):
        dup.genes_to_index(["a"])


@pytest.mark.parametrize("drop", [False, True])
def test_reorder_genes(fmt, drop):
    X = _random_counts(6, 5, seed=14)
    names = np.array(["a", "b", "c", "d", "e"])
    dataset = _dataset(X, fmt, gene_names=names, batch_indices=[0, 0, 1, 1, 2, 2])
    dataset.reorder_genes(["d", "b"], drop_omitted_genes=drop)
    order = np.array([3, 1]) if drop else np.array([3, 1, 0, 2, 4])
    _check_format(dataset, fmt)
    np.testing.assert_array_equal(dataset.gene_names, names[order])
    # with drop, cells left without counts would go; none here thanks to +1
    expressing = X[:, order].sum(axis=1) > 0
    np.testing.assert_array_equal(_dense(dataset.X), X[expressing][:, order])
    _check_library(dataset)


def test_make_gene_names_lower(fmt):
    X = _random_counts(3, 3, seed=15)
    dataset = _dataset(X, fmt, gene_names=["CD3E", "Actb", "mt-Co1"])
    dataset.make_gene_names_lower()
    np.testing.assert_array_equal(dataset.gene_names, ["cd3e", "actb", "mt-co1"])
    np.testing.assert_array_equal(dataset.genes_to_index(["actb"]), [1])
    np.testing.assert_array_equal(_dense(dataset.X), X)


def test_filter_leaving_no_cell_raises(fmt):
    X = _random_counts(4, 3, seed=16)
    dataset = _dataset(X, fmt, labels=[0, 1, 0, 1])
    with pytest.raises(ValueError):
        dataset.filter_cells_by_count(min_count=X.sum(axis=1).max() + 1)
    with pytest.raises(ValueError):
        dataset.filter_cells_by_attribute([7])
    with pytest.raises(ValueError):
        dataset.filter_genes_by_count(min_count=X.sum(axis=0).max() + 1)
    # the dataset is left untouched
    np.testing.assert_array_equal(_dense(dataset.X), X)
    _check_library(dataset)


@pytest.mark.skipif(not HAS_GENE_SELECTION, reason="_gene_selection.py not there")
def test_subsample_genes_subset_and_variance(fmt):
    X = _random_counts(12, 6, seed=17)
    X[:, 4] = np.arange(12) * 5  # by far the largest variance
    X[:, 2] = np.arange(12) % 2 * 9  # second largest
    names = np.array(list("abcdef"))
    dataset = _dataset(X, fmt, gene_names=names)
    dataset.subsample_genes(subset_genes=["f", "a", "c"])
    np.testing.assert_array_equal(dataset.gene_names, ["f", "a", "c"])
    np.testing.assert_array_equal(_dense(dataset.X), X[:, [5, 0, 2]])
    _check_library(dataset)

    dataset = _dataset(X, fmt, gene_names=names)
    dataset.subsample_genes(new_n_genes=2, mode="variance")
    # most variable gene first (scVI 0.6.8)
    top = np.argsort(-X.var(axis=0))[:2]
    np.testing.assert_array_equal(top, [4, 2])
    np.testing.assert_array_equal(dataset.gene_names, names[top])
    expressing = X[:, top].sum(axis=1) > 0  # cell 0 has no count left
    assert expressing.sum() == 11
    np.testing.assert_array_equal(_dense(dataset.X), X[expressing][:, top])
    _check_format(dataset, fmt)
    _check_library(dataset)
