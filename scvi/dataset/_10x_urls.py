"""Download addresses of the public 10x Genomics datasets known to Dataset10X.

Two families of archives exist on the 10x server:

* Cell Ranger 1.x/2.x outputs, ``<name>_<type>_gene_bc_matrices.tar.gz``, holding
  ``genes.tsv``, ``barcodes.tsv`` and ``matrix.mtx`` under a genome folder;
* Cell Ranger 3.x outputs, ``<name>_<type>_feature_bc_matrix.tar.gz``, holding
  gzipped ``features.tsv.gz``, ``barcodes.tsv.gz`` and ``matrix.mtx.gz``.

``<type>`` is ``filtered`` (cell-associated barcodes only) or ``raw``.
"""

from typing import Dict, Tuple

BASE_URL = "http://cf.10xgenomics.com/samples/cell-exp"

TYPES = ("filtered", "raw")

_GENE_BC = "gene_bc_matrices"
_FEATURE_BC = "feature_bc_matrix"

# dataset name -> (Cell Ranger version of the release, archive family)
DATASETS: Dict[str, Tuple[str, str]] = {
    "frozen_pbmc_donor_a": ("1.1.0", _GENE_BC),
    "frozen_pbmc_donor_b": ("1.1.0", _GENE_BC),
    "frozen_pbmc_donor_c": ("1.1.0", _GENE_BC),
    "fresh_68k_pbmc_donor_a": ("1.1.0", _GENE_BC),
    "cd14_monocytes": ("1.1.0", _GENE_BC),
    "b_cells": ("1.1.0", _GENE_BC),
    "cd34": ("1.1.0", _GENE_BC),
    "cd56_nk": ("1.1.0", _GENE_BC),
    "cd4_t_helper": ("1.1.0", _GENE_BC),
    "regulatory_t": ("1.1.0", _GENE_BC),
    "naive_t": ("1.1.0", _GENE_BC),
    "memory_t": ("1.1.0", _GENE_BC),
    "cytotoxic_t": ("1.1.0", _GENE_BC),
    "naive_cytotoxic": ("1.1.0", _GENE_BC),
    "pbmc8k": ("2.1.0", _GENE_BC),
    "pbmc4k": ("2.1.0", _GENE_BC),
    "t_3k": ("2.1.0", _GENE_BC),
    "t_4k": ("2.1.0", _GENE_BC),
    "neuron_9k": ("2.1.0", _GENE_BC),
    "pbmc_1k_protein_v3": ("3.0.0", _FEATURE_BC),
    "pbmc_10k_protein_v3": ("3.0.0", _FEATURE_BC),
    "malt_10k_protein_v3": ("3.0.0", _FEATURE_BC),
    "pbmc_1k_v2": ("3.0.0", _FEATURE_BC),
    "pbmc_1k_v3": ("3.0.0", _FEATURE_BC),
    "pbmc_10k_v3": ("3.0.0", _FEATURE_BC),
    "hgmm_1k_v2": ("3.0.0", _FEATURE_BC),
    "hgmm_1k_v3": ("3.0.0", _FEATURE_BC),
    "hgmm_5k_v3": ("3.0.0", _FEATURE_BC),
    "hgmm_10k_v3": ("3.0.0", _FEATURE_BC),
    "neuron_1k_v2": ("3.0.0", _FEATURE_BC),
    "neuron_1k_v3": ("3.0.0", _FEATURE_BC),
    "neuron_10k_v3": ("3.0.0", _FEATURE_BC),
    "heart_1k_v2": ("3.0.0", _FEATURE_BC),
    "heart_1k_v3": ("3.0.0", _FEATURE_BC),
    "heart_10k_v3": ("3.0.0", _FEATURE_BC),
}


def check_type(type: str) -> None:
    """Raise a ValueError unless ``type`` is ``"filtered"`` or ``"raw"``."""
    if type not in TYPES:
        raise ValueError(f"type must be one of {list(TYPES)}, got {type!r}")


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
    return f"{type}_{_family(dataset_name, type)}.tar.gz"


def dataset_url(dataset_name: str, type: str = "filtered") -> str:
    """Download address of the archive of a known 10x dataset.

    Parameters
    ----------
    dataset_name
        One of the keys of :data:`DATASETS`.
    type
        ``"filtered"`` or ``"raw"``.

    Returns
    -------
    str
        ``<BASE_URL>/<version>/<name>/<name>_<type>_<family>.tar.gz``.

    Raises
    ------
    ValueError
        For an unknown dataset name (the message lists the known ones) or type.
    """
    family = _family(dataset_name, type)
    version = DATASETS[dataset_name][0]
    return f"{BASE_URL}/{version}/{dataset_name}/{dataset_name}_{type}_{family}.tar.gz"


def _family(dataset_name: str, type: str) -> str:
    """Archive family of a known dataset, after checking ``type``."""
    check_type(type)
    if dataset_name not in DATASETS:
        raise ValueError(
            f"dataset_name {dataset_name!r} is not a known 10x dataset; valid names: "
            + ", ".join(DATASETS)
        )
    return DATASETS[dataset_name][1]
