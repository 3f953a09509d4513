"""Download addresses of the public 10x Genomics datasets known to Dataset10X.

The tables have the names and values of scVI 0.6.8's ``scvi.dataset.dataset10X``
(which re-exports them): :data:`available_datasets` lists the datasets of each Cell
Ranger release ("group"), and the skeletons of a group give the archive's address
and the name it is saved under.

Two families of archives exist on the 10x server:

* Cell Ranger 1.x/2.x outputs, ``<name>_<type>_gene_bc_matrices.tar.gz``, holding
  ``genes.tsv``, ``barcodes.tsv`` and ``matrix.mtx`` under a genome folder;
* Cell Ranger 3.x outputs, ``<name>_<type>_feature_bc_matrix.tar.gz``, holding
  gzipped ``features.tsv.gz``, ``barcodes.tsv.gz`` and ``matrix.mtx.gz``.

``<type>`` is one of :data:`available_specification`: ``filtered`` (cell-associated
barcodes only) or ``raw``.
"""

from typing import Dict, List

BASE_URL = "http://cf.10xgenomics.com/samples/cell-exp"

#: Types of matrices available for each dataset.
available_specification: List[str] = ["filtered", "raw"]

#: Cell Ranger release (group) -> names of the datasets released with it.
available_datasets: Dict[str, List[str]] = {
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

# archive family of each group (Cell Ranger 3 renamed the matrices)
_FAMILY = {
    "1.1.0": "gene_bc_matrices",
    "2.1.0": "gene_bc_matrices",
    "3.0.0": "feature_bc_matrix",
    "3.1.0": "feature_bc_matrix",
}

#: Dataset name -> its group (derived from :data:`available_datasets`).
dataset_to_group: Dict[str, str] = {
    name: group for group, names in available_datasets.items() for name in names
}

#: Group -> address skeleton, formatted with (group, name, name, type).
group_to_url_skeleton: Dict[str, str] = {
    group: BASE_URL + "/{}/{}/{}_{}_" + family + ".tar.gz"
    for group, family in _FAMILY.items()
}

#: Group -> archive name skeleton, formatted with the type.
group_to_filename_skeleton: Dict[str, str] = {
    group: "{}_" + family + ".tar.gz" for group, family in _FAMILY.items()
}


def check_type(type: str) -> None:
    """Raise a ValueError unless ``type`` is ``"filtered"`` or ``"raw"``.

    Parameters
    ----------
    type
        The type of matrix asked for.

    Raises
    ------
    ValueError
        If ``type`` is not in :data:`available_specification`.
    """
    if type not in available_specification:
        raise ValueError(f"type must be one of {available_specification}, got {type!r}")


def archive_name(dataset_name: str, type: str = "filtered") -> str:
    """Name under which the archive of a known dataset is saved.

    Parameters
    ----------
    dataset_name, type
        As in :func:`dataset_url`.

    Returns
    -------
    str
        E.g. ``"filtered_gene_bc_matrices.tar.gz"`` or
        ``"raw_feature_bc_matrix.tar.gz"``.
    """
    return group_to_filename_skeleton[_group(dataset_name, type)].format(type)


def dataset_url(dataset_name: str, type: str = "filtered") -> str:
    """Download address of the archive of a known 10x dataset.

    Parameters
    ----------
    dataset_name
        One of the keys of :data:`dataset_to_group`.
    type
        ``"filtered"`` or ``"raw"``.

    Returns
    -------
    str
        ``<BASE_URL>/<group>/<name>/<name>_<type>_<family>.tar.gz``.

    Raises
    ------
    ValueError
        For an unknown dataset name (the message lists the known ones) or type.
    """
    group = _group(dataset_name, type)
    return group_to_url_skeleton[group].format(group, dataset_name, dataset_name, type)


def _group(dataset_name: str, type: str) -> str:
    """Group of a known dataset, after checking ``type``."""
    check_type(type)
    if dataset_name not in dataset_to_group:
        raise ValueError(
            f"dataset_name {dataset_name!r} is not a known 10x dataset; valid names: "
            + ", ".join(dataset_to_group)
        )
    return dataset_to_group[dataset_name]
