"""Dataset10X, BrainSmallDataset, PbmcDataset, PurifiedPBMCDataset, BrainLargeDataset.

Fixtures are copied into tmp_path; every value is checked against an independent
read (tarfile + scipy.io.mmread + pandas, h5py). No test touches the network.
"""

import gzip
import io
import logging
import pickle
import shutil
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp_sparse

import scvi.dataset.brain_large as brain_large_module
import scvi.dataset.dataset as dataset_module
from scvi.dataset._10x_urls import archive_name, dataset_to_group, dataset_url
from scvi.dataset._legacy_pickle import read_legacy_pickle
from scvi.dataset.brain_large import BrainLargeDataset
from scvi.dataset.dataset10X import BrainSmallDataset, Dataset10X
from scvi.dataset.pbmc import (
    PbmcDataset,
    PurifiedPBMCDataset,
    PurifiedPBMCDataSet,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIXTURES = SHARED / "scvi-0.6-fixtures"

MANUAL_NAMES = (
    "frozen_pbmc_donor_a frozen_pbmc_donor_b frozen_pbmc_donor_c "
    "fresh_68k_pbmc_donor_a cd14_monocytes b_cells cd34 cd56_nk cd4_t_helper "
    "regulatory_t naive_t memory_t cytotoxic_t naive_cytotoxic pbmc8k pbmc4k t_3k "
    "t_4k neuron_9k pbmc_1k_protein_v3 pbmc_10k_protein_v3 malt_10k_protein_v3 "
    "pbmc_1k_v2 pbmc_1k_v3 pbmc_10k_v3 hgmm_1k_v2 hgmm_1k_v3 hgmm_5k_v3 hgmm_10k_v3 "
    "neuron_1k_v2 neuron_1k_v3 neuron_10k_v3 heart_1k_v2 heart_1k_v3 heart_10k_v3"
).split()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(url, path, *args, **kwargs):
        raise AssertionError(f"test tried to download {url}")

    monkeypatch.setattr(dataset_module, "download_file", refuse)


def copy_fixture(tmp_path, *names):
    for name in names:
        source = FIXTURES / name
        if not source.exists():
            pytest.skip(f"fixture {source} missing")
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    return tmp_path


def tar_member(archive, ending):
    """Bytes of the archive member ending with ``ending`` (AppleDouble skipped)."""
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if member.isfile() and member.name.endswith(ending) and base[:2] != "._":
                data = tf.extractfile(member).read()
                return gzip.decompress(data) if ending.endswith(".gz") else data
    raise KeyError(ending)


def expected_from(matrix_bytes, features_bytes, barcodes_bytes=None):
    X = sp_sparse.csr_matrix(scipy.io.mmread(io.BytesIO(matrix_bytes)).T).toarray()
    features = pd.read_csv(io.BytesIO(features_bytes), sep="\t", header=None)
    barcodes = None
    if barcodes_bytes is not None:
        barcodes = pd.read_csv(io.BytesIO(barcodes_bytes), header=None)[0].to_numpy()
    return X, features, barcodes


# ------------------------------------------------------------------ URL table
def test_every_manual_name_has_a_10x_url():
    # the manual's names, and the Cell Ranger 3.1.0 ones that scVI 0.6.8 added
    assert sorted(dataset_to_group) == sorted(
        MANUAL_NAMES + ["5k_pbmc_protein_v3", "5k_pbmc_protein_v3_nextgem"]
    )
    assert dataset_url("pbmc4k") == (
        "http://cf.10xgenomics.com/samples/cell-exp/2.1.0/pbmc4k/"
        "pbmc4k_filtered_gene_bc_matrices.tar.gz"
    )
    assert dataset_url("cd34", "raw").endswith(
        "1.1.0/cd34/cd34_raw_gene_bc_matrices.tar.gz"
    )
    assert dataset_url("pbmc_10k_protein_v3") == (
        "http://cf.10xgenomics.com/samples/cell-exp/3.0.0/pbmc_10k_protein_v3/"
        "pbmc_10k_protein_v3_filtered_feature_bc_matrix.tar.gz"
    )
    assert archive_name("heart_1k_v3", "raw") == "raw_feature_bc_matrix.tar.gz"
    for name in MANUAL_NAMES:
        assert dataset_url(name).endswith(
            f"/{name}/{name}_filtered_"
            + (
                "feature_bc_matrix.tar.gz"
                if dataset_to_group[name] == "3.0.0"
                else "gene_bc_matrices.tar.gz"
            )
        )


def test_unknown_dataset_name_and_type_are_refused(tmp_path):
    with pytest.raises(ValueError, match="valid names: .*pbmc4k.*neuron_9k"):
        Dataset10X("pbmc_5m", save_path=str(tmp_path))
    with pytest.raises(ValueError, match="type must be one of"):
        Dataset10X("pbmc4k", save_path=str(tmp_path), type="unfiltered")
    with pytest.raises(ValueError, match="measurement_names_column"):
        Dataset10X(save_path=str(tmp_path), measurement_names_column="symbols")


# ------------------------------------------------------------- 10x fixtures
class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_pbmc_10k_protein_v3_archive_with_proteins(tmp_path):
    copy_fixture(tmp_path, "10X/pbmc_10k_protein_v3")
    archive = tmp_path / "10X/pbmc_10k_protein_v3/filtered_feature_bc_matrix.tar.gz"
    X, features, barcodes = expected_from(
        tar_member(archive, "matrix.mtx.gz"),
        tar_member(archive, "features.tsv.gz"),
        tar_member(archive, "barcodes.tsv.gz"),
    )
    logger, handler = logging.getLogger("scvi.dataset.dataset10X"), ListHandler()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        dataset = Dataset10X(
            "pbmc_10k_protein_v3",
            save_path=str(tmp_path / "10X"),
            measurement_names_column=1,
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert "Extracting tar file" in handler.messages
    gene = (features[2] == "Gene Expression").to_numpy()
    assert gene.sum() == 100 and (~gene).sum() == 17
    assert sp_sparse.isspmatrix_csr(dataset.X) and dataset.X.dtype == np.float32
    np.testing.assert_array_equal(dataset.X.toarray(), X[:, gene])
    np.testing.assert_array_equal(dataset.protein_expression, X[:, ~gene])
    assert dataset.protein_expression.dtype == np.int64
    assert list(dataset.protein_names) == list(features[1][~gene])
    assert dataset.protein_names[0] == "CD3_TotalSeqB"
    assert list(dataset.gene_names) == list(features[1][gene])
    assert list(dataset.gene_ids) == list(features[0][gene])
    assert list(dataset.barcodes) == list(barcodes)
    assert dataset.cell_measurements_col_mappings == {
        "protein_expression": "protein_names"
    }
    assert dataset.n_batches == 1 and dataset.nb_cells == 1024
    folder, suffix = dataset.find_path_to_data()
    assert folder.endswith("filtered_feature_bc_matrix") and suffix == ".gz"

    # the manual's "Loading local 10x data": save_path holding the extracted folder
    local = Dataset10X(
        save_path=str(tmp_path / "10X/pbmc_10k_protein_v3/"),
        measurement_names_column=1,
    )
    np.testing.assert_array_equal(local.X.toarray(), dataset.X.toarray())
    np.testing.assert_array_equal(local.protein_expression, X[:, ~gene])


@pytest.mark.parametrize("name", ["pbmc4k", "pbmc8k", "b_cells"])
def test_cell_ranger_v2_archives(tmp_path, name):
    copy_fixture(tmp_path, f"10X/{name}")
    archive = tmp_path / f"10X/{name}/filtered_gene_bc_matrices.tar.gz"
    X, genes, _ = expected_from(
        tar_member(archive, "matrix.mtx"), tar_member(archive, "genes.tsv")
    )
    dataset = Dataset10X(name, save_path=str(tmp_path / "10X"))
    np.testing.assert_array_equal(dataset.X.toarray(), X)
    assert list(dataset.gene_names) == list(genes[0])
    assert list(dataset.gene_symbols) == list(genes[1])
    if name == "b_cells":  # this fixture has no barcodes.tsv
        assert "barcodes" not in dataset.cell_attribute_names
    else:
        barcodes = tar_member(archive, "barcodes.tsv").decode().split()
        assert list(dataset.barcodes) == barcodes
    assert (dataset.batch_indices == 0).all()


def test_neuron_9k_folder_is_used_then_archive_extracted_and_removed(tmp_path):
    copy_fixture(tmp_path, "10X/neuron_9k")
    root = tmp_path / "10X/neuron_9k"
    plain = root / "filtered_gene_bc_matrices/mm10"
    X, genes, barcodes = expected_from(
        (plain / "matrix.mtx").read_bytes(),
        (plain / "genes.tsv").read_bytes(),
        (plain / "barcodes.tsv").read_bytes(),
    )
    dataset = Dataset10X("neuron_9k", save_path=str(tmp_path / "10X"), dense=True)
    assert isinstance(dataset.X, np.ndarray)
    np.testing.assert_array_equal(dataset.X, X)
    assert list(dataset.barcodes) == list(barcodes)
    assert dataset.find_path_to_data() == (str(plain), "")

    shutil.rmtree(root / "filtered_gene_bc_matrices")
    again = Dataset10X(
        "neuron_9k", save_path=str(tmp_path / "10X"), remove_extracted_data=True
    )
    np.testing.assert_array_equal(again.X.toarray(), X)
    assert sorted(p.name for p in root.iterdir()) == [
        "filtered_gene_bc_matrices.tar.gz"
    ]


def test_plain_hg19_folder(tmp_path):
    copy_fixture(tmp_path, "filtered_gene_bc_matrices")
    folder = tmp_path / "filtered_gene_bc_matrices/hg19"
    X, genes, barcodes = expected_from(
        (folder / "matrix.mtx").read_bytes(),
        (folder / "genes.tsv").read_bytes(),
        (folder / "barcodes.tsv").read_bytes(),
    )
    for save_path in (tmp_path, tmp_path / "filtered_gene_bc_matrices", folder):
        dataset = Dataset10X(save_path=str(save_path), measurement_names_column=1)
        assert dataset.X.shape == (42, 14)
        np.testing.assert_array_equal(dataset.X.toarray(), X)
        assert list(dataset.gene_names) == list(genes[1])
        assert list(dataset.barcodes) == list(barcodes)


# ---------------------------------------------------------- own small files
def write_mex(folder, X, features, barcodes, gz):
    """Write a (cells x features) matrix as a Cell Ranger folder."""
    folder.mkdir(parents=True, exist_ok=True)
    ending = ".gz" if gz else ""
    table = "features.tsv" if features.shape[1] == 3 else "genes.tsv"
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, sp_sparse.coo_matrix(np.asarray(X).T))
    files = {
        "matrix.mtx": buffer.getvalue(),
        table: features.to_csv(sep="\t", header=False, index=False).encode(),
    }
    if barcodes is not None:
        files["barcodes.tsv"] = ("\n".join(barcodes) + "\n").encode()
    for name, content in files.items():
        (folder / (name + ending)).write_bytes(
            gzip.compress(content) if gz else content
        )


def small_v3():
    rng = np.random.default_rng(0)
    X = rng.poisson(1.5, size=(6, 5))
    features = pd.DataFrame(
        {
            0: ["G1", "G2", "G3", "ADT1", "G4"],
            1: ["a", "b", "c", "CD3", "d"],
            2: ["Gene Expression"] * 3 + ["Antibody Capture", "Gene Expression"],
        }
    )
    barcodes = [f"AAC{i}-{1 + i % 2}" for i in range(6)]
    return X, features, barcodes


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("in_tar", [False, True])
def test_own_v3_folder_plain_gzipped_and_archived(tmp_path, gz, in_tar):
    X, features, barcodes = small_v3()
    folder = tmp_path / "src" / "filtered_feature_bc_matrix"
    write_mex(folder, X, features, barcodes, gz)
    save_path = tmp_path / "src"
    if in_tar:
        save_path = tmp_path / "packed"
        save_path.mkdir()
        with tarfile.open(save_path / "mine.tar.gz", "w:gz") as tf:
            tf.add(folder, arcname="filtered_feature_bc_matrix")
    dataset = Dataset10X(save_path=str(save_path), dense=True)
    genes = [0, 1, 2, 4]
    np.testing.assert_array_equal(dataset.X, X[:, genes])
    np.testing.assert_array_equal(dataset.protein_expression, X[:, [3]])
    assert list(dataset.protein_names) == ["ADT1"]
    assert list(dataset.gene_names) == ["G1", "G2", "G3", "G4"]
    assert list(dataset.gene_symbols) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), [0, 1] * 3)
    assert dataset.n_batches == 2


def test_own_v2_with_raw_and_filtered_side_by_side(tmp_path):
    rng = np.random.default_rng(1)
    genes = pd.DataFrame({0: ["E1", "E2", "E3"], 1: ["s1", "s2", "s3"]})
    filtered = rng.poisson(2, size=(4, 3)) + 1
    raw = rng.poisson(2, size=(9, 3))
    base = tmp_path / "pbmc4k"
    write_mex(base / "filtered_gene_bc_matrices/hg19", filtered, genes, None, False)
    write_mex(base / "raw_gene_bc_matrices/hg19", raw, genes, None, True)
    # the folders are there: nothing is downloaded (the network is refused)
    got = Dataset10X("pbmc4k", save_path=str(tmp_path))
    np.testing.assert_array_equal(got.X.toarray(), filtered)
    got = Dataset10X("pbmc4k", save_path=str(tmp_path), type="raw")
    np.testing.assert_array_equal(got.X.toarray(), raw)
    local = Dataset10X(save_path=str(base), type="raw")  # local mode, typed folder
    np.testing.assert_array_equal(local.X.toarray(), raw)
    write_mex(base / "filtered_gene_bc_matrices/mm10", filtered, genes, None, False)
    with pytest.raises(ValueError, match="several 10x matrices found"):
        Dataset10X(save_path=str(base))


def test_local_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="looked for .*matrix.mtx.*features"):
        Dataset10X(save_path=str(tmp_path))
    X, features, barcodes = small_v3()
    write_mex(tmp_path / "a", X, features, barcodes[:-1], gz=False)
    with pytest.raises(ValueError, match="6 columns .barcodes. but .* lists 5"):
        Dataset10X(save_path=str(tmp_path / "a"))
    write_mex(tmp_path / "b", X, features, barcodes, gz=True)
    with pytest.raises(ValueError, match="measurement_names_column=3 .* 3 column"):
        Dataset10X(save_path=str(tmp_path / "b"), measurement_names_column=3)
    delayed = Dataset10X(save_path=str(tmp_path / "b"), delayed_populating=True)
    assert delayed.X is None
    delayed.populate()
    assert delayed.X.shape == (6, 4)


def test_corrupt_or_empty_archives_give_clear_errors(tmp_path):
    # the archive alone (an extracted copy beside it would be read instead)
    copy_fixture(tmp_path, "10X/pbmc4k/filtered_gene_bc_matrices.tar.gz")
    archive = tmp_path / "10X/pbmc4k/filtered_gene_bc_matrices.tar.gz"
    archive.write_bytes(archive.read_bytes()[:700])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        Dataset10X("pbmc4k", save_path=str(tmp_path / "10X"))
    archive.write_bytes(b"this is not an archive at all")
    with pytest.raises(ValueError, match="not a tar or zip"):
        Dataset10X("pbmc4k", save_path=str(tmp_path / "10X"))
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("notes/readme.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(ValueError, match="holds no Cell Ranger matrix"):
        Dataset10X("pbmc4k", save_path=str(tmp_path / "10X"))
    assert sorted(p.name for p in archive.parent.iterdir()) == [archive.name]


# ------------------------------------------------------ derived PBMC / brain
def test_brain_small_keeps_metadata_cells_with_clusters(tmp_path):
    copy_fixture(tmp_path, "brain_small_metadata.pickle", "10X/neuron_9k")
    metadata = read_legacy_pickle(str(tmp_path / "brain_small_metadata.pickle"))
    plain = tmp_path / "10X/neuron_9k/filtered_gene_bc_matrices/mm10"
    X, _, barcodes = expected_from(
        (plain / "matrix.mtx").read_bytes(),
        (plain / "genes.tsv").read_bytes(),
        (plain / "barcodes.tsv").read_bytes(),
    )
    dataset = BrainSmallDataset(save_path=str(tmp_path))
    wanted = metadata["clusters"].index.to_numpy()
    rows = [list(barcodes).index(b) for b in wanted]
    assert list(dataset.barcodes) == list(wanted)
    np.testing.assert_array_equal(dataset.X.toarray(), X[rows])
    clusters = metadata["clusters"]["Cluster"].to_numpy()
    assert list(dataset.cell_types[dataset.labels.ravel()]) == [
        str(c) for c in clusters
    ]
    np.testing.assert_allclose(dataset.raw_qc, metadata["raw_qc"].to_numpy(float))
    assert list(dataset.metadata_columns["raw_qc"]) == list(metadata["raw_qc"].columns)
    with pytest.raises(FileNotFoundError, match="brain_small_metadata.pickle"):
        BrainSmallDataset(save_path=str(tmp_path / "empty"))


def test_pbmc_dataset_matches_metadata_and_gene_info(tmp_path):
    copy_fixture(
        tmp_path,
        "pbmc_metadata.pickle",
        "gene_info_pbmc.csv",
        "10X/pbmc4k",
        "10X/pbmc8k",
    )
    metadata = read_legacy_pickle(str(tmp_path / "pbmc_metadata.pickle"))
    info = pd.read_csv(tmp_path / "gene_info_pbmc.csv")
    sources = {}
    for name in ("pbmc8k", "pbmc4k"):
        archive = tmp_path / f"10X/{name}/filtered_gene_bc_matrices.tar.gz"
        sources[name] = expected_from(
            tar_member(archive, "matrix.mtx"),
            tar_member(archive, "genes.tsv"),
            tar_member(archive, "barcodes.tsv"),
        )
    dataset = PbmcDataset(save_path=str(tmp_path), save_path_10X=str(tmp_path / "10X"))
    in_4k = metadata["design"]["batchpbmc4k"].to_numpy()
    assert dataset.nb_cells == 91 and dataset.nb_genes == 10
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), in_4k)
    assert list(dataset.barcodes) == list(metadata["barcodes"].index)
    assert list(dataset.gene_names) == list(info["ENSG"])
    assert list(dataset.gene_symbols) == list(info["GS"])
    names = metadata["list_clusters"][metadata["clusters"]]
    assert list(dataset.cell_types[dataset.labels.ravel()]) == list(names)
    np.testing.assert_allclose(dataset.qc_pc, metadata["qc_pc"])
    np.testing.assert_allclose(dataset.design, metadata["design"].to_numpy(float))
    for i, (barcode, batch) in enumerate(zip(dataset.barcodes, in_4k)):
        X, genes, barcodes = sources["pbmc4k" if batch else "pbmc8k"]
        row = list(barcodes).index(barcode)
        cols = [list(genes[0]).index(g) for g in info["ENSG"]]
        np.testing.assert_array_equal(dataset.X[i].toarray().ravel(), X[row, cols])

    # a metadata cell absent from the data is left out
    metadata["barcodes"] = pd.DataFrame(
        index=list(metadata["barcodes"].index[:-1]) + ["TTTTTTTTTTTTTTTT-1"]
    )
    with open(tmp_path / "pbmc_metadata.pickle", "wb") as handle:
        pickle.dump(metadata, handle)
    fewer = PbmcDataset(save_path=str(tmp_path))
    assert fewer.nb_cells == 90
    with pytest.raises(FileNotFoundError, match="gene_info_pbmc.csv"):
        PbmcDataset(save_path=str(tmp_path / "elsewhere"))


def test_purified_pbmc_one_cell_type_per_population(tmp_path):
    names = [
        "cd4_t_helper", "regulatory_t", "naive_t", "memory_t", "cytotoxic_t",
        "naive_cytotoxic", "b_cells", "cd34", "cd56_nk", "cd14_monocytes",
    ]  # fmt: skip
    copy_fixture(tmp_path, *[f"10X/{n}" for n in names])
    archive = tmp_path / "10X/cd34/filtered_gene_bc_matrices.tar.gz"
    X, _, _ = expected_from(
        tar_member(archive, "matrix.mtx"), tar_member(archive, "genes.tsv")
    )
    dataset = PurifiedPBMCDataset(save_path=str(tmp_path))
    assert list(dataset.cell_types) == names
    assert dataset.nb_cells == 50 * len(names)
    np.testing.assert_array_equal(
        dataset.labels.ravel(), np.repeat(np.arange(len(names)), 50)
    )
    np.testing.assert_array_equal(dataset.X.toarray(), np.tile(X, (len(names), 1)))
    subset = PurifiedPBMCDataSet(save_path=str(tmp_path), subset_datasets=[7, 8, 0])
    assert list(subset.cell_types) == ["cd4_t_helper", "cd34"]
    with pytest.raises(ValueError, match="subset_datasets entry 11"):
        PurifiedPBMCDataset(save_path=str(tmp_path), subset_datasets=[11])


# ---------------------------------------------------------------- brain large
def read_csc_whole(path):
    with h5py.File(path, "r") as handle:
        group = handle[[k for k in handle if "data" in handle[k]][0]]
        shape = tuple(group["shape"][()])
        M = sp_sparse.csc_matrix(
            (group["data"][()], group["indices"][()], group["indptr"][()]), shape=shape
        )
    return M.T.toarray()


def top_genes(cells_by_genes, n_sample, n_keep):
    """Most variable genes, ranked exactly (n^2 * variance in Python integers)."""
    sample = cells_by_genes[:n_sample].astype(object)
    score = n_sample * (sample * sample).sum(axis=0) - sample.sum(axis=0) ** 2
    return sorted(range(score.size), key=lambda g: (-score[g], g))[:n_keep]


def test_brain_large_fixture(tmp_path):
    copy_fixture(tmp_path, "brain_large.h5")
    dense = read_csc_whole(tmp_path / "brain_large.h5")
    assert dense.shape == (70, 4000)
    dataset = BrainLargeDataset(
        save_path=str(tmp_path), sample_size_gene_var=40, nb_genes_to_keep=100
    )
    genes = top_genes(dense, 40, 100)
    assert sp_sparse.isspmatrix_csr(dataset.X) and dataset.X.has_sorted_indices
    np.testing.assert_array_equal(dataset.X.toarray(), dense[:, genes])
    assert list(dataset.gene_names) == [str(g) for g in genes]
    few = BrainLargeDataset(save_path=str(tmp_path), max_cells_to_keep=20)
    assert few.X.shape == (20, 720)
    np.testing.assert_array_equal(
        few.X.toarray(), dense[:20, top_genes(dense, 20, 720)]
    )


def write_small_h5(path, rng, n_genes=60, n_cells=45, group="mm10"):
    dense = rng.poisson(rng.gamma(0.3, 2.0, n_genes), size=(n_cells, n_genes))
    dense[[0, 13, 14, n_cells - 1]] = 0  # empty cells, at the ends too
    M = sp_sparse.csc_matrix(dense.T)
    with h5py.File(path, "w") as handle:
        g = handle.create_group(group)
        g["data"], g["indices"] = M.data.astype(np.int32), M.indices.astype(np.int32)
        g["indptr"], g["shape"] = M.indptr.astype(np.int64), np.array(M.shape)
        names = np.array([f"gene{i}".encode() for i in range(n_genes)])
        if group == "matrix":
            g["features/name"] = names
        else:
            g["gene_names"] = names
    return dense


@pytest.mark.parametrize("group", ["mm10", "matrix"])
def test_brain_large_chunked_equals_whole(tmp_path, monkeypatch, group):
    dense = write_small_h5(
        tmp_path / "brain_large.h5", np.random.default_rng(2), group=group
    )
    kwargs = dict(save_path=str(tmp_path), sample_size_gene_var=30, nb_genes_to_keep=17)
    whole = BrainLargeDataset(loading_batch_size=10**6, **kwargs)
    monkeypatch.setattr(brain_large_module, "_MAX_NNZ_PER_READ", 11)
    chunked = BrainLargeDataset(loading_batch_size=4, **kwargs)
    for attribute in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(
            getattr(chunked.X, attribute), getattr(whole.X, attribute)
        )
    genes = top_genes(dense, 30, 17)
    np.testing.assert_array_equal(whole.X.toarray(), dense[:, genes])
    assert list(whole.gene_names) == [f"gene{g}" for g in genes]


def test_brain_large_errors(tmp_path):
    (tmp_path / "brain_large.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="could not open .*brain_large.h5"):
        BrainLargeDataset(save_path=str(tmp_path))
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(ValueError, match="no group with the datasets"):
        BrainLargeDataset(filename="other.h5", save_path=str(tmp_path))
    with pytest.raises(ValueError, match="loading_batch_size must be a positive"):
        BrainLargeDataset(save_path=str(tmp_path), loading_batch_size=0)


def test_purified_pbmc_reads_scvi_068_layout(tmp_path):
    # scVI 0.6.8 reads save_path/<population>/ (no 10X level): nothing downloaded
    copy_fixture(tmp_path, "10X/cd34", "10X/b_cells")
    names = ["b_cells", "cd34"]
    dataset = PurifiedPBMCDataset(
        save_path=str(tmp_path / "10X"), subset_datasets=names
    )
    assert list(dataset.cell_types) == names
    assert dataset.nb_cells == 100
