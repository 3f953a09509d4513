"""Datasets whose counts stay on disk: BackedAnnDataset, BackedLoomDataset."""

import os

import anndata
import h5py
import loompy
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp_sparse
import torch

from scvi.dataset import (
    AnnDatasetFromAnnData,
    BackedAnnDataset,
    BackedLoomDataset,
    LoomDataset,
)
from scvi.dataset.backed_matrix import BackedMatrix
from scvi.dataset.backed_sources import row_spans

N_CELLS, N_GENES = 240, 40


def _counts(seed=0, n_cells=N_CELLS, n_genes=N_GENES):
    rng = np.random.default_rng(seed)
    dense = rng.poisson(rng.gamma(0.5, 2.0, size=(1, n_genes)), (n_cells, n_genes))
    dense[rng.random((n_cells, n_genes)) < 0.6] = 0
    dense[:3] = 0  # empty cells, removed by the filters
    return sp_sparse.csr_matrix(dense.astype(np.float32))


def _write_h5ad(path, X, seed=0):
    rng = np.random.default_rng(seed)
    n_cells, n_genes = X.shape
    obs = pd.DataFrame(
        {
            "batch_indices": rng.integers(0, 2, n_cells),
            "cell_types": pd.Categorical(rng.choice(["b", "a", "t"], n_cells)),
            "score": rng.random(n_cells),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene{i}" for i in range(n_genes)])
    anndata.AnnData(X=X, obs=obs, var=var).write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def h5ad_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("backed") / "counts.h5ad"
    return str(_write_h5ad(str(path), _counts()))


def _pair(path):
    return BackedAnnDataset(path), AnnDatasetFromAnnData(anndata.read_h5ad(path))


def _assert_same(backed, memory):
    assert isinstance(backed.X, BackedMatrix)
    assert backed.X.shape == memory.X.shape
    np.testing.assert_array_equal(
        backed.X.toarray(), sp_sparse.csr_matrix(memory.X).toarray()
    )
    for name in ("local_means", "local_vars", "batch_indices", "labels", "score"):
        np.testing.assert_array_equal(getattr(backed, name), getattr(memory, name))
    np.testing.assert_array_equal(backed.gene_names, memory.gene_names)
    np.testing.assert_array_equal(backed.cell_types, memory.cell_types)


def test_backed_h5ad_matches_in_memory(h5ad_path):
    backed, memory = _pair(h5ad_path)
    _assert_same(backed, memory)
    assert backed.n_batches == 2 and list(backed.cell_types) == ["a", "b", "t"]
    X = memory.X
    np.testing.assert_allclose(backed.X.sum(axis=0), X.sum(axis=0))
    np.testing.assert_allclose(backed.X.sum(axis=1), X.sum(axis=1))
    assert backed.X.sum() == X.sum()
    rows = np.array([17, 3, 200, 3])
    view = backed.X[rows][:, [5, 1]]
    assert view.shape == (4, 2)
    np.testing.assert_array_equal(view.toarray(), X[rows][:, [5, 1]].toarray())
    mask = np.arange(N_CELLS) % 3 == 0
    np.testing.assert_array_equal(backed.X[mask].toarray(), X[mask].toarray())


def test_streamed_filters_equal_in_memory_filters(h5ad_path):
    for steps in (
        lambda d: d.filter_cells_by_count(5),
        lambda d: d.filter_genes_by_count(20, per_batch=True),
        lambda d: (d.filter_genes_by_count(15), d.subsample_genes(12, mode="variance")),
        lambda d: d.subsample_genes(10, mode="seurat_v3"),
        lambda d: d.subsample_cells(100),
        lambda d: d.reorder_genes(["gene7", "gene2"], drop_omitted_genes=True),
    ):
        backed, memory = _pair(h5ad_path)
        steps(backed)
        steps(memory)
        _assert_same(backed, memory)
        assert backed.nb_genes < N_GENES or backed.nb_cells < N_CELLS


def test_streamed_gene_selections_equal_in_memory(h5ad_path):
    backed, memory = _pair(h5ad_path)
    pd.testing.assert_frame_equal(
        backed.highly_variable_genes(8, flavor="seurat_v3"),
        memory.highly_variable_genes(8, flavor="seurat_v3"),
    )
    frames = []
    for dataset in (backed, memory):
        torch.manual_seed(3)
        frames.append(dataset.highly_variable_genes(8, flavor="poisson_zeros"))
    pd.testing.assert_frame_equal(*frames)


def test_what_needs_the_whole_matrix_raises_clearly(h5ad_path):
    backed = BackedAnnDataset(h5ad_path)
    for operation in (
        lambda: np.asarray(backed.X),
        lambda: backed.highly_variable_genes(8, flavor="seurat_v2"),
        lambda: backed.to_anndata(),
        lambda: backed.X.copy(),
    ):
        with pytest.raises(ValueError, match="backed by .*counts.h5ad.*whole matrix"):
            operation()


def test_dense_h5ad_and_loom(tmp_path):
    X = _counts(seed=1)
    dense_path = str(tmp_path / "dense.h5ad")
    _write_h5ad(dense_path, X.toarray())
    backed, memory = _pair(dense_path)
    _assert_same(backed, memory)

    loom_path = str(tmp_path / "counts.loom")
    rng = np.random.default_rng(2)
    loompy.create(
        loom_path,
        X.T.toarray(),
        {"Gene": np.array([f"g{i}" for i in range(N_GENES)])},
        {
            "BatchID": rng.integers(0, 3, N_CELLS),
            "ClusterID": rng.integers(0, 4, N_CELLS),
        },
    )
    backed = BackedLoomDataset(loom_path)
    memory = LoomDataset("counts.loom", save_path=str(tmp_path))
    assert isinstance(backed.X, BackedMatrix)
    assert backed.nb_cells == N_CELLS - 3  # empty cells left out, streamed
    np.testing.assert_array_equal(backed.X.toarray(), memory.X)
    for name in ("local_means", "batch_indices", "labels", "gene_names"):
        np.testing.assert_array_equal(getattr(backed, name), getattr(memory, name))


def test_row_spans_group_neighbours():
    rows = np.array([0, 1, 2, 50, 200, 201, 1000])
    assert row_spans(rows, gap=64) == [(0, 51), (200, 202), (1000, 1001)]
    assert row_spans(np.array([], dtype=np.int64)) == []


def _cut(path, fraction):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * fraction)])


def _edit(path, edit):
    with h5py.File(path, "r+") as f:
        edit(f)


def test_corrupt_or_truncated_files_raise_clear_errors(tmp_path):
    X = _counts(seed=4)

    def fresh(name):
        return _write_h5ad(str(tmp_path / name), X)

    cases = [
        ("cut.h5ad", lambda p: _cut(p, 0.5), "truncated or corrupt"),
        ("noindptr.h5ad", lambda p: _edit(p, lambda f: f["X"].pop("indptr")), "indptr"),
        ("noX.h5ad", lambda p: _edit(p, lambda f: f.pop("X")), "no 'X' matrix"),
        (
            "short.h5ad",
            lambda p: _edit(
                p,
                lambda f: (
                    f["X"].pop("data"),
                    f["X"].create_dataset("data", data=np.ones(5, np.float32)),
                ),
            ),
            "truncated",
        ),
        (
            "negative.h5ad",
            lambda p: _edit(p, lambda f: f["X/data"].__setitem__(0, -1.0)),
            "negative",
        ),
        (
            "badcols.h5ad",
            lambda p: _edit(p, lambda f: f["X/indices"].__setitem__(0, 10**6)),
            "column indices",
        ),
    ]
    for name, damage, message in cases:
        path = fresh(name)
        damage(path)
        with pytest.raises(ValueError, match=message) as info:
            BackedAnnDataset(path)
        assert name in str(info.value)
    csc_path = str(tmp_path / "csc.h5ad")
    _write_h5ad(csc_path, X.tocsc())
    with pytest.raises(ValueError, match="CSC"):
        BackedAnnDataset(csc_path)
    text_path = tmp_path / "text.h5ad"
    text_path.write_text("not hdf5")
    with pytest.raises(ValueError, match="text.h5ad cannot be opened"):
        BackedAnnDataset(str(text_path))
    with pytest.raises(FileNotFoundError):
        BackedAnnDataset(str(tmp_path / "missing.h5ad"))
    loom_path = str(tmp_path / "cut.loom")
    loompy.create(loom_path, X.T.toarray(), {}, {})
    _cut(loom_path, 0.3)
    with pytest.raises(ValueError, match="cut.loom"):
        BackedLoomDataset(loom_path)
    assert os.path.exists(loom_path)
