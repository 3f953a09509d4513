"""Every class of the manual's scvi.dataset table is exported with its signature."""

import inspect

import pytest

import scvi.dataset

REQUIRED = object()

# from chapter 6 of the scVI 0.6.3 manual: class -> (parameter, default) in order
DOCUMENTED = {
    "AnnDatasetFromAnnData": [
        ("ad", REQUIRED),
        ("batch_label", "batch_indices"),
        ("ctype_label", "cell_types"),
        ("class_label", "labels"),
        ("use_raw", False),
        ("cell_measurements_col_mappings", None),
    ],
    "DownloadableAnnDataset": [
        ("filename", "anndataset"),
        ("save_path", "data/"),
        ("url", None),
        ("delayed_populating", False),
        ("batch_label", "batch_indices"),
        ("ctype_label", "cell_types"),
        ("class_label", "labels"),
        ("use_raw", False),
    ],
    "BrainLargeDataset": [
        ("filename", None),
        ("save_path", "data"),
        ("sample_size_gene_var", 10000),
        ("max_cells_to_keep", None),
        ("nb_genes_to_keep", 720),
        ("loading_batch_size", 100000),
        ("delayed_populating", False),
    ],
    "CiteSeqDataset": [
        ("name", "cbmc"),
        ("save_path", "data/citeSeq"),
        ("delayed_populating", False),
    ],
    "CbmcDataset": [("save_path", "data/citeSeq/"), ("delayed_populating", False)],
    "CellMeasurement": [
        ("name", None),
        ("data", None),
        ("columns_attr_name", None),
        ("columns", None),
    ],
    "CortexDataset": [
        ("save_path", "data/"),
        ("genes_to_keep", None),
        ("total_genes", 558),
        ("delayed_populating", False),
    ],
    "CsvDataset": [
        ("filename", REQUIRED),
        ("save_path", "data"),
        ("url", None),
        ("new_n_genes", None),
        ("subset_genes", None),
        ("compression", None),
        ("sep", ","),
        ("gene_by_cell", True),
        ("labels_file", None),
        ("batch_ids_file", None),
        ("delayed_populating", False),
    ],
    "BreastCancerDataset": [("save_path", "data"), ("delayed_populating", False)],
    "MouseOBDataset": [("save_path", "data"), ("delayed_populating", False)],
    "GeneExpressionDataset": [],
    "DownloadableDataset": [
        ("urls", None),
        ("filenames", None),
        ("save_path", "data"),
        ("delayed_populating", False),
    ],
    "Dataset10X": [
        ("dataset_name", None),
        ("filename", None),
        ("save_path", "data/10X"),
        ("url", None),
        ("type", "filtered"),
        ("dense", False),
        ("measurement_names_column", 0),
        ("remove_extracted_data", False),
        ("delayed_populating", False),
    ],
    "BrainSmallDataset": [
        ("save_path", "data"),
        ("save_path_10X", None),
        ("delayed_populating", False),
        ("remove_extracted_data", False),
    ],
    "HematoDataset": [("save_path", "data/HEMATO"), ("delayed_populating", False)],
    "LoomDataset": [
        ("filename", REQUIRED),
        ("save_path", "data"),
        ("url", None),
        ("batch_indices_attribute_name", "BatchID"),
        ("labels_attribute_name", "ClusterID"),
        ("code_labels_name_into_int", False),
        ("gene_names_attribute_name", "Gene"),
        ("cell_types_attribute_name", "CellTypes"),
        ("delayed_populating", False),
    ],
    "RetinaDataset": [("save_path", "data"), ("delayed_populating", False)],
    "FrontalCortexDropseqDataset": [
        ("save_path", "data"),
        ("genes_to_keep", None),
        ("delayed_populating", False),
    ],
    "PreFrontalCortexStarmapDataset": [
        ("save_path", "data"),
        ("delayed_populating", False),
    ],
    "PbmcDataset": [
        ("save_path", "data"),
        ("save_path_10X", None),
        ("remove_extracted_data", False),
        ("delayed_populating", False),
    ],
    "PurifiedPBMCDataset": [
        ("save_path", "data"),
        ("subset_datasets", None),
        ("remove_extracted_data", False),
        ("delayed_populating", False),
    ],
    "SeqfishDataset": [("save_path", "data"), ("delayed_populating", False)],
    "SeqFishPlusDataset": [
        ("tissue_region", "subventricular cortex"),
        ("save_path", "data"),
        ("delayed_populating", False),
    ],
    "SmfishDataset": [
        ("save_path", "data"),
        ("use_high_level_cluster", True),
        ("delayed_populating", False),
    ],
    "SyntheticDataset": [
        ("batch_size", 200),
        ("nb_genes", 100),
        ("n_proteins", 100),
        ("n_batches", 2),
        ("n_labels", 3),
    ],
    "SyntheticRandomDataset": [
        ("mu", 4.0),
        ("theta", 2.0),
        ("dropout", 0.7),
        ("save_path", "data"),
    ],
    "SyntheticDatasetCorr": [
        ("n_cells_cluster", 200),
        ("n_clusters", 3),
        ("n_genes_high", 25),
        ("n_overlap", 0),
        ("weight_high", 0.04),
        ("weight_low", 0.01),
        ("lam_0", 50.0),
    ],
    "ZISyntheticDatasetCorr": [
        ("dropout_coef_high", 0.05),
        ("lam_dropout_high", 0.0),
        ("dropout_coef_low", 0.08),
        ("lam_dropout_low", 0.0),
        ("n_cells_cluster", 200),
        ("n_clusters", 3),
        ("n_genes_high", 25),
        ("n_overlap", 0),
        ("weight_high", 0.04),
        ("weight_low", 0.01),
        ("lam_0", 50.0),
    ],
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_signature(name):
    cls = getattr(scvi.dataset, name)
    parameters = list(inspect.signature(cls).parameters.values())
    found = [
        (p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
        for p in parameters
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    # the manual's parameters in its order; extensions (such as scVI 0.6.8's
    # spellings) come after them, keyword-only with defaults
    manual = DOCUMENTED[name]
    assert found[: len(manual)] == manual
    kinds = {p.name: p.kind for p in parameters}
    for extra, default in found[len(manual) :]:
        assert kinds[extra] is inspect.Parameter.KEYWORD_ONLY, extra
        assert default is not REQUIRED, extra


# the "Bases:" lines of the manual
BASES = {
    "AnnDatasetFromAnnData": "GeneExpressionDataset",
    "DownloadableAnnDataset": "DownloadableDataset",
    "BrainLargeDataset": "DownloadableDataset",
    "CiteSeqDataset": "DownloadableDataset",
    "CbmcDataset": "CiteSeqDataset",
    "CortexDataset": "DownloadableDataset",
    "CsvDataset": "DownloadableDataset",
    "BreastCancerDataset": "CsvDataset",
    "MouseOBDataset": "CsvDataset",
    "DownloadableDataset": "GeneExpressionDataset",
    "Dataset10X": "DownloadableDataset",
    "BrainSmallDataset": "Dataset10X",
    "HematoDataset": "DownloadableDataset",
    "LoomDataset": "DownloadableDataset",
    "RetinaDataset": "LoomDataset",
    "FrontalCortexDropseqDataset": "LoomDataset",
    "PreFrontalCortexStarmapDataset": "LoomDataset",
    "PbmcDataset": "DownloadableDataset",
    "PurifiedPBMCDataset": "DownloadableDataset",
    "SeqfishDataset": "DownloadableDataset",
    "SeqFishPlusDataset": "DownloadableDataset",
    "SmfishDataset": "DownloadableDataset",
    "SyntheticDataset": "GeneExpressionDataset",
    "SyntheticRandomDataset": "DownloadableDataset",
    "SyntheticDatasetCorr": "GeneExpressionDataset",
    "ZISyntheticDatasetCorr": "SyntheticDatasetCorr",
}


@pytest.mark.parametrize("name", sorted(BASES))
def test_documented_base_class(name):
    cls = getattr(scvi.dataset, name)
    assert getattr(scvi.dataset, BASES[name]) in cls.__bases__


def test_downloadable_dataset_is_abstract():
    assert inspect.isabstract(scvi.dataset.DownloadableDataset)
