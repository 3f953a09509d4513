"""Cell-type operations, derived data (normalize, corrupt, raw_counts_properties),
collate functions, AnnData export, and the seed / verbosity settings.

Expected values are computed independently with NumPy / SciPy on small hand-made
matrices.
"""

import logging

import numpy as np
import pytest
import scipy.sparse as sp_sparse
import torch
from scipy import stats

import scvi
from scvi.dataset import CellMeasurement, GeneExpressionDataset, SyntheticDataset

CELL_TYPES = np.array(["A", "B", "C"])
LABELS = np.array([0, 1, 2, 0, 2, 1, 0])


@pytest.fixture(params=["dense", "csr"])
def fmt(request):
    return request.param


def _as(X, fmt):
    return sp_sparse.csr_matrix(X) if fmt == "csr" else np.array(X)


def _dense(X):
    return X.toarray() if sp_sparse.issparse(X) else np.asarray(X)


def _counts(n_cells, n_genes, seed):
    rng = np.random.default_rng(seed)
    X = rng.poisson(3.0, size=(n_cells, n_genes)).astype(np.float32)
    X[:, 0] += 1
    return X


def _typed(fmt="dense", X=None):
    X = _counts(7, 4, seed=0) if X is None else X
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        _as(X, fmt),
        labels=LABELS,
        cell_types=CELL_TYPES,
        batch_indices=[0, 0, 0, 1, 1, 1, 1],
    )
    return dataset


def _names(dataset):
    return np.asarray(dataset.cell_types)[dataset.labels.ravel()]


# ------------------------------------------------------------------ cell types
def test_cell_types_to_labels():
    dataset = _typed()
    labels = dataset.cell_types_to_labels(["C", "A", "C"])
    np.testing.assert_array_equal(labels, [2, 0, 2])
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(dataset.cell_types_to_labels(np.array(["B"])), [1])
    with pytest.raises(ValueError, match="Z"):
        dataset.cell_types_to_labels(["A", "Z"])


@pytest.mark.parametrize("selection", [["A", "C"], [0, 2], np.array([2, 0])])
def test_filter_cell_types(fmt, selection):
    X = _counts(7, 4, seed=1)
    dataset = _typed(fmt, X)
    dataset.filter_cell_types(selection)
    kept = np.isin(LABELS, [0, 2])
    assert sp_sparse.isspmatrix_csr(dataset.X) == (fmt == "csr")
    np.testing.assert_array_equal(_dense(dataset.X), X[kept])
    np.testing.assert_array_equal(dataset.cell_types, ["A", "C"])
    np.testing.assert_array_equal(dataset.labels.ravel(), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(_names(dataset), CELL_TYPES[LABELS[kept]])
    assert dataset.n_labels == 2


def test_filter_cell_types_last_type_dropped():
    X = _counts(7, 4, seed=2)
    dataset = _typed("dense", X)
    dataset.filter_cell_types(["B", "A"])
    kept = np.isin(LABELS, [0, 1])
    np.testing.assert_array_equal(dataset.cell_types, ["A", "B"])
    np.testing.assert_array_equal(_dense(dataset.X), X[kept])
    np.testing.assert_array_equal(_names(dataset), CELL_TYPES[LABELS[kept]])

    dataset = _typed("dense", X)
    dataset.filter_cell_types([2])
    np.testing.assert_array_equal(dataset.cell_types, ["C"])
    np.testing.assert_array_equal(dataset.labels.ravel(), [0, 0])
    np.testing.assert_array_equal(_dense(dataset.X), X[LABELS == 2])


@pytest.mark.parametrize("merged", [("A", "C"), (0, 2), ["C", "A"]])
def test_merge_cell_types(merged):
    dataset = _typed()
    dataset.merge_cell_types(merged, "AC")
    np.testing.assert_array_equal(
        dataset.cell_types, ["A#merged", "B", "C#merged", "AC"]
    )
    expected = np.where(np.isin(LABELS, [0, 2]), 3, LABELS)
    np.testing.assert_array_equal(dataset.labels.ravel(), expected)
    assert dataset.labels.shape == (7, 1) and dataset.labels.dtype == np.int64
    np.testing.assert_array_equal(
        _names(dataset), np.where(np.isin(LABELS, [0, 2]), "AC", "B")
    )
    assert dataset.n_labels == 2
    assert dataset.nb_cells == 7


def test_map_cell_types_with_tuple_keys():
    dataset = _typed()
    dataset.map_cell_types({("A", "C"): "AC", "B": "BB"})
    np.testing.assert_array_equal(
        dataset.cell_types, ["A#merged", "B#merged", "C#merged", "AC", "BB"]
    )
    np.testing.assert_array_equal(dataset.labels.ravel(), np.where(LABELS == 1, 4, 3))
    np.testing.assert_array_equal(_names(dataset), np.where(LABELS == 1, "BB", "AC"))

    dataset = _typed()
    dataset.map_cell_types({(1, 2): "BC"})
    np.testing.assert_array_equal(
        dataset.cell_types, ["A", "B#merged", "C#merged", "BC"]
    )
    np.testing.assert_array_equal(_names(dataset), np.where(LABELS == 0, "A", "BC"))


@pytest.mark.parametrize(
    "new_order, expected",
    [
        (["C", "A"], ["C", "A", "B"]),
        (["B"], ["B", "A", "C"]),
        (["A", "B", "C"], ["A", "B", "C"]),
        (np.array(["C", "B", "A"]), ["C", "B", "A"]),
    ],
)
def test_reorder_cell_types(new_order, expected):
    X = _counts(7, 4, seed=3)
    dataset = _typed("dense", X)
    before = _names(dataset)
    dataset.reorder_cell_types(new_order)
    np.testing.assert_array_equal(dataset.cell_types, expected)
    # every cell keeps its cell type name
    np.testing.assert_array_equal(_names(dataset), before)
    lookup = {name: code for code, name in enumerate(expected)}
    np.testing.assert_array_equal(
        dataset.labels.ravel(), [lookup[n] for n in CELL_TYPES[LABELS]]
    )
    np.testing.assert_array_equal(dataset.X, X)
    with pytest.raises(ValueError):
        dataset.reorder_cell_types(["A", "A"])


# ------------------------------------------------------------------- normalize
def test_normalize(fmt):
    X = _counts(6, 5, seed=4)
    X[3] = 0
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(_as(X, fmt))
    dataset.normalize()
    assert "norm_X" in dataset.dataset_versions
    assert sp_sparse.issparse(dataset.norm_X) == (fmt == "csr")
    if fmt == "csr":
        assert sp_sparse.isspmatrix_csr(dataset.norm_X)
    norm = _dense(dataset.norm_X)
    assert norm.shape == X.shape
    means = X.mean(axis=1, keepdims=True)
    expected = np.divide(X, means, out=np.zeros_like(X), where=means > 0)
    np.testing.assert_allclose(norm, expected, rtol=1e-5)
    row_means = norm.mean(axis=1)
    np.testing.assert_allclose(np.delete(row_means, 3), 1.0, rtol=1e-5)
    assert np.all(norm[3] == 0)
    # X itself is left as it was
    np.testing.assert_array_equal(_dense(dataset.X), X)


# --------------------------------------------------------------------- corrupt
def _corruption_matrix(fmt):
    rng = np.random.default_rng(5)
    X = rng.poisson(2.0, size=(200, 300)) * (rng.random((200, 300)) < 0.5)
    return X.astype(np.float32), _as(X.astype(np.float32), fmt)


def _bounds(n, p, tail=1e-9):
    return stats.binom.ppf(tail, n, p), stats.binom.isf(tail, n, p)


def test_corrupt_uniform(fmt):
    X, data = _corruption_matrix(fmt)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(data)
    np.random.seed(0)
    dataset.corrupt(rate=0.1, corruption="uniform")
    assert "corrupted_X" in dataset.dataset_versions
    assert sp_sparse.issparse(dataset.corrupted_X) == (fmt == "csr")
    corrupted = _dense(dataset.corrupted_X)
    np.testing.assert_array_equal(_dense(dataset.X), X)  # X untouched

    changed = corrupted != X
    assert np.all(X[changed] > 0)  # only non-zero entries change
    assert np.all(corrupted[changed] == 0)  # ... and they become 0
    n_picked = int(np.floor(0.1 * np.count_nonzero(X)))
    low, high = _bounds(n_picked, 0.1)
    assert low <= changed.sum() <= high
    assert changed.sum() <= n_picked


def test_corrupt_binomial(fmt):
    X, data = _corruption_matrix(fmt)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(data)
    np.random.seed(1)
    dataset.corrupt(rate=0.1, corruption="binomial")
    corrupted = _dense(dataset.corrupted_X)
    np.testing.assert_array_equal(_dense(dataset.X), X)

    assert np.all(corrupted <= X)
    assert np.all(corrupted >= 0)
    np.testing.assert_array_equal(corrupted, np.round(corrupted))
    changed = corrupted != X
    assert np.all(X[changed] > 0)
    nonzero = X[X > 0]
    # a picked count c changes unless Binomial(c, 0.2) == c
    p_change = np.mean(1 - 0.2**nonzero)
    n_picked = int(np.floor(0.1 * nonzero.size))
    low, high = _bounds(n_picked, p_change)
    assert low <= changed.sum() <= high
    assert changed.sum() <= n_picked
    assert changed.sum() > 0.5 * n_picked  # most picked entries change


def test_corrupt_full_rate_and_zero_rate():
    X, data = _corruption_matrix("dense")
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(data)
    np.random.seed(2)
    dataset.corrupt(rate=0.0)
    np.testing.assert_array_equal(dataset.corrupted_X, X)
    dataset.corrupt(rate=1.0, corruption="uniform")
    changed = dataset.corrupted_X != X
    low, high = _bounds(np.count_nonzero(X), 0.1)
    assert low <= changed.sum() <= high


def test_corrupt_is_reproducible_with_seed():
    _, data = _corruption_matrix("csr")
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(data)
    np.random.seed(3)
    dataset.corrupt(rate=0.2, corruption="binomial")
    first = dataset.corrupted_X.toarray()
    np.random.seed(3)
    dataset.corrupt(rate=0.2, corruption="binomial")
    np.testing.assert_array_equal(dataset.corrupted_X.toarray(), first)


def test_corrupt_errors():
    dataset = _typed()
    with pytest.raises(ValueError, match="corruption"):
        dataset.corrupt(corruption="gaussian")
    for rate in (-0.1, 1.5):
        with pytest.raises(ValueError, match="rate"):
            dataset.corrupt(rate=rate)
    assert dataset.corrupted_X is None


# ------------------------------------------------------- raw_counts_properties
@pytest.mark.parametrize("with_norm", [False, True])
def test_raw_counts_properties(fmt, with_norm):
    rng = np.random.default_rng(6)
    X = rng.poisson(1.0, size=(10, 6)).astype(np.float32)
    X[:, 0] += 1
    X[:, 5] = 0
    X[2, 5] = 4
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(_as(X, fmt))
    if with_norm:
        dataset.normalize()
    idx1 = np.array([0, 2, 4, 6])
    idx2 = np.array([1, 3, 5, 7, 8, 9])
    results = dataset.raw_counts_properties(idx1, idx2)
    assert len(results) == 6
    norm = X / X.mean(axis=1, keepdims=True)
    expected = (
        X[idx1].mean(axis=0),
        X[idx2].mean(axis=0),
        (X[idx1] != 0).mean(axis=0),
        (X[idx2] != 0).mean(axis=0),
        norm[idx1].mean(axis=0),
        norm[idx2].mean(axis=0),
    )
    for got, want in zip(results, expected):
        got = np.asarray(got)
        assert got.shape == (6,)
        np.testing.assert_allclose(got, want, rtol=1e-5)

    mask = np.zeros(10, dtype=bool)
    mask[idx1] = True
    by_mask = dataset.raw_counts_properties(mask, ~mask)
    for got, want in zip(by_mask, expected):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


# ---------------------------------------------------------------- collate_fn
def _with_proteins(fmt):
    X = _counts(7, 4, seed=7)
    proteins = np.arange(14, dtype=np.float32).reshape(7, 2)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        _as(X, fmt),
        labels=LABELS,
        batch_indices=[0, 1, 0, 1, 0, 1, 1],
        Ys=[
            CellMeasurement(
                name="protein_expression",
                data=proteins,
                columns_attr_name="protein_names",
                columns=["p", "q"],
            )
        ],
    )
    return X, proteins, dataset


def test_collate_fn_default(fmt):
    X, _, dataset = _with_proteins(fmt)
    batch = [5, 0, 3]
    tensors = dataset.collate_fn_builder()(batch)
    assert len(tensors) == 5
    x, means, variances, batches, labels = tensors
    assert all(isinstance(t, torch.Tensor) for t in tensors)
    assert x.dtype == torch.float32 and x.shape == (3, 4)
    assert x.layout == torch.strided
    np.testing.assert_array_equal(x.numpy(), X[batch])
    for tensor, name in ((means, "local_means"), (variances, "local_vars")):
        assert tensor.dtype == torch.float32 and tensor.shape == (3, 1)
        np.testing.assert_array_equal(tensor.numpy(), getattr(dataset, name)[batch])
    for tensor, values in ((batches, [1, 0, 1]), (labels, LABELS[batch])):
        assert tensor.dtype == torch.int64 and tensor.shape == (3, 1)
        np.testing.assert_array_equal(tensor.numpy().ravel(), values)


def test_collate_fn_with_data_loader(fmt):
    X, _, dataset = _with_proteins(fmt)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=3, shuffle=False, collate_fn=dataset.collate_fn_builder()
    )
    xs = [tensors[0].numpy() for tensors in loader]
    assert [x.shape[0] for x in xs] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(xs), X)


def test_collate_fn_added_and_override(fmt):
    _, proteins, dataset = _with_proteins(fmt)
    batch = np.array([6, 2])
    tensors = dataset.collate_fn_builder(
        add_attributes_and_types={"protein_expression": np.float32}
    )(batch)
    assert len(tensors) == 6
    assert tensors[5].dtype == torch.float32 and tensors[5].shape == (2, 2)
    np.testing.assert_array_equal(tensors[5].numpy(), proteins[batch])

    tensors = dataset.collate_fn_builder(
        add_attributes_and_types={"labels": np.int64, "local_means": np.float32},
        override=True,
    )(batch)
    assert len(tensors) == 2
    assert tensors[0].dtype == torch.int64
    np.testing.assert_array_equal(tensors[0].numpy().ravel(), LABELS[batch])
    np.testing.assert_array_equal(tensors[1].numpy(), dataset.local_means[batch])

    with pytest.raises(ValueError, match="missing"):
        dataset.collate_fn_builder(add_attributes_and_types={"missing": np.float32})


def test_collate_fn_corrupted(fmt):
    X, _, dataset = _with_proteins(fmt)
    with pytest.raises(ValueError, match="corrupted_X"):
        dataset.collate_fn_builder(corrupted=True)
    np.random.seed(4)
    dataset.corrupt(rate=0.5, corruption="uniform")
    batch = [1, 4, 6]
    tensors = dataset.collate_fn_builder(corrupted=True)(batch)
    assert len(tensors) == 5
    assert tensors[0].dtype == torch.float32
    np.testing.assert_array_equal(
        tensors[0].numpy(), _dense(dataset.corrupted_X)[batch]
    )
    # the default builder still gives the raw counts
    np.testing.assert_array_equal(
        dataset.collate_fn_builder()(batch)[0].numpy(), X[batch]
    )


# ------------------------------------------------------------------ to_anndata
def test_to_anndata(fmt):
    X, proteins, dataset = _with_proteins(fmt)
    dataset.cell_types = np.array(["A", "B", "C"])
    dataset.gene_names = np.array(["g0", "g1", "g2", "g3"])
    adata = dataset.to_anndata()
    assert adata.shape == (7, 4)
    assert sp_sparse.issparse(adata.X) == (fmt == "csr")
    np.testing.assert_array_equal(_dense(adata.X), X)
    np.testing.assert_array_equal(adata.var_names, ["g0", "g1", "g2", "g3"])
    for name in ("batch_indices", "labels", "local_means", "local_vars"):
        np.testing.assert_allclose(
            np.asarray(adata.obs[name]), getattr(dataset, name).ravel()
        )
    np.testing.assert_array_equal(
        np.asarray(adata.obs["cell_types"]).astype(str), CELL_TYPES[LABELS]
    )
    np.testing.assert_array_equal(_dense(adata.obsm["protein_expression"]), proteins)
    np.testing.assert_array_equal(adata.uns["cell_types"], CELL_TYPES)
    np.testing.assert_array_equal(adata.uns["protein_names"], ["p", "q"])
    assert adata.n_obs == dataset.nb_cells


# ---------------------------------------------------------- seed and verbosity
def test_set_seed_reproducibility():
    def build():
        return SyntheticDataset(
            batch_size=15, nb_genes=8, n_proteins=3, n_batches=2, n_labels=3
        )

    scvi.set_seed(3)
    first = build()
    scvi.set_seed(3)
    second = build()
    np.testing.assert_array_equal(_dense(first.X), _dense(second.X))
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.protein_expression, second.protein_expression)
    np.testing.assert_array_equal(first.local_means, second.local_means)

    scvi.set_seed(4)
    third = build()
    assert not np.array_equal(_dense(first.X), _dense(third.X))

    scvi.set_seed(3)
    a = torch.rand(3)
    scvi.set_seed(3)
    np.testing.assert_array_equal(a.numpy(), torch.rand(3).numpy())


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def scvi_logger():
    logger = logging.getLogger("scvi")
    level = logger.level
    handler = _Records()
    logger.addHandler(handler)
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        scvi.set_verbosity(level)


def test_set_verbosity(scvi_logger):
    logger, handler = scvi_logger
    X = _counts(5, 3, seed=8)
    X[2] = 0  # an empty cell: a warning when library sizes are computed

    scvi.set_verbosity("WARNING")
    assert not logger.isEnabledFor(logging.INFO)
    assert logger.isEnabledFor(logging.WARNING)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(X)
    dataset.update_cells([0, 1, 2, 3])
    levels = {r.levelno for r in handler.records}
    assert logging.INFO not in levels
    assert logging.WARNING in levels

    handler.records.clear()
    scvi.set_verbosity("info")
    assert logger.isEnabledFor(logging.INFO)
    dataset.update_cells([0, 1, 3])
    assert any(
        r.levelno == logging.INFO and r.name.startswith("scvi.")
        for r in handler.records
    )

    scvi.set_verbosity(logging.DEBUG)
    assert logger.isEnabledFor(logging.DEBUG)
    scvi.set_verbosity(40)
    assert not logger.isEnabledFor(logging.WARNING)
    assert logger.isEnabledFor(logging.ERROR)


@pytest.mark.parametrize("level", ["LOUD", "", -1, 2.5, None, True])
def test_set_verbosity_bad_levels(scvi_logger, level):
    logger, _ = scvi_logger
    scvi.set_verbosity("WARNING")
    with pytest.raises(ValueError):
        scvi.set_verbosity(level)
    assert logger.level == logging.WARNING
