"""Data tables of scVI 0.6.8's cite_seq and dataset10X modules (issue 16).

The expected values were printed by scVI 0.6.8; the loaders build their files and
addresses from these same tables. No test touches the network.
"""

import pytest

import scvi.dataset.dataset as dataset_module
from scvi.dataset import cite_seq, dataset10X
from scvi.dataset.cite_seq import CiteSeqDataset, CiteSeqFilenames
from scvi.dataset.dataset10X import Dataset10X

EXPECTED_10X = {
    "1.1.0": [
        "frozen_pbmc_donor_a",
        "frozen_pbmc_donor_b",
        "frozen_pbmc_donor_c",
        "fresh_68k_pbmc_donor_a",
        "cd14_monocytes",
        "b_cells",
        "cd34",
        "cd56_nk",
        "cd4_t_helper",
        "regulatory_t",
        "naive_t",
        "memory_t",
        "cytotoxic_t",
        "naive_cytotoxic",
    ],
    "2.1.0": ["pbmc8k", "pbmc4k", "t_3k", "t_4k", "neuron_9k"],
    "3.0.0": [
        "pbmc_1k_protein_v3",
        "pbmc_10k_protein_v3",
        "malt_10k_protein_v3",
        "pbmc_1k_v2",
        "pbmc_1k_v3",
        "pbmc_10k_v3",
        "hgmm_1k_v2",
        "hgmm_1k_v3",
        "hgmm_5k_v3",
        "hgmm_10k_v3",
        "neuron_1k_v2",
        "neuron_1k_v3",
        "neuron_10k_v3",
        "heart_1k_v2",
        "heart_1k_v3",
        "heart_10k_v3",
    ],
    "3.1.0": ["5k_pbmc_protein_v3", "5k_pbmc_protein_v3_nextgem"],
}
CELL_EXP = "http://cf.10xgenomics.com/samples/cell-exp/"


@pytest.fixture
def downloads(monkeypatch):
    """Record the downloads instead of running them."""
    calls = []
    monkeypatch.setattr(
        dataset_module, "download_file", lambda url, path: calls.append((url, path))
    )
    return calls


def test_dataset10x_tables_are_those_of_scvi_068():
    assert dataset10X.available_datasets == EXPECTED_10X
    assert type(dataset10X.available_datasets) is dict
    assert all(type(v) is list for v in dataset10X.available_datasets.values())
    assert dataset10X.available_specification == ["filtered", "raw"]
    assert type(dataset10X.available_specification) is list
    assert dataset10X.dataset_to_group == {
        name: group for group, names in EXPECTED_10X.items() for name in names
    }
    # insertion order too: release by release, as scVI 0.6.8 lists them
    assert list(dataset10X.dataset_to_group) == [
        name for names in EXPECTED_10X.values() for name in names
    ]
    gene_bc = CELL_EXP + "{}/{}/{}_{}_gene_bc_matrices.tar.gz"
    feature_bc = CELL_EXP + "{}/{}/{}_{}_feature_bc_matrix.tar.gz"
    assert dataset10X.group_to_url_skeleton == {
        "1.1.0": gene_bc,
        "2.1.0": gene_bc,
        "3.0.0": feature_bc,
        "3.1.0": feature_bc,
    }
    assert dataset10X.group_to_filename_skeleton == {
        "1.1.0": "{}_gene_bc_matrices.tar.gz",
        "2.1.0": "{}_gene_bc_matrices.tar.gz",
        "3.0.0": "{}_feature_bc_matrix.tar.gz",
        "3.1.0": "{}_feature_bc_matrix.tar.gz",
    }


@pytest.mark.parametrize(
    "name, type, url_end, filename",
    [
        (
            "pbmc4k",
            "filtered",
            "2.1.0/pbmc4k/pbmc4k_filtered_gene_bc_matrices.tar.gz",
            "filtered_gene_bc_matrices.tar.gz",
        ),
        (
            "5k_pbmc_protein_v3_nextgem",
            "raw",
            "3.1.0/5k_pbmc_protein_v3_nextgem/"
            "5k_pbmc_protein_v3_nextgem_raw_feature_bc_matrix.tar.gz",
            "raw_feature_bc_matrix.tar.gz",
        ),
    ],
)
def test_dataset10x_downloads_from_the_tables(
    tmp_path, downloads, name, type, url_end, filename
):
    dataset = Dataset10X(
        name, save_path=str(tmp_path), type=type, delayed_populating=True
    )
    assert dataset.urls == [CELL_EXP + url_end]
    assert dataset.filenames == [filename]
    assert downloads == [(CELL_EXP + url_end, str(tmp_path / name / filename))]


def test_cite_seq_tables_are_those_of_scvi_068():
    assert cite_seq.available_datasets == {
        "cbmc": "CBMC_8K_13AB_10X",
        "pbmc": "PBMC_vs_flow_10X",
        "cd8": "CD8_merged",
    }
    assert issubclass(CiteSeqFilenames, tuple)
    assert CiteSeqFilenames._fields == ("rna", "adt", "adt_centered")
    names = CiteSeqFilenames("a", "b", "c")
    assert (names.rna, names.adt, names.adt_centered) == ("a", "b", "c")
    assert repr(names) == "CiteSeqFilenames(rna='a', adt='b', adt_centered='c')"
    assert CiteSeqFilenames.__doc__


def test_cite_seq_loader_uses_the_tables(tmp_path, downloads):
    dataset = CiteSeqDataset("pbmc", save_path=str(tmp_path), delayed_populating=True)
    # as in scVI 0.6.8: the files of a dataset are in save_path/<name>/
    assert dataset.filenames == CiteSeqFilenames(
        rna="pbmc_rna.csv.gz",
        adt="pbmc_adt.csv.gz",
        adt_centered="pbmc_adt_centered.csv.gz",
    )
    assert isinstance(dataset.filenames, CiteSeqFilenames)
    assert dataset.save_path == str(tmp_path / "pbmc")
    kinds = ("RNA_umi", "ADT_umi", "ADT_clr-transformed")
    assert [url.rsplit("=", 1)[-1] for url, _ in downloads] == [
        f"GSE100866_PBMC_vs_flow_10X-{kind}.csv.gz" for kind in kinds
    ]
    assert [path for _, path in downloads] == [
        str(tmp_path / "pbmc" / name) for name in dataset.filenames
    ]


def test_unknown_cite_seq_name_is_a_key_error_and_a_value_error(tmp_path):
    # scVI 0.6.8 raised KeyError('cd4'); ours is also a ValueError naming the names
    with pytest.raises(KeyError, match="cd4"):
        CiteSeqDataset("cd4", save_path=str(tmp_path))
    with pytest.raises(ValueError, match="cbmc"):
        CiteSeqDataset("cd4", save_path=str(tmp_path))
