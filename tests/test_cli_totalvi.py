"""``scvi train --model totalvi``: proteins from an .h5ad obsm key or 10x antibody
capture, the outputs of totalVI, and the errors naming the option at fault."""

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp_sparse

from scvi.cli import main

# tiny, fast settings for every training run
FAST = ["--model", "totalvi", "--epochs", "2", "--n-hidden", "16", "--no-progress"]
FAST += ["--n-latent", "4", "--n-samples", "3", "--batch-size", "64"]
N_CELLS, N_GENES, N_PROTEINS = 120, 30, 6
TOTALVI_KEYS = [
    "X_totalVI",
    "protein_expression",
    "totalvi_denoised_proteins",
    "totalvi_protein_foreground_prob",
]


def _cite(seed=0):
    """Genes and proteins of two groups of cells, no empty cell."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, size=N_CELLS)
    genes = rng.poisson(rng.gamma(2.0, 1.0, size=(2, N_GENES))[group])
    genes[:, 0] += 1
    foreground = rng.gamma(5.0, 6.0, size=(2, N_PROTEINS))[group]
    proteins = rng.poisson(5.0 + foreground * rng.binomial(1, 0.9, foreground.shape))
    return genes.astype(np.float32), proteins.astype(np.float32)


def _write_h5ad(path, key="protein_expression", names=None, frame=False, **uns):
    """An .h5ad of counts with the proteins in ``obsm[key]``; None: no proteins."""
    genes, proteins = _cite()
    obs = pd.DataFrame(
        {"batch": np.where(np.arange(N_CELLS) % 3 == 0, "b", "a")},
        index=[f"cell_{i}" for i in range(N_CELLS)][::-1],
    )
    adata = anndata.AnnData(X=sp_sparse.csr_matrix(genes), obs=obs)
    if key is not None:
        if frame:
            proteins = pd.DataFrame(proteins, index=obs.index, columns=names)
        adata.obsm[key] = proteins
    adata.uns.update(uns)
    adata.write_h5ad(path)
    return genes, np.asarray(proteins)


def _check_totalvi_output(path, n_cells, n_genes, n_proteins, n_latent=4):
    adata = anndata.read_h5ad(path)
    assert adata.shape == (n_cells, n_genes)
    assert all(key in adata.obsm for key in TOTALVI_KEYS)
    assert "X_scVI" not in adata.obsm and "scvi_normalized" not in adata.layers
    latent = adata.obsm["X_totalVI"]
    assert latent.shape == (n_cells, n_latent) and np.isfinite(latent).all()
    genes = adata.layers["totalvi_denoised_genes"]
    assert genes.dtype == np.float32 and genes.shape == (n_cells, n_genes)
    assert (genes >= 0).all()
    np.testing.assert_allclose(genes.sum(axis=1), 1.0, rtol=1e-4)
    denoised = adata.obsm["totalvi_denoised_proteins"]
    assert denoised.dtype == np.float32 and denoised.shape == (n_cells, n_proteins)
    assert np.isfinite(denoised).all() and (denoised >= 0).all()
    foreground = adata.obsm["totalvi_protein_foreground_prob"]
    assert foreground.shape == (n_cells, n_proteins)
    assert (foreground >= 0).all() and (foreground <= 1).all()
    assert adata.obsm["protein_expression"].shape == (n_cells, n_proteins)
    assert len(adata.uns["protein_names"]) == n_proteins
    settings = adata.uns["scvi"]
    assert settings["model"] == "totalvi" and settings["n_proteins"] == n_proteins
    assert settings["n_epochs"] == 2 and settings["n_latent"] == n_latent
    assert settings["likelihood"] == "nb" and settings["lr"] == 4e-3
    assert settings["n_samples"] == 3 and np.isfinite(settings["elbo_train_set"])
    return adata


UNS_NAMES = ["CD3", "CD4", "CD8", "CD14", "CD19", "CD56"]
FRAME_NAMES = [f"ab{i}" for i in range(N_PROTEINS)]
NUMBERED = [f"p{i}" for i in range(N_PROTEINS)]


@pytest.mark.parametrize(
    "key, frame, uns, expected",
    [
        (None, False, {"protein_names": np.array(UNS_NAMES)}, UNS_NAMES),
        ("adt", True, {}, FRAME_NAMES),
    ],
    ids=["default_key_uns_names", "dataframe_columns"],
)
def test_train_h5ad_with_proteins_in_obsm(tmp_path, capsys, key, frame, uns, expected):
    source = tmp_path / "cite.h5ad"
    genes, proteins = _write_h5ad(
        source, key or "protein_expression", FRAME_NAMES, frame, **uns
    )
    out = tmp_path / "out.h5ad"
    argv = ["train", str(source), "--out", str(out), "--batch-key", "batch"] + FAST
    argv += [] if key is None else ["--protein-key", key]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {out}: {N_CELLS} cells x {N_GENES} genes, obsm['X_totalVI']" in (
        printed
    )
    adata = _check_totalvi_output(str(out), N_CELLS, N_GENES, N_PROTEINS)
    assert list(adata.uns["protein_names"]) == expected
    assert dict(adata.uns["cell_measurements_col_mappings"]) == {
        "protein_expression": "protein_names"
    }
    # the cells keep the order (and names) of the input, counts and proteins alike
    assert list(adata.obs_names) == [f"cell_{i}" for i in range(N_CELLS)][::-1]
    np.testing.assert_array_equal(np.asarray(adata.X.todense()), genes)
    np.testing.assert_array_equal(adata.obsm["protein_expression"], proteins)
    settings = adata.uns["scvi"]
    assert settings["protein_key"] == (key or "protein_expression")
    assert settings["n_batch"] == 2 and settings["early_stopping"]
    assert np.isfinite(settings["elbo_test_set"])


def test_train_without_early_stopping_or_test_set(tmp_path):
    source = tmp_path / "cite.h5ad"
    _write_h5ad(source, key="adt")
    out = tmp_path / "out.h5ad"
    argv = ["train", str(source), "--out", str(out), "--protein-key", "adt"] + FAST
    assert main(argv + ["--no-early-stopping"]) == 0
    adata = _check_totalvi_output(str(out), N_CELLS, N_GENES, N_PROTEINS)
    assert list(adata.uns["protein_names"]) == NUMBERED  # no names: numbered
    settings = adata.uns["scvi"]
    assert not settings["early_stopping"] and settings["n_epochs_trained"] == 2
    assert np.isfinite(settings["elbo_test_set"]) and settings["protein_key"] == "adt"
    argv += ["--force", "--train-size", "1", "--likelihood", "zinb"]
    assert main(argv + ["--n-epochs-kl-warmup", "1"]) == 0
    settings = anndata.read_h5ad(out).uns["scvi"]
    assert not settings["early_stopping"] and "elbo_test_set" not in settings
    assert settings["likelihood"] == "zinb" and settings["n_epochs_kl_warmup"] == 1


def test_train_10x_folder_with_antibody_capture(tmp_path):
    genes, proteins = _cite(seed=1)
    folder = tmp_path / "filtered_feature_bc_matrix"
    folder.mkdir()
    counts = np.concatenate([genes, proteins], axis=1).T.astype(int)
    scipy.io.mmwrite(str(folder / "matrix.mtx"), sp_sparse.coo_matrix(counts))
    features = [f"ENSG{i:05d}\tGENE{i}\tGene Expression" for i in range(N_GENES)]
    features += [f"CD{i}_TotalSeqB\tCD{i}\tAntibody Capture" for i in range(6)]
    (folder / "features.tsv").write_text("\n".join(features) + "\n")
    barcodes = [f"AAAC{i:04d}-1" for i in range(N_CELLS)]
    (folder / "barcodes.tsv").write_text("\n".join(barcodes) + "\n")
    out = tmp_path / "tenx.h5ad"
    assert main(["train", str(folder), "--out", str(out)] + FAST) == 0
    adata = _check_totalvi_output(str(out), N_CELLS, N_GENES, N_PROTEINS)
    assert list(adata.obs_names) == barcodes
    assert list(adata.uns["protein_names"]) == [f"CD{i}_TotalSeqB" for i in range(6)]
    np.testing.assert_array_equal(adata.obsm["protein_expression"], proteins)
    assert adata.uns["scvi"]["protein_key"] == ""


# ------------------------------------------------------------------ errors
FILES = ["rna.h5ad", "cite.h5ad", "short_names.h5ad", "negative.h5ad", "nan.h5ad"]
FILES += ["counts.csv", "rna_10x"]


def _inputs(tmp_path):
    """Inputs without usable proteins, in every format."""
    _write_h5ad(tmp_path / "rna.h5ad", key=None)
    _write_h5ad(tmp_path / "cite.h5ad")
    _write_h5ad(tmp_path / "short_names.h5ad", protein_names=np.array(["a", "b"]))
    genes, proteins = _cite()
    for name, value in (("negative", -1.0), ("nan", np.nan)):
        bad = proteins.copy()
        bad[3, 2] = value
        adata = anndata.AnnData(X=genes)
        adata.obsm["protein_expression"] = bad
        adata.write_h5ad(tmp_path / f"{name}.h5ad")
    (tmp_path / "counts.csv").write_text("gene,c1,c2,c3\ng1,1,2,3\ng2,4,5,6\n")
    folder = tmp_path / "rna_10x"
    folder.mkdir()
    scipy.io.mmwrite(str(folder / "matrix.mtx"), sp_sparse.coo_matrix(genes.T))
    names = [f"ENSG{i}\tG{i}\tGene Expression" for i in range(N_GENES)]
    (folder / "features.tsv").write_text("\n".join(names) + "\n")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["rna.h5ad"], "--model totalvi needs protein counts but"),
        (["rna.h5ad"], "has no obsm['protein_expression']: give --protein-key KEY"),
        (["cite.h5ad", "--protein-key", "adt"], "--protein-key 'adt': "),
        (["cite.h5ad", "--protein-key", "adt"], "obsm has: 'protein_expression'"),
        (["short_names.h5ad"], "uns['protein_names'] of"),
        (["negative.h5ad"], "obsm['protein_expression'] of"),
        (["negative.h5ad"], "holds negative values: totalVI models raw protein"),
        (["nan.h5ad"], "holds NaN values"),
        (["counts.csv"], "--model totalvi needs protein counts but"),
        (["rna_10x"], "'Antibody Capture' features"),
        (["counts.csv", "--protein-key", "adt"], "--protein-key names an obsm key"),
        (["--demo", "--protein-key", "adt"], "not of demo input"),
        (["cite.h5ad", "--likelihood", "poisson"], "--likelihood poisson is not"),
        (["cite.h5ad", "--dispersion", "gene-cell"], "--dispersion gene-cell is not"),
        (
            ["cite.h5ad", "--model", "scvi", "--protein-key", "protein_expression"],
            ("--protein-key is an option of --model totalvi, not of --model scvi"),
        ),
        (["cite.h5ad", "--model", "scvi", "--n-samples", "5"], "--n-samples is an"),
        (["cite.h5ad", "--model", "scvi", "--no-early-stopping"], "--no-early-stop"),
        (["cite.h5ad", "--model", "scgen"], "argument --model: invalid choice"),
    ],
)
def test_totalvi_errors_exit_2_with_a_clear_message(tmp_path, capsys, argv, message):
    _inputs(tmp_path)
    argv = [str(tmp_path / a) if a in FILES else a for a in argv]
    argv = ["train", "--model", "totalvi"] + argv + ["--out", str(tmp_path / "o.h5ad")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "scvi: error: " in err and message in err
    assert not (tmp_path / "o.h5ad").exists()


def test_train_help_lists_the_totalvi_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ["--model {scvi,totalvi}", "--protein-key", "--n-samples"]:
        assert text in out
    for key in TOTALVI_KEYS[:1] + TOTALVI_KEYS[2:] + ["totalvi_denoised_genes"]:
        assert key in out
    assert "(default: 10 for scvi, 20 for totalvi)" in out
