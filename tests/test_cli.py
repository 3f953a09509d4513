"""The ``scvi`` command."""

import gzip
import os
import subprocess
import sys

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp_sparse

import scvi
from scvi.cli import main, write_h5ad_atomically
from scvi.dataset import SyntheticDataset

# tiny, fast settings for every training run
FAST = ["--epochs", "2", "--n-hidden", "16", "--no-progress"]


def test_demo_prints_the_synthetic_dataset(capsys):
    assert (
        main(["demo", "--cells-per-batch", "30", "--genes", "40", "--seed", "1"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "GeneExpressionDataset object with n_cells x nb_genes = 60 x 40"
    assert (
        "cell_measurements_col_mappings: {'protein_expression': 'protein_names'}"
        in (out[-1])
    )


def test_demo_is_reproducible_and_matches_the_library():
    scvi.set_seed(1)
    expected = SyntheticDataset(batch_size=30, nb_genes=40)
    scvi.set_seed(1)
    again = SyntheticDataset(batch_size=30, nb_genes=40)
    np.testing.assert_array_equal(expected.X, again.X)
    np.testing.assert_array_equal(expected.labels, again.labels)
    assert expected.n_batches == 2 and expected.n_labels == 3


def test_bad_arguments_give_a_clear_error(capsys):
    assert main(["demo", "--genes", "0"]) == 2
    assert "nb_genes must be an integer >= 1" in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "scvi", "demo", "--cells-per-batch", "5"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith(
        "GeneExpressionDataset object with n_cells x nb_genes = 10 x 100"
    )


# ------------------------------------------------------------------ scvi train
def _counts(n_cells, n_genes, seed=0):
    """Poisson counts with two groups of cells and no empty cell."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, 1.0, size=(2, n_genes))
    group = rng.integers(0, 2, size=n_cells)
    X = rng.poisson(rates[group]).astype(np.float32)
    X[:, 0] += 1
    return X


def _check_output(path, n_cells, n_genes, n_latent=10):
    adata = anndata.read_h5ad(path)
    assert adata.shape == (n_cells, n_genes)
    latent = adata.obsm["X_scVI"]
    assert latent.shape == (n_cells, n_latent)
    assert np.isfinite(latent).all()
    normalized = adata.layers["scvi_normalized"]
    assert normalized.dtype == np.float32 and normalized.shape == (n_cells, n_genes)
    assert (normalized >= 0).all()
    np.testing.assert_allclose(normalized.sum(axis=1), 1.0, rtol=1e-4)
    settings = adata.uns["scvi"]
    assert settings["n_epochs"] == 2 and settings["n_latent"] == n_latent
    assert np.isfinite(settings["elbo_train_set"])
    assert np.isfinite(settings["elbo_test_set"])
    # the temporary file was renamed: nothing else is left beside the output
    assert sorted(os.listdir(os.path.dirname(path))) == sorted(
        n for n in os.listdir(os.path.dirname(path)) if not n.startswith(".")
    )
    return adata


def test_train_demo_writes_latent_and_normalized_expression(tmp_path, capsys):
    out = tmp_path / "demo.h5ad"
    argv = ["train", "--demo", "--out", str(out), "--demo-cells-per-batch", "60"]
    argv += ["--demo-genes", "30", "--n-latent", "4"] + FAST
    assert main(argv) == 0
    assert f"Wrote {out}: 120 cells x 30 genes" in capsys.readouterr().out
    adata = _check_output(str(out), 120, 30, n_latent=4)
    settings = adata.uns["scvi"]
    assert settings["input"] == "demo" and settings["likelihood"] == "zinb"
    assert settings["model"] == "scvi" and settings["n_epochs_kl_warmup"] == 400
    assert settings["n_batch"] == 0 and settings["train_size"] == 0.9
    assert list(adata.obs_names[:2]) == ["cell_0", "cell_1"]
    assert "protein_expression" in adata.obsm


def test_train_h5ad_with_a_batch_key_keeps_the_cell_order(tmp_path, capsys):
    n_cells, n_genes = 150, 40
    X = _counts(n_cells, n_genes)
    # identical cells have identical latent means: a permutation would show
    X[77] = X[0]
    X[140] = X[5]
    rng = np.random.default_rng(1)
    batch = rng.choice(["lane_b", "lane_a"], size=n_cells)
    obs = pd.DataFrame(
        {"batch": pd.Categorical(batch), "quality": rng.normal(size=n_cells)},
        index=[f"cell_{i:03d}" for i in rng.permutation(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene_{i}" for i in range(n_genes)])
    source = tmp_path / "input.h5ad"
    anndata.AnnData(X=sp_sparse.csr_matrix(X), obs=obs, var=var).write_h5ad(source)
    out = tmp_path / "out.h5ad"
    out.write_text("an older result")
    argv = ["train", str(source), "--out", str(out), "--batch-key", "batch"]
    assert main(argv + ["--force", "--likelihood", "nb"] + FAST) == 0
    adata = _check_output(str(out), n_cells, n_genes)
    assert list(adata.obs_names) == list(obs.index)
    assert list(adata.var_names) == list(var.index)
    np.testing.assert_array_equal(np.asarray(adata.X.todense()), X)
    assert list(adata.obs["batch"]) == list(batch)
    np.testing.assert_array_equal(adata.obs["batch_indices"], batch == "lane_b")
    np.testing.assert_allclose(adata.obs["quality"], obs["quality"])
    latent = adata.obsm["X_scVI"]
    np.testing.assert_allclose(latent[77], latent[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(latent[140], latent[5], rtol=1e-5, atol=1e-6)
    assert not np.allclose(latent[0], latent[5])
    settings = adata.uns["scvi"]
    assert settings["batch_key"] == "batch" and settings["n_batch"] == 2
    assert settings["likelihood"] == "nb" and settings["input_format"] == "h5ad"


def test_train_loom_with_a_batch_attribute(tmp_path):
    loompy = pytest.importorskip("loompy")
    n_cells, n_genes = 100, 25
    X = _counts(n_cells, n_genes, seed=2)
    cell_ids = np.array([f"bc{i}" for i in range(n_cells)])[::-1]
    batch = np.where(np.arange(n_cells) < 40, "first", "second")
    path = tmp_path / "cells.loom"
    loompy.create(
        str(path),
        X.T,
        row_attrs={"Gene": np.array([f"g{i}" for i in range(n_genes)])},
        col_attrs={"CellID": cell_ids, "run": batch},
    )
    out = tmp_path / "loom.h5ad"
    argv = ["train", str(path), "--out", str(out), "--batch-key", "run"] + FAST
    assert main(argv) == 0
    adata = _check_output(str(out), n_cells, n_genes)
    assert list(adata.obs_names) == list(cell_ids)
    assert list(adata.var_names[:2]) == ["g0", "g1"]
    np.testing.assert_array_equal(adata.obs["batch_indices"], batch == "second")
    assert adata.uns["scvi"]["n_batch"] == 2


def test_train_10x_folder_uses_barcodes_as_cell_names(tmp_path):
    n_cells, n_genes = 90, 30
    X = _counts(n_cells, n_genes, seed=3)
    folder = tmp_path / "filtered_gene_bc_matrices"
    folder.mkdir()
    scipy.io.mmwrite(str(folder / "matrix.mtx"), sp_sparse.coo_matrix(X.T.astype(int)))
    genes = [f"ENSG{i:05d}\tGENE{i}" for i in range(n_genes)]
    (folder / "genes.tsv").write_text("\n".join(genes) + "\n")
    barcodes = [f"AAAC{i:04d}-{1 + (i % 2)}" for i in range(n_cells)]
    (folder / "barcodes.tsv").write_text("\n".join(barcodes) + "\n")
    out = tmp_path / "tenx.h5ad"
    argv = ["train", str(folder), "--out", str(out), "--batch-key", "batch_indices"]
    assert main(argv + ["--train-size", "0.8"] + FAST) == 0
    adata = _check_output(str(out), n_cells, n_genes)
    assert list(adata.obs_names) == barcodes
    assert list(adata.var_names[:2]) == ["ENSG00000", "ENSG00001"]
    assert list(adata.var["gene_symbols"][:2]) == ["GENE0", "GENE1"]
    np.testing.assert_array_equal(adata.obs["batch_indices"], np.arange(n_cells) % 2)
    assert adata.uns["scvi"]["n_batch"] == 2 and adata.uns["scvi"]["train_size"] == 0.8


@pytest.mark.parametrize("cells_by_genes", [False, True])
def test_train_csv(tmp_path, cells_by_genes):
    n_cells, n_genes = 80, 20
    X = _counts(n_cells, n_genes, seed=4)
    cells = [f"c{i}" for i in range(n_cells)][::-1]
    genes = [f"g{i}" for i in range(n_genes)]
    table = pd.DataFrame(X, index=cells, columns=genes)
    if cells_by_genes:
        path = tmp_path / "counts.csv"
        table.to_csv(path)
        extra = ["--cells-by-genes"]
    else:
        path = tmp_path / "counts.csv.gz"
        with gzip.open(path, "wt") as handle:
            table.T.to_csv(handle)
        extra = []
    out = tmp_path / "csv.h5ad"
    assert main(["train", str(path), "--out", str(out)] + extra + FAST) == 0
    adata = _check_output(str(out), n_cells, n_genes)
    assert list(adata.obs_names) == cells and list(adata.var_names) == genes
    np.testing.assert_array_equal(adata.X, X)


# ------------------------------------------------------------------ errors
def _h5ad(tmp_path):
    path = tmp_path / "small.h5ad"
    obs = pd.DataFrame({"batch": ["a", "b"] * 10, "donor": ["x"] * 20})
    obs.index = obs.index.astype(str)
    anndata.AnnData(X=_counts(20, 5), obs=obs).write_h5ad(path)
    return path


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing.h5ad"], "input 'missing.h5ad' does not exist"),
        (["{tmp}/notes.txt"], "unknown format of input"),
        (["{tmp}/small.h5ad", "--batch-key", "lane"], "unknown batch key 'lane'"),
        (["{tmp}/small.h5ad", "--batch-key", "lane"], "available: 'batch', 'donor'"),
        (["{tmp}/small.h5ad", "--epochs", "0"], "argument --epochs: must be an"),
        (["{tmp}/small.h5ad", "--likelihood", "gauss"], "invalid choice: 'gauss'"),
        (["{tmp}/small.h5ad", "--train-size", "1.5"], "must be a number in (0, 1]"),
        (["{tmp}/small.h5ad", "--lr", "-1"], "argument --lr: must be a number > 0"),
        (["{tmp}/small.h5ad", "--demo"], "give either INPUT or --demo, not both"),
        ([], "give an INPUT file or folder to train on, or --demo"),
        (["{tmp}/small.h5ad", "--dispersion", "gene-batch"], "needs batches"),
        (["{tmp}/counts.csv", "--batch-key", "b"], "--batch-key cannot be used"),
        (["{tmp}/empty_dir"], "no 10x data found"),
    ],
)
def test_train_errors_exit_2_with_a_clear_message(tmp_path, capsys, argv, message):
    _h5ad(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "counts.csv").write_text("gene,c1,c2\ng1,1,2\n")
    (tmp_path / "empty_dir").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["train"] + argv + ["--out", str(tmp_path / "o.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "scvi: error: " in err and message in err
    assert not (tmp_path / "o.h5ad").exists()


def test_train_refuses_to_overwrite_without_force(tmp_path, capsys):
    source = _h5ad(tmp_path)
    out = tmp_path / "result.h5ad"
    out.write_text("keep me")
    assert main(["train", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "scvi: error: " in err and "already exists; use --force" in err
    assert out.read_text() == "keep me"


def test_train_output_folder_must_exist(tmp_path, capsys):
    out = tmp_path / "nowhere" / "out.h5ad"
    assert main(["train", "--demo", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_interrupted_write_leaves_nothing_behind(tmp_path):
    class Failing:
        def write_h5ad(self, path):
            with open(path, "w") as handle:
                handle.write("half")
            raise OSError("disk full")

    out = tmp_path / "out.h5ad"
    with pytest.raises(OSError, match="disk full"):
        write_h5ad_atomically(Failing(), str(out))
    assert os.listdir(tmp_path) == []


def test_train_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ["--batch-key", "--epochs", "--likelihood", "--cells-by-genes"]:
        assert option in out
