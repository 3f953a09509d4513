"""Highly variable gene selection, checked against scanpy and against numpy."""

import warnings
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp_sparse

from scvi.dataset._gene_selection import highly_variable_genes

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PBMC4K = DATA / "real" / "pbmc4k_top2000_labelled.h5ad"
PBMC_BATCHES = DATA / "real" / "pbmc_3batches_raw.h5ad"

# our flavor name -> scanpy's; with batches, scanpy's "seurat_v3" sorts genes by
# median rank first, its "seurat_v3_paper" (like ours) by number of batches first
SCANPY_FLAVOR = {"seurat_v2": "seurat", "cell_ranger": "cell_ranger"}
SCANPY_FLAVOR.update(seurat_v3="seurat_v3", seurat_v3_batches="seurat_v3_paper")

SINGLE_BATCH_CASES = [
    ("seurat_v2", 300),
    ("seurat_v2", None),
    ("cell_ranger", 300),
    ("cell_ranger", None),
    ("seurat_v3", 300),
]


def jaccard(a, b) -> float:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    return (a & b).sum() / max((a | b).sum(), 1)


def simulate_counts(n_cells=2000, n_genes=1000, n_groups=4, seed=0):
    """Negative binomial counts with varied means and dispersions, and cell groups.

    Every group multiplies the mean of a tenth of the genes by a log-normal fold
    change, so that those genes are truly variable across cells.
    """
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(-1.0, 1.5, size=n_genes))
    fold = np.ones((n_groups, n_genes))
    for group in range(n_groups):
        markers = rng.choice(n_genes, size=n_genes // 10, replace=False)
        fold[group, markers] = np.exp(rng.normal(0.0, 1.5, size=markers.size))
    groups = rng.integers(n_groups, size=n_cells)
    library = np.exp(rng.normal(0.0, 0.3, size=n_cells))
    mu = library[:, None] * base[None, :] * fold[groups]
    theta = np.exp(rng.normal(0.5, 1.0, size=n_genes))
    counts = rng.poisson(rng.gamma(theta, mu / theta)).astype(np.float32)
    return counts, groups


def read_counts(path: Path):
    if not path.exists():
        pytest.skip(f"shared data file {path} is missing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = anndata.read_h5ad(path)
    return adata


def scanpy_hvg(X, flavor, batch_indices=None, **kwargs) -> pd.DataFrame:
    """scanpy's selection, on log-normalized data except for seurat_v3."""
    sc = pytest.importorskip("scanpy")
    n_cells, n_genes = X.shape
    adata = anndata.AnnData(
        sp_sparse.csr_matrix(X, dtype=np.float32),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"g{i}" for i in range(n_genes)]),
    )
    batch_key = None
    if batch_indices is not None:
        adata.obs["batch"] = pd.Categorical(np.asarray(batch_indices).astype(str))
        batch_key = "batch"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not flavor.startswith("seurat_v3"):
            sc.pp.normalize_total(adata, target_sum=1e4)
            sc.pp.log1p(adata)
        result = sc.pp.highly_variable_genes(
            adata, flavor=flavor, batch_key=batch_key, inplace=False, **kwargs
        )
    # with a batch_key and no n_top_genes, scanpy returns the genes sorted by name
    return result.loc[adata.var_names].reset_index(drop=True)


@pytest.fixture(scope="module")
def pbmc4k():
    return sp_sparse.csr_matrix(read_counts(PBMC4K).X)


@pytest.fixture(scope="module")
def simulated():
    return simulate_counts()


@pytest.fixture(scope="module")
def pbmc_batches():
    adata = read_counts(PBMC_BATCHES)
    X = sp_sparse.csr_matrix(adata.X)
    expressed = np.asarray(X.sum(axis=0)).ravel() > 0
    batches = pd.Categorical(adata.obs["batch"]).codes.astype(np.int64)
    return X[:, expressed], batches


def check_against_scanpy(X, flavor, n_top_genes, batch_indices=None):
    ours = highly_variable_genes(
        X, batch_indices=batch_indices, flavor=flavor, n_top_genes=n_top_genes
    )
    key = flavor + (
        "_batches" if flavor == "seurat_v3" and batch_indices is not None else ""
    )
    theirs = scanpy_hvg(X, SCANPY_FLAVOR[key], batch_indices, n_top_genes=n_top_genes)
    assert ours.highly_variable.dtype == bool
    if n_top_genes is not None:
        assert ours.highly_variable.sum() == n_top_genes
    assert ours.highly_variable.sum() > 0
    assert jaccard(ours.highly_variable, theirs.highly_variable) >= 0.95
    # scanpy works in float32 where we use float64
    stats = ["means", "dispersions", "dispersions_norm", "variances", "variances_norm"]
    for column in stats + ["highly_variable_nbatches"]:
        if column in theirs:
            np.testing.assert_allclose(
                ours[column].to_numpy(np.float64),
                theirs[column].to_numpy(np.float64),
                rtol=1e-4,
                atol=1e-3,
                equal_nan=True,
                err_msg=column,
            )
    return ours


@pytest.mark.parametrize("flavor, n_top_genes", SINGLE_BATCH_CASES)
def test_matches_scanpy_on_pbmc4k(pbmc4k, flavor, n_top_genes):
    check_against_scanpy(pbmc4k, flavor, n_top_genes)


@pytest.mark.parametrize("flavor, n_top_genes", SINGLE_BATCH_CASES)
def test_matches_scanpy_on_simulated_counts(simulated, flavor, n_top_genes):
    counts, _ = simulated
    ours = check_against_scanpy(counts, flavor, n_top_genes)
    if n_top_genes is None:
        assert 50 < ours.highly_variable.sum() < 500


@pytest.mark.parametrize(
    "flavor, n_top_genes",
    [("seurat_v3", 500), ("seurat_v2", 500), ("seurat_v2", None), ("cell_ranger", 500)],
)
def test_matches_scanpy_with_batches(pbmc_batches, flavor, n_top_genes):
    X, batches = pbmc_batches
    ours = check_against_scanpy(X, flavor, n_top_genes, batch_indices=batches)
    n_batches = ours["highly_variable_nbatches"].to_numpy()
    assert n_batches.min() >= 0 and n_batches.max() == 3
    if n_top_genes is not None:
        # genes are taken by decreasing number of batches
        assert (
            n_batches[ours.highly_variable].min()
            >= n_batches[~ours.highly_variable].max()
        )


def test_simulated_marker_genes_are_found(simulated):
    counts, groups = simulated
    group_means = np.stack([counts[groups == g].mean(axis=0) for g in range(4)])
    spread = np.log1p(group_means).std(axis=0)
    strongest = np.argsort(-spread)[:50]
    for flavor in ["seurat_v2", "cell_ranger", "seurat_v3"]:
        hvg = highly_variable_genes(counts, flavor=flavor, n_top_genes=300)
        # 300 of 1000 genes are selected: a random choice would find 30% of them;
        # the rest are mostly genes made variable by a small NB shape parameter
        assert hvg.highly_variable.to_numpy()[strongest].mean() >= 0.7, flavor


@pytest.mark.parametrize(
    "flavor", ["variance", "seurat_v2", "cell_ranger", "seurat_v3"]
)
@pytest.mark.parametrize("with_batches", [False, True])
def test_dense_and_sparse_inputs_agree(simulated, flavor, with_batches):
    counts, groups = simulated
    counts = counts.copy()
    counts[:, :5] = 0  # genes without counts
    counts[:3] = 0  # cells without counts
    batches = groups % 2 if with_batches else None
    dense = highly_variable_genes(counts, batches, flavor=flavor, n_top_genes=250)
    for matrix in [sp_sparse.csr_matrix, sp_sparse.csc_matrix, sp_sparse.coo_matrix]:
        sparse = highly_variable_genes(
            matrix(counts), batches, flavor=flavor, n_top_genes=250
        )
        assert list(sparse.columns) == list(dense.columns)
        np.testing.assert_array_equal(sparse.highly_variable, dense.highly_variable)
        for column in dense.columns:
            np.testing.assert_allclose(
                sparse[column].to_numpy(np.float64),
                dense[column].to_numpy(np.float64),
                rtol=1e-9,
                atol=1e-12,
                equal_nan=True,
                err_msg=column,
            )
    assert isinstance(dense.index, pd.RangeIndex) and len(dense) == counts.shape[1]
    has_batches = with_batches and flavor != "variance"  # variance ignores batches
    assert ("highly_variable_nbatches" in dense) == has_batches


def test_integer_counts_and_input_left_unchanged(simulated):
    counts, groups = simulated
    ints = counts.astype(np.int64)
    csr = sp_sparse.csr_matrix(counts)
    data_before = csr.data.copy()
    for flavor in ["seurat_v2", "cell_ranger", "seurat_v3"]:
        from_ints = highly_variable_genes(ints, groups, flavor=flavor, n_top_genes=200)
        from_csr = highly_variable_genes(csr, groups, flavor=flavor, n_top_genes=200)
        np.testing.assert_array_equal(
            from_ints.highly_variable, from_csr.highly_variable
        )
    np.testing.assert_array_equal(csr.data, data_before)
    np.testing.assert_array_equal(ints, counts.astype(np.int64))


def test_variance_flavor_against_numpy(simulated):
    counts, groups = simulated
    expected = np.var(counts.astype(np.float64), axis=0)
    top = np.argsort(-expected)[:100]
    for X in [counts, sp_sparse.csr_matrix(counts)]:
        hvg = highly_variable_genes(X, groups, flavor="variance", n_top_genes=100)
        assert list(hvg.columns) == ["highly_variable", "variances"]
        np.testing.assert_allclose(hvg.variances, expected, rtol=1e-10)
        np.testing.assert_array_equal(np.flatnonzero(hvg.highly_variable), np.sort(top))


def test_output_columns():
    counts, groups = simulate_counts(n_cells=300, n_genes=200, seed=1)
    expected = {
        "variance": ["variances"],
        "seurat_v2": ["means", "dispersions", "dispersions_norm"],
        "cell_ranger": ["means", "dispersions", "dispersions_norm"],
        "seurat_v3": ["means", "variances", "variances_norm", "highly_variable_rank"],
    }
    for flavor, columns in expected.items():
        hvg = highly_variable_genes(counts, flavor=flavor, n_top_genes=20)
        assert list(hvg.columns) == ["highly_variable"] + columns
        assert hvg.highly_variable.sum() == 20
        if flavor == "seurat_v3":
            ranks = hvg.highly_variable_rank.to_numpy()
            assert sorted(ranks[hvg.highly_variable]) == list(range(20))
            assert np.isnan(ranks[~hvg.highly_variable]).all()
        # a single batch, or a column vector of batches, changes nothing
        single = highly_variable_genes(
            counts, np.zeros(300, dtype=int), flavor=flavor, n_top_genes=20
        )
        pd.testing.assert_frame_equal(single, hvg)
        column = highly_variable_genes(
            counts, groups[:, None] % 2, flavor=flavor, n_top_genes=20
        )
        flat = highly_variable_genes(counts, groups % 2, flavor=flavor, n_top_genes=20)
        pd.testing.assert_frame_equal(column, flat)


@pytest.mark.parametrize(
    "flavor", ["variance", "seurat_v2", "cell_ranger", "seurat_v3"]
)
def test_n_top_genes_at_least_n_genes_selects_all(flavor):
    counts, groups = simulate_counts(n_cells=300, n_genes=100, seed=2)
    for n_top_genes in [100, 150]:
        for batches in [None, groups % 2]:
            hvg = highly_variable_genes(
                counts, batches, flavor=flavor, n_top_genes=n_top_genes
            )
            assert hvg.highly_variable.all()


def test_seurat_v2_gene_alone_in_its_bin_has_normalized_dispersion_one():
    counts, _ = simulate_counts(n_cells=500, n_genes=300, seed=3)
    counts[:, 7] = counts[:, 7] * 500 + 50
    hvg = highly_variable_genes(counts, flavor="seurat_v2")
    assert hvg.means.idxmax() == 7
    assert hvg.dispersions_norm[7] == pytest.approx(1.0)
    # genes without counts have no dispersion
    counts[:, 3] = 0
    hvg = highly_variable_genes(counts, flavor="seurat_v2", n_top_genes=30)
    assert np.isnan(hvg.dispersions[3]) and not hvg.highly_variable[3]


def test_errors():
    counts, _ = simulate_counts(n_cells=100, n_genes=50, seed=4)
    with pytest.raises(ValueError, match="`flavor` must be one of .*seurat_v3"):
        highly_variable_genes(counts, flavor="seurat")
    for flavor in ["seurat_v3", "variance"]:
        with pytest.raises(ValueError, match="`n_top_genes` is required"):
            highly_variable_genes(counts, flavor=flavor)
    with pytest.raises(ValueError, match="`n_top_genes` must be a positive int"):
        highly_variable_genes(counts, flavor="seurat_v3", n_top_genes=0)
    with pytest.raises(ValueError, match="`batch_indices` must have shape"):
        highly_variable_genes(
            counts, np.zeros(99, dtype=int), flavor="seurat_v2", n_top_genes=10
        )
    with pytest.raises(ValueError, match="`batch_indices` must have shape"):
        highly_variable_genes(
            counts, np.zeros((100, 2), dtype=int), flavor="seurat_v3", n_top_genes=10
        )


def test_seurat_v3_on_too_few_genes_gives_a_clear_error():
    counts = np.random.default_rng(0).poisson(3.0, size=(60, 8)).astype(float)
    with pytest.raises(ValueError, match="seurat_v3 loess fit failed on 8 genes"):
        highly_variable_genes(counts, flavor="seurat_v3", n_top_genes=3)
