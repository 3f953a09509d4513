"""Generic loaders (.h5ad, .csv/.tsv, .loom) on the scVI fixtures and small files.

Every loader is checked against an independent read of the same file (h5py, csv,
gzip), and the AnnData round trip of three loaders must be exact.
"""

import bz2
import csv
import gzip
import logging
import shutil
import zipfile
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp_sparse

from scvi.dataset import GeneExpressionDataset, SyntheticDataset
from scvi.dataset.anndataset import AnnDatasetFromAnnData, DownloadableAnnDataset
from scvi.dataset.csv import BreastCancerDataset, CsvDataset, MouseOBDataset
from scvi.dataset.loom import (
    FrontalCortexDropseqDataset,
    LoomDataset,
    PreFrontalCortexStarmapDataset,
    RetinaDataset,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIXTURES = SHARED / "scvi-0.6-fixtures"

# the pbmc fixtures were written by an old anndata
pytestmark = [
    pytest.mark.filterwarnings("ignore:Element .* was written without encoding"),
    pytest.mark.filterwarnings("ignore:.* was written with a very old version"),
]

RETINA_TYPES = ["RBC", "MG", "BC5A", "BC7", "BC6"]


def fixture(tmp_path: Path, name: str) -> Path:
    """Copy a fixture file into tmp_path (skip the test when it is missing)."""
    source = FIXTURES / name
    if not source.exists():
        pytest.skip(f"fixture {source} not available")
    target = tmp_path / Path(name).name
    shutil.copy(source, target)
    return target


class Records(logging.Handler):
    """Collects the messages of a logger (pytest may run without its logging)."""

    def __init__(self, name: str):
        super().__init__(logging.DEBUG)
        self.messages = []
        self.logger = logging.getLogger(name)

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        self.level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *args):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)


def dense(X) -> np.ndarray:
    return X.toarray() if sp_sparse.issparse(X) else np.asarray(X)


def read_table(path: Path, sep: str, opener=open):
    """Header, row names and values of a text table, with the csv module."""
    with opener(path, "rt", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=sep))
    names = [row[0] for row in rows[1:]]
    values = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
    return rows[0][1:], names, values


def loom_file(path: Path, matrix, col_attrs=None, row_attrs=None, attrs=None):
    """Write a minimal loom file (genes x cells) with h5py."""
    with h5py.File(path, "w") as f:
        f.create_dataset("matrix", data=np.asarray(matrix))
        f.create_group("col_attrs")
        f.create_group("row_attrs")
        for name, values in (col_attrs or {}).items():
            f["col_attrs"].create_dataset(name, data=values)
        for name, values in (row_attrs or {}).items():
            f["row_attrs"].create_dataset(name, data=values)
        for name, value in (attrs or {}).items():
            f.attrs[name] = value
    return path


def assert_same_dataset(copy: GeneExpressionDataset, original: GeneExpressionDataset):
    """X, genes, labels, cell types, batches, measurements, other attributes."""
    assert type(copy.X) is type(original.X)
    assert copy.X.dtype == original.X.dtype
    np.testing.assert_array_equal(dense(copy.X), dense(original.X))
    np.testing.assert_array_equal(copy.gene_names, original.gene_names)
    assert copy.gene_names.dtype.kind == "U"
    np.testing.assert_array_equal(copy.labels, original.labels)
    np.testing.assert_array_equal(copy.cell_types, original.cell_types)
    np.testing.assert_array_equal(copy.batch_indices, original.batch_indices)
    assert copy.n_batches == original.n_batches
    assert copy.n_labels == original.n_labels
    np.testing.assert_array_equal(copy.local_means, original.local_means)
    np.testing.assert_array_equal(copy.local_vars, original.local_vars)
    assert copy.cell_measurements_col_mappings == (
        original.cell_measurements_col_mappings
    )
    for name, columns in original.cell_measurements_col_mappings.items():
        assert getattr(copy, name).dtype == getattr(original, name).dtype
        np.testing.assert_array_equal(getattr(copy, name), getattr(original, name))
        np.testing.assert_array_equal(
            getattr(copy, columns), getattr(original, columns)
        )
    assert set(copy.cell_attribute_names) == set(original.cell_attribute_names)
    for name in original.cell_attribute_names:
        np.testing.assert_array_equal(
            np.asarray(getattr(copy, name)).reshape(getattr(original, name).shape),
            getattr(original, name),
        )
    assert list(copy.cell_categorical_attribute_names) == list(
        original.cell_categorical_attribute_names
    )


# ------------------------------------------------------------------ .h5ad files
def test_downloadable_anndataset_tm_droplet(tmp_path):
    path = fixture(tmp_path, "TM_droplet_mat.h5ad")
    with h5py.File(path, "r") as f:
        expected = sp_sparse.csr_matrix(
            (f["X/data"][:], f["X/indices"][:], f["X/indptr"][:]),
            shape=tuple(f["X"].attrs["h5sparse_shape"]),
        )
        genes = f["var"]["index"].astype(str)
    dataset = DownloadableAnnDataset("TM_droplet_mat.h5ad", save_path=str(tmp_path))
    assert sp_sparse.isspmatrix_csr(dataset.X)
    assert dataset.X.shape == (47, 10)
    assert (dataset.X != expected).nnz == 0
    np.testing.assert_array_equal(dataset.gene_names, genes)
    assert dataset.n_batches == 1 and dataset.n_labels == 1
    np.testing.assert_array_equal(dataset.batch_indices, np.zeros((47, 1)))


def test_anndataset_pbmc_protein_measurement(tmp_path):
    path = fixture(tmp_path, "pbmc_10k_protein_v3.h5ad")
    with h5py.File(path, "r") as f:
        X = f["X"][:]
        genes = f["var/index"].asstr()[:]
        proteins = f["obsm/protein_expression"][:]
        protein_names = f["uns/protein_names"].asstr()[:]
        n_genes = f["obs/n_genes"][:]
    ad = anndata.read_h5ad(path)
    dataset = AnnDatasetFromAnnData(
        ad, cell_measurements_col_mappings={"protein_expression": "protein_names"}
    )
    assert dataset.X.shape == (200, 16727) and isinstance(dataset.X, np.ndarray)
    np.testing.assert_array_equal(dataset.X, X)
    np.testing.assert_array_equal(dataset.gene_names, genes)
    np.testing.assert_array_equal(dataset.protein_expression, proteins)
    np.testing.assert_array_equal(dataset.protein_names, protein_names)
    assert dataset.protein_names.dtype.kind == "U"
    np.testing.assert_array_equal(dataset.n_genes, n_genes)
    assert {"n_genes", "percent_mito", "n_counts"} <= set(dataset.cell_attribute_names)
    assert dataset.get_batch_mask_cell_measurement("protein_expression")[0].all()
    # X is copied: the AnnData is left alone by filters on the dataset
    dataset.X[0, 0] += 1
    assert ad.X[0, 0] == X[0, 0]
    # the .h5ad without the mapping: no measurement, the rest is the same
    plain = DownloadableAnnDataset("pbmc_10k_protein_v3.h5ad", save_path=str(tmp_path))
    assert plain.cell_measurements_col_mappings == {}
    np.testing.assert_array_equal(plain.X, X)


def test_pbmc_5k_and_10k_merge_on_shared_genes_and_proteins(tmp_path):
    # the totalVI tutorial's set-up: two CITE-seq runs with different antibody panels
    mapping = {"protein_expression": "protein_names"}
    raw, datasets = [], []
    for name in ("pbmc_10k_protein_v3.h5ad", "pbmc_5k_protein_v3.h5ad"):
        ad = anndata.read_h5ad(fixture(tmp_path, name))
        raw.append(ad)
        datasets.append(
            AnnDatasetFromAnnData(ad.copy(), cell_measurements_col_mappings=mapping)
        )
    merged = GeneExpressionDataset()
    merged.populate_from_datasets(datasets)
    assert datasets[1].X.shape == (200, 16581)
    genes = [set(ad.var_names) for ad in raw]
    proteins = [list(ad.uns["protein_names"]) for ad in raw]
    assert set(merged.gene_names) == genes[0] & genes[1]
    assert merged.nb_genes == 15792
    # proteins: the intersection, sorted (the order scVI 0.6.8 gives)
    assert list(merged.protein_names) == sorted(set(proteins[0]) & set(proteins[1]))
    assert len(merged.protein_names) == 14
    np.testing.assert_array_equal(merged.batch_indices.ravel(), np.repeat([0, 1], 200))
    for batch, ad in enumerate(raw):
        cells = merged.batch_indices.ravel() == batch
        expected_x = ad[:, list(merged.gene_names)].X
        np.testing.assert_array_equal(merged.X[cells], np.asarray(expected_x))
        columns = [proteins[batch].index(p) for p in merged.protein_names]
        np.testing.assert_array_equal(
            merged.protein_expression[cells], ad.obsm["protein_expression"][:, columns]
        )


def test_anndataset_missing_measurement_is_a_clear_error(tmp_path):
    ad = anndata.AnnData(X=np.ones((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="'protein_expression' is not in obsm"):
        AnnDatasetFromAnnData(
            ad, cell_measurements_col_mappings={"protein_expression": "protein_names"}
        )
    ad.obsm["protein_expression"] = np.ones((3, 4))
    with pytest.raises(ValueError, match="'protein_names' .* not in uns"):
        AnnDatasetFromAnnData(
            ad, cell_measurements_col_mappings={"protein_expression": "protein_names"}
        )
    with pytest.raises(ValueError, match="use_raw=True but the AnnData has no .raw"):
        AnnDatasetFromAnnData(ad, use_raw=True)


def test_anndataset_csc_x_becomes_csr_through_h5ad(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.5, size=(30, 12)).astype(np.float32)
    counts[:, 0] += 1
    ad = anndata.AnnData(X=sp_sparse.csc_matrix(counts))
    ad.var_names = [f"g{i}" for i in range(12)]
    ad.write_h5ad(tmp_path / "csc.h5ad")
    with h5py.File(tmp_path / "csc.h5ad", "r") as f:
        assert f["X"].attrs["encoding-type"] == "csc_matrix"
    for dataset in (
        AnnDatasetFromAnnData(ad),
        DownloadableAnnDataset("csc.h5ad", save_path=str(tmp_path)),
    ):
        assert sp_sparse.isspmatrix_csr(dataset.X)
        np.testing.assert_array_equal(dataset.X.toarray(), counts)
        np.testing.assert_array_equal(dataset.gene_names, ad.var_names)


def test_anndataset_use_raw(tmp_path):
    raw_counts = np.arange(40, dtype=np.float32).reshape(5, 8)
    full = anndata.AnnData(X=raw_counts)
    full.var_names = [f"raw{i}" for i in range(8)]
    full.raw = full
    ad = full[:, :3].copy()
    ad.X = ad.X / 2
    ad.write_h5ad(tmp_path / "raw.h5ad")
    for dataset in (
        AnnDatasetFromAnnData(ad, use_raw=True),
        DownloadableAnnDataset("raw.h5ad", save_path=str(tmp_path), use_raw=True),
    ):
        np.testing.assert_array_equal(dataset.X, raw_counts)
        np.testing.assert_array_equal(dataset.gene_names, full.var_names)
    with pytest.warns(UserWarning, match="non-integer"):
        without = AnnDatasetFromAnnData(ad)
    np.testing.assert_array_equal(without.X, raw_counts[:, :3] / 2)
    np.testing.assert_array_equal(without.gene_names, ["raw0", "raw1", "raw2"])


def test_anndataset_categorical_and_string_obs_columns(tmp_path):
    counts = np.random.default_rng(1).poisson(3.0, size=(6, 4)).astype(np.float32)
    obs = pd.DataFrame(
        {
            # categories order is kept: "T" is code 0 although "B" sorts first
            "cell_types": pd.Categorical(
                ["T", "B", "T", "NK", "B", "T"], categories=["T", "B", "NK", "DC"]
            ),
            "batch_indices": ["s2", "s1", "s1", "s2", "s2", "s1"],
            "donor": pd.Categorical(["a", "b", "a", "a", "b", "b"]),
            "quality": [0.5, 0.1, 0.3, 0.9, 1.0, 0.2],
        },
        index=[f"c{i}" for i in range(6)],
    )
    ad = anndata.AnnData(X=counts, obs=obs)
    ad.write_h5ad(tmp_path / "obs.h5ad")
    for dataset in (
        AnnDatasetFromAnnData(ad),
        DownloadableAnnDataset("obs.h5ad", save_path=str(tmp_path)),
    ):
        # unused category "DC" dropped by the remapping; order of the others kept
        np.testing.assert_array_equal(dataset.cell_types, ["T", "B", "NK"])
        np.testing.assert_array_equal(dataset.labels.ravel(), [0, 1, 0, 2, 1, 0])
        np.testing.assert_array_equal(dataset.batch_indices.ravel(), [1, 0, 0, 1, 1, 0])
        np.testing.assert_array_equal(dataset.donor, ["a", "b", "a", "a", "b", "b"])
        assert dataset.donor.dtype.kind == "U"
        np.testing.assert_allclose(dataset.quality, obs["quality"])
        assert "cell_types" not in dataset.cell_attribute_names

    # labels given as strings (no cell types column), batches as integers
    obs2 = pd.DataFrame(
        {"labels": ["b", "a", "b", "c", "a", "a"], "batch": [0, 0, 1, 1, 2, 2]},
        index=obs.index,
    )
    dataset = AnnDatasetFromAnnData(
        anndata.AnnData(X=counts, obs=obs2), batch_label="batch"
    )
    np.testing.assert_array_equal(dataset.cell_types, ["a", "b", "c"])
    np.testing.assert_array_equal(dataset.labels.ravel(), [1, 0, 1, 2, 0, 0])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), [0, 0, 1, 1, 2, 2])
    assert dataset.n_batches == 3

    # non-integer batches are refused with the column named
    obs3 = pd.DataFrame({"batch_indices": [0.5] * 6}, index=obs.index)
    with pytest.raises(ValueError, match=r"obs\['batch_indices'\]"):
        AnnDatasetFromAnnData(anndata.AnnData(X=counts, obs=obs3))


def test_downloadable_anndataset_corrupt_file(tmp_path):
    (tmp_path / "bad.h5ad").write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="could not read .*bad.h5ad as a .h5ad"):
        DownloadableAnnDataset("bad.h5ad", save_path=str(tmp_path))


# ------------------------------------------------------------ .csv / .tsv files
def test_csv_fixture_gzip_genes_by_cells(tmp_path):
    path = fixture(tmp_path, "GSE100866_CBMC_8K_13AB_10X-RNA_umi.csv.gz")
    cells, genes, values = read_table(path, ",", gzip.open)
    dataset = CsvDataset(path.name, save_path=str(tmp_path), compression="gzip")
    assert dataset.X.shape == (50, 10) == (len(cells), len(genes))
    assert dataset.X.dtype == np.float32
    np.testing.assert_array_equal(dataset.X, values.T)
    np.testing.assert_array_equal(dataset.gene_names, genes)
    assert genes[0] == "MOUSE_ACTB"
    # the compression is inferred from the extension by default
    inferred = CsvDataset(path.name, save_path=str(tmp_path))
    np.testing.assert_array_equal(inferred.X, values.T)
    # subset_genes by names (in the given order) or by positions
    by_name = CsvDataset(
        path.name, save_path=str(tmp_path), subset_genes=[genes[3], genes[1]]
    )
    np.testing.assert_array_equal(by_name.gene_names, [genes[3], genes[1]])
    np.testing.assert_array_equal(by_name.X, values[[3, 1]].T)
    by_position = CsvDataset(path.name, save_path=str(tmp_path), subset_genes=[0, 9])
    np.testing.assert_array_equal(by_position.gene_names, [genes[0], genes[9]])
    with pytest.raises(ValueError, match="NOT_A_GENE"):
        CsvDataset(path.name, save_path=str(tmp_path), subset_genes=["NOT_A_GENE"])


@pytest.mark.parametrize(
    "cls, filename, shape",
    [
        (BreastCancerDataset, "Layer2_BC_count_matrix-1.tsv", (8, 14789)),
        (MouseOBDataset, "Rep11_MOB_count_matrix-1.tsv", (20, 50)),
    ],
)
def test_spatial_tsv_fixtures_cells_by_genes(tmp_path, cls, filename, shape):
    path = fixture(tmp_path, filename)
    genes, _, values = read_table(path, "\t")
    dataset = cls(save_path=str(tmp_path))
    assert dataset.X.shape == shape == values.shape
    np.testing.assert_array_equal(dataset.X, values)
    np.testing.assert_array_equal(dataset.gene_names, genes)
    assert dataset.urls[0].endswith("/" + filename)
    assert dataset.n_batches == 1


def write_counts(path: Path, counts, genes, cells, gene_by_cell=True, sep=","):
    frame = pd.DataFrame(counts, index=cells, columns=genes)
    (frame.T if gene_by_cell else frame).to_csv(path, sep=sep)


def test_csv_cells_by_genes_labels_and_batch_files(tmp_path):
    rng = np.random.default_rng(2)
    counts = rng.poisson(2.0, size=(12, 5))
    counts[:, 0] += 1
    genes = [f"gene{i}" for i in range(5)]
    cells = [f"cell{i}" for i in range(12)]
    write_counts(tmp_path / "cells.csv", counts, genes, cells, gene_by_cell=False)
    types = np.array(["T", "B", "NK"])[rng.integers(0, 3, 12)]
    batches = rng.integers(0, 2, 12)
    order = rng.permutation(12)  # rows in another order than the matrix
    pd.DataFrame({"cell": np.array(cells)[order], "type": types[order]}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    pd.DataFrame({"cell": np.array(cells)[order], "batch": batches[order]}).to_csv(
        tmp_path / "batches.csv", index=False
    )
    dataset = CsvDataset(
        "cells.csv",
        save_path=str(tmp_path),
        gene_by_cell=False,
        labels_file="labels.csv",
        batch_ids_file="batches.csv",
    )
    np.testing.assert_array_equal(dataset.X, counts)
    np.testing.assert_array_equal(dataset.gene_names, genes)
    np.testing.assert_array_equal(dataset.cell_types[dataset.labels.ravel()], types)
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), batches)
    # integer labels are codes
    pd.DataFrame({"cell": cells, "label": batches * 2}).to_csv(
        tmp_path / "codes.csv", index=False
    )
    coded = CsvDataset(
        "cells.csv",
        save_path=str(tmp_path),
        gene_by_cell=False,
        labels_file="codes.csv",
    )
    np.testing.assert_array_equal(coded.labels.ravel(), batches)
    # a cell without label is an error naming the file
    pd.DataFrame({"cell": cells[:-1], "label": [0] * 11}).to_csv(
        tmp_path / "short.csv", index=False
    )
    with pytest.raises(ValueError, match="short.csv has no value for 1 cells"):
        CsvDataset(
            "cells.csv",
            save_path=str(tmp_path),
            gene_by_cell=False,
            labels_file="short.csv",
        )


@pytest.mark.parametrize("kind", ["gzip", "bz2", "zip"])
def test_csv_compressions(tmp_path, kind):
    counts = np.arange(24).reshape(6, 4) % 5
    write_counts(tmp_path / "plain.csv", counts, list("abcd"), list("uvwxyz"))
    text = (tmp_path / "plain.csv").read_bytes()
    name = {"gzip": "m.csv.gz", "bz2": "m.csv.bz2", "zip": "m.zip"}[kind]
    if kind == "gzip":
        (tmp_path / name).write_bytes(gzip.compress(text))
    elif kind == "bz2":
        (tmp_path / name).write_bytes(bz2.compress(text))
    else:
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            archive.writestr("m.csv", text)
    dataset = CsvDataset(name, save_path=str(tmp_path), compression=kind)
    np.testing.assert_array_equal(dataset.X, counts)
    np.testing.assert_array_equal(dataset.gene_names, list("abcd"))
    with pytest.raises(ValueError, match="compression='rar' is not supported"):
        CsvDataset(name, save_path=str(tmp_path), compression="rar")


def test_csv_ragged_rows_name_file_and_line(tmp_path):
    header = ",c1,c2,c3\n"
    (tmp_path / "long.csv").write_text(header + "g1,1,2,3\ng2,1,2,3,4\n")
    with pytest.raises(ValueError, match=r"long.csv: ragged rows, line 3 has 5"):
        CsvDataset("long.csv", save_path=str(tmp_path))
    (tmp_path / "short.csv").write_text(header + "g1,1,2,3\ng2,1,2,3\ng3,1,2\n")
    with pytest.raises(ValueError, match=r"short.csv: line 4 has 3 fields, 4 expected"):
        CsvDataset("short.csv", save_path=str(tmp_path))
    (tmp_path / "hole.csv").write_text(header + "g1,1,,3\n")
    with pytest.raises(ValueError, match=r"hole.csv: line 2 has an empty field"):
        CsvDataset("hole.csv", save_path=str(tmp_path))
    (tmp_path / "words.csv").write_text(header + "g1,1,two,3\n")
    with pytest.raises(ValueError, match=r"words.csv: non-numeric values"):
        CsvDataset("words.csv", save_path=str(tmp_path))
    (tmp_path / "ok.csv").write_text(header + "g1,1,2,3\nNA,0,0,1\n")
    np.testing.assert_array_equal(
        CsvDataset("ok.csv", save_path=str(tmp_path)).gene_names, ["g1", "NA"]
    )
    (tmp_path / "rlabels.csv").write_text("cell,label\nc1,0\nc2,1,7\nc3,0\n")
    with pytest.raises(ValueError, match=r"rlabels.csv: ragged rows, line 3"):
        CsvDataset("ok.csv", save_path=str(tmp_path), labels_file="rlabels.csv")


def test_csv_new_n_genes_and_missing_file(tmp_path):
    rng = np.random.default_rng(3)
    counts = rng.negative_binomial(2, 0.3, size=(80, 60)) * rng.integers(1, 4, 60)
    genes = [f"g{i}" for i in range(60)]
    write_counts(tmp_path / "big.csv", counts, genes, [f"c{i}" for i in range(80)])
    dataset = CsvDataset("big.csv", save_path=str(tmp_path), new_n_genes=20)
    assert dataset.nb_genes == 20
    kept = [genes.index(g) for g in dataset.gene_names]
    assert kept == sorted(kept)
    np.testing.assert_array_equal(dataset.X, counts[:, kept])
    with pytest.raises(FileNotFoundError, match="nothere.csv"):
        CsvDataset("nothere.csv", save_path=str(tmp_path))


# ------------------------------------------------------------------ .loom files
def read_loom_h5py(path: Path):
    with h5py.File(path, "r") as f:
        matrix = f["matrix"][:]
        cols = {k: v[()] for k, v in f["col_attrs"].items()}
        genes = f["row_attrs/Gene"][:].astype(str)
        cell_types = f.attrs.get("CellTypes")
    return matrix, cols, genes, cell_types


def test_retina_dataset(tmp_path):
    path = fixture(tmp_path, "retina.loom")
    matrix, cols, genes, _ = read_loom_h5py(path)
    dataset = RetinaDataset(save_path=str(tmp_path))
    assert dataset.X.shape == (25, 1316) and dataset.X.dtype == np.float32
    np.testing.assert_array_equal(dataset.X, matrix.T)
    np.testing.assert_array_equal(dataset.gene_names, genes)
    np.testing.assert_array_equal(
        dataset.batch_indices.ravel(), cols["BatchID"].ravel()
    )
    assert dataset.n_batches == 2
    np.testing.assert_array_equal(dataset.labels.ravel(), cols["ClusterID"].ravel())
    np.testing.assert_array_equal(dataset.cell_types, RETINA_TYPES)
    # delayed populating: the file is found, nothing is read until populate()
    delayed = RetinaDataset(save_path=str(tmp_path), delayed_populating=True)
    assert delayed.nb_cells == 0
    delayed.populate()
    np.testing.assert_array_equal(delayed.X, dataset.X)


def test_frontal_cortex_dropseq_dataset(tmp_path):
    path = fixture(tmp_path, "fc-dropseq.loom")
    matrix, cols, genes, cell_types = read_loom_h5py(path)
    names = cell_types.astype(str)[cols["Clusters"].ravel()]
    dataset = FrontalCortexDropseqDataset(save_path=str(tmp_path))
    np.testing.assert_array_equal(dataset.X, matrix.T)
    np.testing.assert_array_equal(dataset.gene_names, genes)
    np.testing.assert_array_equal(dataset.cell_types[dataset.labels.ravel()], names)
    assert dataset.n_labels == len(np.unique(names)) == 14
    np.testing.assert_array_equal(
        dataset.batch_indices.ravel(), cols["BatchID"].ravel()
    )
    # genes_to_keep: in the given order; unknown names skipped with a warning
    first, second = np.argsort(-matrix.sum(axis=1), kind="stable")[[1, 0]]
    with Records("scvi.dataset.loom") as records:
        kept = FrontalCortexDropseqDataset(
            save_path=str(tmp_path),
            genes_to_keep=[genes[first], "unknown", genes[second]],
        )
    assert any("unknown" in m for m in records.messages)
    np.testing.assert_array_equal(kept.gene_names, genes[[first, second]])
    expressing = matrix[[first, second]].sum(axis=0) > 0
    np.testing.assert_array_equal(kept.X, matrix[[first, second]].T[expressing])


def test_prefrontal_cortex_starmap_dataset(tmp_path):
    path = fixture(tmp_path, "mpfc-starmap.loom")
    matrix, cols, genes, cell_types = read_loom_h5py(path)
    dataset = PreFrontalCortexStarmapDataset(save_path=str(tmp_path))
    assert dataset.X.shape == (3704, 158)
    np.testing.assert_array_equal(dataset.X, matrix.T)
    np.testing.assert_array_equal(dataset.gene_names, genes)
    np.testing.assert_array_equal(dataset.cell_types, cell_types.astype(str))
    np.testing.assert_array_equal(
        dataset.cell_types[dataset.labels.ravel()], cols["Clusters"].astype(str)
    )
    np.testing.assert_array_equal(
        dataset.batch_indices.ravel(), cols["BatchID"].ravel()
    )
    assert dataset.n_batches == 3
    np.testing.assert_array_equal(dataset.x_coord, cols["Spatial_coordinates"][:, 0])
    np.testing.assert_array_equal(dataset.y_coord, cols["Spatial_coordinates"][:, 1])
    assert "Spatial_coordinates" not in dataset.cell_attribute_names


def test_loom_dataset_plain_files(tmp_path):
    path = fixture(tmp_path, "Cortex.loom")
    matrix, cols, genes, _ = read_loom_h5py(path)
    cortex = LoomDataset("Cortex.loom", save_path=str(tmp_path))
    np.testing.assert_array_equal(cortex.X, matrix.T)
    np.testing.assert_array_equal(cortex.gene_names, genes)
    assert cortex.n_batches == 1 and cortex.n_labels == 1  # no BatchID in the file

    fixture(tmp_path, "simulation/simulation_1.loom")
    matrix, cols, genes, cell_types = read_loom_h5py(tmp_path / "simulation_1.loom")
    with pytest.warns(UserWarning, match="non-integer"):
        simulation = LoomDataset("simulation_1.loom", save_path=str(tmp_path))
    np.testing.assert_array_equal(simulation.X, matrix.T.astype(np.float32))
    names = cell_types.astype(str)[cols["ClusterID"].ravel()]
    np.testing.assert_array_equal(
        simulation.cell_types[simulation.labels.ravel()], names
    )
    np.testing.assert_array_equal(
        simulation.batch_indices.ravel(), cols["BatchID"].ravel()
    )

    fixture(tmp_path, "osmFISH_SScortex_mouse_all_cell.loom")
    matrix, cols, genes, _ = read_loom_h5py(
        tmp_path / "osmFISH_SScortex_mouse_all_cell.loom"
    )
    osmfish = LoomDataset(
        "osmFISH_SScortex_mouse_all_cell.loom", save_path=str(tmp_path)
    )
    # other column attributes are cell attributes; "X" is renamed "X_cell"
    np.testing.assert_array_equal(osmfish.X_cell, cols["X"])
    np.testing.assert_array_equal(osmfish.Y, cols["Y"])
    np.testing.assert_array_equal(osmfish.ClusterName, cols["ClusterName"].astype(str))
    np.testing.assert_array_equal(
        osmfish.cell_types[osmfish.labels.ravel()], cols["ClusterID"].astype(str)
    )


def test_loom_without_labels_removes_empty_cells(tmp_path):
    matrix = np.array([[1, 0, 2, 0], [3, 0, 0, 1], [0, 0, 5, 1]])  # cell 1 empty
    loom_file(
        tmp_path / "bare.loom",
        matrix,
        col_attrs={"depth": np.array([1.0, 2.0, 3.0, 4.0])},
        row_attrs={"Gene": np.array([b"a", b"b", b"c"])},
    )
    with Records("scvi.dataset.loom") as records:
        dataset = LoomDataset("bare.loom", save_path=str(tmp_path))
    assert "Removing non-expressing cells" in records.messages
    np.testing.assert_array_equal(dataset.X, matrix.T[[0, 2, 3]])
    np.testing.assert_array_equal(dataset.gene_names, ["a", "b", "c"])
    np.testing.assert_array_equal(dataset.depth, [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(dataset.labels.ravel(), [0, 0, 0])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), [0, 0, 0])


def test_loom_missing_named_attribute_is_a_clear_error(tmp_path):
    loom_file(
        tmp_path / "m.loom",
        np.ones((2, 3)),
        col_attrs={"BatchID": np.zeros(3), "Cluster": np.zeros(3)},
        row_attrs={"Gene": np.array([b"a", b"b"])},
    )
    with pytest.raises(ValueError, match="no column attribute 'Clusters'.*Cluster"):
        LoomDataset("m.loom", save_path=str(tmp_path), labels_attribute_name="Clusters")
    with pytest.raises(ValueError, match="no row attribute 'Symbol'"):
        LoomDataset(
            "m.loom", save_path=str(tmp_path), gene_names_attribute_name="Symbol"
        )
    loom_file(
        tmp_path / "names.loom",
        np.ones((2, 3)),
        col_attrs={"ClusterID": np.array([b"x", b"y", b"q"])},
        attrs={"CellTypes": np.array([b"x", b"y"])},
    )
    with pytest.raises(ValueError, match=r"names not in the cell types.*'q'"):
        LoomDataset("names.loom", save_path=str(tmp_path))
    (tmp_path / "bad.loom").write_bytes(b"plain text")
    with pytest.raises(ValueError, match="could not read .*bad.loom"):
        LoomDataset("bad.loom", save_path=str(tmp_path))


# ------------------------------------------------------------------ round trips
def round_trip_cases(tmp_path):
    fixture(tmp_path, "retina.loom")
    fixture(tmp_path, "GSE100866_CBMC_8K_13AB_10X-RNA_umi.csv.gz")
    fixture(tmp_path, "osmFISH_SScortex_mouse_all_cell.loom")
    np.random.seed(0)
    synthetic = SyntheticDataset(batch_size=30, nb_genes=25, n_proteins=6)
    sparse = SyntheticDataset(batch_size=20, nb_genes=15, n_proteins=3, n_batches=3)
    sparse.X = sp_sparse.csr_matrix(sparse.X)
    return {
        "loom": RetinaDataset(save_path=str(tmp_path)),
        "loom_attributes": LoomDataset(
            "osmFISH_SScortex_mouse_all_cell.loom", save_path=str(tmp_path)
        ),
        "csv": CsvDataset(
            "GSE100866_CBMC_8K_13AB_10X-RNA_umi.csv.gz", save_path=str(tmp_path)
        ),
        "synthetic_protein": synthetic,
        "sparse_protein": sparse,
    }


def test_round_trips_through_anndata_are_exact(tmp_path):
    for name, original in round_trip_cases(tmp_path).items():
        ad = original.to_anndata()
        assert_same_dataset(AnnDatasetFromAnnData(ad), original)
        ad.write_h5ad(tmp_path / f"{name}.h5ad")
        from_file = DownloadableAnnDataset(f"{name}.h5ad", save_path=str(tmp_path))
        assert_same_dataset(from_file, original)
        # and once more: the copy converts to the same AnnData (write_h5ad made
        # the string columns of ``ad`` categorical in place: convert afresh)
        again, first = from_file.to_anndata(), original.to_anndata()
        np.testing.assert_array_equal(dense(again.X), dense(first.X))
        pd.testing.assert_frame_equal(again.obs, first.obs)
        pd.testing.assert_frame_equal(again.var, first.var)


def test_round_trip_with_duplicated_cell_type_names():
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        np.arange(1, 13).reshape(4, 3),
        labels=[0, 1, 2, 1],
        cell_types=["T", "B", "T"],
        remap_attributes=False,
    )
    copy = AnnDatasetFromAnnData(dataset.to_anndata())
    np.testing.assert_array_equal(copy.labels, dataset.labels)
    np.testing.assert_array_equal(copy.cell_types, ["T", "B", "T"])


def test_loom_accepts_scvi_068_keyword(tmp_path):
    # encode_labels_name_into_int is scVI 0.6.8's name of code_labels_name_into_int
    loom_file(
        tmp_path / "named.loom",
        np.arange(6.0).reshape(2, 3) + 1,
        col_attrs={"ClusterID": np.array([b"y", b"x", b"y"])},
        row_attrs={"Gene": np.array([b"a", b"b"])},
        attrs={"CellTypes": np.array([b"x", b"y"])},
    )
    path = str(tmp_path)
    ours = LoomDataset("named.loom", save_path=path, code_labels_name_into_int=True)
    theirs = LoomDataset("named.loom", save_path=path, encode_labels_name_into_int=True)
    np.testing.assert_array_equal(theirs.labels, ours.labels)
    np.testing.assert_array_equal(np.ravel(ours.labels), [1, 0, 1])
    with pytest.raises(ValueError, match="disagree"):
        LoomDataset(
            "named.loom",
            save_path=path,
            code_labels_name_into_int=True,
            encode_labels_name_into_int=False,
        )
