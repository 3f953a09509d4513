"""``scvi train --continuous-covariate-keys / --categorical-covariate-keys``: obs
columns (h5ad) or column attributes (loom) as extra covariates of scVI and
totalVI, and the errors naming the option at fault."""

import anndata
import numpy as np
import pandas as pd
import pytest

from scvi.cli import load_input, main
from scvi.cli import covariates as cli_covariates
from scvi.cli.models import FIT
from scvi.cli.parser import build_parser
from scvi.models import _vae_covariates

N_CELLS, N_GENES, N_PROTEINS = 120, 30, 5
FAST = ["--epochs", "2", "--n-hidden", "16", "--n-latent", "4", "--no-progress"]
FAST += ["--batch-size", "64"]
FAST_BY_MODEL = {
    "scvi": FAST,
    "totalvi": FAST + ["--model", "totalvi", "--n-samples", "2"],
}
COVS = ["--continuous-covariate-keys", "pct_mito", "depth"]
COVS += ["--categorical-covariate-keys", "donor", "phase", "level"]

DONORS = np.array(["d2", "d10", "d1"])
PHASES = ["S", "G1", "G2M"]  # the order of the categories, not sorted
LEVELS = np.array([5, 10, 2])


def _obs():
    rng = np.random.default_rng(0)
    i = np.arange(N_CELLS)
    return pd.DataFrame(
        {
            "batch": np.where(i % 3 == 0, "b", "a"),
            "pct_mito": rng.uniform(0.0, 0.2, N_CELLS),
            "depth": (i % 7).astype(np.int64),
            "donor": DONORS[i % 3],
            "phase": pd.Categorical(
                np.array(PHASES)[i % 3], categories=PHASES + ["unused"]
            ),
            "level": LEVELS[i % 3],
            "with_nan": np.where(i == 5, np.nan, 1.0),
            "with_inf": np.where(i == 7, np.inf, 1.0),
            "missing": pd.Categorical(np.where(i % 50 == 0, None, "x")),
        },
        index=[f"cell_{j}" for j in i],
    )


def _expected(obs, donors):
    """cont_covs and cat_covs of COVS for the cells of ``obs``; ``donors``: the
    categories of the donor column as written (anndata stores strings as a
    categorical)."""
    cont = np.stack([obs["pct_mito"], obs["depth"]], 1).astype(np.float32)
    donor = {d: i for i, d in enumerate(donors)}  # the categories' order
    phase = {"S": 0, "G1": 1, "G2M": 2}  # the categories' order
    level = {2: 0, 5: 1, 10: 2}  # sorted as numbers
    cat = np.stack(
        [
            [donor[d] for d in obs["donor"]],
            [phase[p] for p in obs["phase"]],
            [level[v] for v in obs["level"]],
        ],
        1,
    )
    return cont, cat


def _write_h5ad(path):
    rng = np.random.default_rng(1)
    X = rng.poisson(2.0, size=(N_CELLS, N_GENES)).astype(np.float32)
    X[:, 0] += 1
    adata = anndata.AnnData(X=X, obs=_obs())
    adata.obsm["protein_expression"] = rng.poisson(
        20.0, size=(N_CELLS, N_PROTEINS)
    ).astype(np.float32)
    adata.write_h5ad(path)
    return path


def _load(argv):
    args = build_parser().parse_args(["train"] + argv + ["--out", "unused.h5ad"])
    return load_input(args)[0]


def test_cell_attribute_names_agree_with_the_models():
    assert cli_covariates.CONT_COVS_KEY == _vae_covariates.CONT_COVS_KEY
    assert cli_covariates.CAT_COVS_KEY == _vae_covariates.CAT_COVS_KEY


def test_load_input_reads_the_covariates_in_the_order_given(tmp_path):
    source = _write_h5ad(tmp_path / "in.h5ad")
    dataset = _load([str(source), "--batch-key", "batch"] + COVS)
    donors = list(anndata.read_h5ad(source).obs["donor"].cat.categories)
    assert sorted(donors) == sorted(DONORS)
    cont, cat = _expected(_obs(), donors)
    assert dataset.cont_covs.dtype == np.float32 and dataset.cat_covs.dtype == np.int64
    np.testing.assert_array_equal(dataset.cont_covs, cont)
    np.testing.assert_array_equal(dataset.cat_covs, cat)
    # the categorical keys alone, in another order
    keys = ["level", "donor"]
    dataset = _load([str(source), "--categorical-covariate-keys"] + keys)
    np.testing.assert_array_equal(dataset.cat_covs, cat[:, [2, 0]])
    assert "cont_covs" not in dataset.cell_attribute_names
    # without the options, no covariate is registered
    dataset = _load([str(source)])
    assert "cont_covs" not in dataset.cell_attribute_names
    assert "cat_covs" not in dataset.cell_attribute_names


def test_category_codes_sort_values_or_keep_the_categories_order():
    codes, categories = cli_covariates.category_codes(
        np.array(["t2", "t10", "t1", "t2"]), "x"
    )
    np.testing.assert_array_equal(codes, [2, 1, 0, 2])  # sorted as text
    assert list(categories) == ["t1", "t10", "t2"]
    codes, categories = cli_covariates.category_codes(pd.Series([10, 2, 5, 2]), "x")
    np.testing.assert_array_equal(codes, [2, 0, 1, 0])  # sorted as numbers
    column = pd.Series(pd.Categorical(["b", "a", "b"], categories=["c", "b", "a"]))
    codes, categories = cli_covariates.category_codes(column, "x")
    np.testing.assert_array_equal(codes, [0, 1, 0])  # 'c' is unused
    assert list(categories) == ["b", "a"]
    values = cli_covariates.continuous_values(pd.Series([1, 2], dtype="Int64"), "x")
    assert values.dtype == np.float32 and list(values) == [1.0, 2.0]
    with pytest.raises(ValueError, match="'x' holds 1 missing or infinite"):
        cli_covariates.continuous_values(pd.Series([1e300, 0.0]), "'x'")


@pytest.mark.parametrize("model", ["scvi", "totalvi"])
@pytest.mark.parametrize("modern", [False, True], ids=["0.6", "modern"])
def test_train_with_covariates(tmp_path, monkeypatch, model, modern):
    trained = {}

    def fit(args, dataset, n_batch, use_cuda):
        fitted = original(args, dataset, n_batch, use_cuda)
        trained["model"] = fitted.trainer.model
        return fitted

    original = FIT[model]
    monkeypatch.setitem(FIT, model, fit)
    source = _write_h5ad(tmp_path / "in.h5ad")
    out = tmp_path / "out.h5ad"
    argv = ["train", str(source), "--out", str(out), "--batch-key", "batch"]
    argv += COVS + FAST_BY_MODEL[model] + (["--modern"] if modern else [])
    assert main(argv) == 0
    adata = anndata.read_h5ad(out)
    latent = adata.obsm["X_scVI" if model == "scvi" else "X_totalVI"]
    assert latent.shape == (N_CELLS, 4) and np.isfinite(latent).all()
    settings = adata.uns["scvi"]
    assert list(settings["continuous_covariate_keys"]) == ["pct_mito", "depth"]
    assert list(settings["categorical_covariate_keys"]) == ["donor", "phase", "level"]
    assert list(settings["n_cats_per_cov"]) == [3, 3, 3]
    assert settings["n_batch"] == 2 and settings["model"] == model
    assert settings.get("preset") == ("modern" if modern else None)
    # the covariates' columns are kept, the arrays built from them are not
    assert "cont_covs" not in adata.obs and "cont_covs" not in adata.obsm
    assert "cat_covs" not in adata.obs and "cat_covs" not in adata.obsm
    np.testing.assert_allclose(adata.obs["pct_mito"], _obs()["pct_mito"])
    # the model was built with the covariates
    network = trained["model"]
    assert network.n_continuous_cov == 2
    assert tuple(network.n_cats_per_cov) == (3, 3, 3)
    assert set(network.covariate_attributes) == {"cont_covs", "cat_covs"}


def test_train_without_covariates_records_none(tmp_path):
    source = _write_h5ad(tmp_path / "in.h5ad")
    out = tmp_path / "out.h5ad"
    assert main(["train", str(source), "--out", str(out)] + FAST) == 0
    settings = anndata.read_h5ad(out).uns["scvi"]
    assert "continuous_covariate_keys" not in settings
    assert "categorical_covariate_keys" not in settings
    assert np.isfinite(settings["elbo_train_set"])


def _write_loom(path):
    """A loom whose cell 0 has no count (LoomDataset removes it) and is the only
    cell of the 'solo' category."""
    loompy = pytest.importorskip("loompy")
    rng = np.random.default_rng(2)
    X = rng.poisson(2.0, size=(N_CELLS, N_GENES)).astype(np.float32)
    X[:, 0] += 1
    X[0] = 0
    i = np.arange(N_CELLS)
    cluster = np.where(i % 2 == 0, "t_cell", "b_cell")
    cluster[0] = "solo"
    col_attrs = {
        "CellID": np.array([f"bc{j}" for j in i]),
        "run": np.where(i < 60, "r1", "r2"),
        "score": np.linspace(-1.0, 1.0, N_CELLS),
        "ClusterID": cluster,  # LoomDataset's default labels attribute
        "tissue": np.array(["t2", "t10", "t1"])[i % 3],
    }
    row_attrs = {"Gene": np.array([f"g{j}" for j in range(N_GENES)])}
    loompy.create(str(path), X.T, row_attrs=row_attrs, col_attrs=col_attrs)
    return col_attrs


def test_loom_covariates_follow_the_cells_kept(tmp_path):
    path = tmp_path / "cells.loom"
    col_attrs = _write_loom(path)
    argv = [str(path), "--batch-key", "run"]
    argv += ["--continuous-covariate-keys", "score"]
    argv += ["--categorical-covariate-keys", "ClusterID", "tissue"]
    dataset = _load(argv)
    kept = slice(1, None)  # cell 0 had no count
    assert dataset.nb_cells == N_CELLS - 1
    np.testing.assert_allclose(
        dataset.cont_covs[:, 0], col_attrs["score"][kept].astype(np.float32)
    )
    cluster = col_attrs["ClusterID"][kept]
    np.testing.assert_array_equal(dataset.cat_covs[:, 0], cluster == "t_cell")
    tissue = {"t1": 0, "t10": 1, "t2": 2}  # sorted as text
    expected = [tissue[t] for t in col_attrs["tissue"][kept]]
    np.testing.assert_array_equal(dataset.cat_covs[:, 1], expected)

    out = tmp_path / "loom.h5ad"
    assert main(["train"] + argv + ["--out", str(out)] + FAST) == 0
    adata = anndata.read_h5ad(out)
    assert list(adata.obs_names) == list(col_attrs["CellID"][kept])
    assert np.isfinite(adata.obsm["X_scVI"]).all()
    settings = adata.uns["scvi"]
    assert list(settings["continuous_covariate_keys"]) == ["score"]
    assert list(settings["categorical_covariate_keys"]) == ["ClusterID", "tissue"]
    assert list(settings["n_cats_per_cov"]) == [2, 3]  # 'solo' left with cell 0


CONT = "--continuous-covariate-keys"
CAT = "--categorical-covariate-keys"


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["{h5ad}", CONT, "nope"],
            "unknown covariate key 'nope' (--continuous-covariate-keys): ",
        ),
        (["{h5ad}", CAT, "nope"], "available: 'batch', 'pct_mito', 'depth', "),
        (
            ["{loom}", CAT, "tissue", "nope"],
            "unknown covariate key 'nope' (--categorical-covariate-keys)",
        ),
        (["{loom}", CAT, "nope"], "available: 'CellID', 'ClusterID', 'run', "),
        (
            ["{tmp}/counts.csv", CONT, "x"],
            "--continuous-covariate-keys names obs columns of an .h5ad input",
        ),
        (["{tmp}/empty_dir", CAT, "x"], "--categorical-covariate-keys names obs"),
        (["--demo", CAT, "x"], "the demo dataset has no such columns"),
        (
            ["{h5ad}", CONT, "donor"],
            "--continuous-covariate-keys: obs column of {tmp}/in.h5ad 'donor' is "
            "not numeric",
        ),
        (
            ["{h5ad}", CONT, "pct_mito", "with_nan"],
            "--continuous-covariate-keys: obs column of {tmp}/in.h5ad 'with_nan' "
            "holds 1 missing or infinite values",
        ),
        (["{h5ad}", CONT, "with_inf"], "'with_inf' holds 1 missing or infinite"),
        (
            ["{h5ad}", CAT, "missing"],
            "--categorical-covariate-keys: obs column of {tmp}/in.h5ad 'missing' "
            "holds 3 missing values",
        ),
        (
            ["{h5ad}", CONT, "depth", CAT, "depth"],
            "'depth' is given to both --continuous-covariate-keys and "
            "--categorical-covariate-keys",
        ),
        (
            ["{h5ad}", "--batch-key", "batch", CAT, "donor", "batch"],
            "--categorical-covariate-keys repeats the batch key 'batch' (--batch-key)",
        ),
        (
            ["{h5ad}", "--batch-key", "batch", CONT, "batch"],
            "--continuous-covariate-keys repeats the batch key 'batch'",
        ),
        (
            ["{h5ad}", CAT, "donor", "donor"],
            "--categorical-covariate-keys names 'donor' twice",
        ),
        ([CAT], "argument --categorical-covariate-keys: expected at least one"),
    ],
)
def test_covariate_errors_exit_2_naming_the_option(tmp_path, capsys, argv, message):
    _write_h5ad(tmp_path / "in.h5ad")
    _write_loom(tmp_path / "cells.loom")
    (tmp_path / "counts.csv").write_text("gene,c1,c2\ng1,1,2\n")
    (tmp_path / "empty_dir").mkdir()
    paths = {
        "{h5ad}": str(tmp_path / "in.h5ad"),
        "{loom}": str(tmp_path / "cells.loom"),
    }
    argv = [paths.get(a, a).replace("{tmp}", str(tmp_path)) for a in argv]
    out = tmp_path / "o.h5ad"
    assert main(["train"] + argv + ["--out", str(out)] + FAST) == 2
    err = capsys.readouterr().err
    assert "scvi: error: " in err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert not out.exists()


def test_train_help_lists_the_covariate_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--continuous-covariate-keys KEY [KEY ...]" in out
    assert "--categorical-covariate-keys KEY [KEY ...]" in out
