"""The PBMC datasets of the scVI paper, built from 10x Genomics datasets."""

import logging
import os
from typing import Dict, List, Optional, Union

import numpy as np
import pandas as pd

from ._legacy_pickle import read_legacy_pickle
from ._matrix import row_sums
from .dataset import DownloadableDataset, GeneExpressionDataset
from .dataset10X import Dataset10X

logger = logging.getLogger(__name__)

_PBMC_SOURCES = ("pbmc8k", "pbmc4k")  # batch 0 and batch 1, as in the metadata
_METADATA_KEYS = ("barcodes", "clusters", "list_clusters", "design")

PURIFIED_DATASETS = [
    "cd4_t_helper",
    "regulatory_t",
    "naive_t",
    "memory_t",
    "cytotoxic_t",
    "naive_cytotoxic",
    "b_cells",
    "cd4_t_helper",
    "cd34",
    "cd56_nk",
    "cd14_monocytes",
]


class _TenxSourcesMixin:
    """For a :class:`DownloadableDataset` merged from public 10x datasets.

    :meth:`download` fetches the files of the dataset (if any) and the 10x
    datasets ``source_names`` (as :class:`Dataset10X` objects saved under
    ``save_path_10X``, not populated); :meth:`_populated_sources` populates them.
    """

    def __init__(
        self,
        source_names: List[str],
        save_path: str,
        save_path_10X: str,
        remove_extracted_data: bool,
        delayed_populating: bool,
        filenames: Optional[List[str]] = None,
    ):
        self._source_names = list(source_names)
        self.save_path_10X = save_path_10X
        self.remove_extracted_data = remove_extracted_data
        self._sources = {}
        super().__init__(
            filenames=filenames,
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def download(self) -> None:
        """Check for the files of the dataset, then download the 10x datasets if
        needed."""
        super().download()
        self._sources = {
            name: Dataset10X(
                name,
                save_path=self.save_path_10X,
                measurement_names_column=0,
                remove_extracted_data=self.remove_extracted_data,
                delayed_populating=True,
            )
            for name in dict.fromkeys(self._source_names)
        }

    def _populated_sources(self) -> Dict[str, Dataset10X]:
        """The 10x datasets by name, populated (and downloaded first if needed).

        They are handed over: the dataset keeps no reference to them.
        """
        if not self._sources:
            self.download()
        for dataset in self._sources.values():
            dataset.populate()
        sources, self._sources = self._sources, {}
        return sources


class PbmcDataset(_TenxSourcesMixin, DownloadableDataset):
    """Loads pbmc dataset.

    We considered scRNA-seq data from two batches of peripheral blood mononuclear
    cells (PBMCs) from a healthy donor (4K PBMCs and 8K PBMCs). We derived quality
    control metrics using the cellrangerRkit R package (v. 1.1.0). Quality metrics
    were extracted from CellRanger throughout the molecule specific information file.
    After filtering, we extract 12,039 cells with 10,310 sampled genes and get
    biologically meaningful clusters with the software Seurat. We then filter genes
    that we could not match with the bulk data used for differential expression to
    be left with g = 3346.

    The 10x datasets ``pbmc8k`` (batch 0) and ``pbmc4k`` (batch 1) are read with
    :class:`Dataset10X` from ``save_path_10X`` and merged on their gene ids. The
    cells kept are those of ``pbmc_metadata.pickle``, in its order, matched on
    (batch, barcode), the batch of a metadata row being given by the
    ``batchpbmc4k`` column of its ``design`` table. The metadata gives the
    ``labels`` (``clusters``), the ``cell_types`` (``list_clusters``) and further
    cell attributes: ``design``, ``raw_qc``, ``qc_pc`` and ``normalized_qc``
    (2-D float arrays; their column names are in the ``metadata_columns`` dict). The
    genes kept are those of ``gene_info_pbmc.csv`` (column ``ENSG``), in its order:
    ``gene_names`` are the Ensembl ids and ``gene_symbols`` the ``GS`` column. Cells
    left without counts are removed.

    ``gene_info_pbmc.csv`` and ``pbmc_metadata.pickle`` are read only from
    ``save_path`` (they are never downloaded: put them there). The pickle, written
    with pandas 0.2x, is read with the compatibility layer of
    :mod:`scvi.dataset._legacy_pickle`.

    Parameters
    ----------
    save_path : str
        Location to use when saving/loading the Pbmc metadata.
    save_path_10X : str, optional
        Location to use when saving/loading the underlying 10X datasets;
        ``save_path/10X`` by default.
    remove_extracted_data : bool
        Whether to remove extracted archives after populating the dataset.
    delayed_populating : bool
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> gene_dataset = PbmcDataset()
    """

    def __init__(
        self,
        save_path: str = "data",
        save_path_10X: Optional[str] = None,
        remove_extracted_data: bool = False,
        delayed_populating: bool = False,
    ):
        super().__init__(
            _PBMC_SOURCES,
            save_path,
            save_path_10X or os.path.join(save_path, "10X"),
            remove_extracted_data,
            delayed_populating,
            filenames=["gene_info_pbmc.csv", "pbmc_metadata.pickle"],
        )

    def populate(self) -> None:
        """Merge pbmc8k and pbmc4k, keep the cells and genes of the metadata."""
        logger.info("Loading PBMC data")
        genes_info = _read_gene_info(os.path.join(self.save_path, self.filenames[0]))
        metadata_path = os.path.join(self.save_path, self.filenames[1])
        metadata = read_legacy_pickle(metadata_path)
        missing = [key for key in _METADATA_KEYS if key not in metadata]
        if missing:
            raise ValueError(f"{metadata_path} lacks the entries {missing}")
        sources = list(self._populated_sources().values())
        for name, dataset in zip(_PBMC_SOURCES, sources):
            if "barcodes" not in dataset.cell_attribute_names:
                raise ValueError(
                    f"{name} has no barcodes file: cannot match {metadata_path}"
                )
        merged = GeneExpressionDataset()
        merged.populate_from_datasets(sources)
        source = np.repeat(np.arange(len(sources)), [d.nb_cells for d in sources])
        del sources

        wanted_barcodes = _as_barcodes(metadata["barcodes"])
        wanted_source = _design_batches(metadata["design"], metadata_path)
        lookup = {}
        for row, key in enumerate(zip(source.tolist(), merged.barcodes.tolist())):
            lookup.setdefault(key, row)
        keys = list(zip(wanted_source.tolist(), wanted_barcodes.tolist()))
        kept = np.array([i for i, k in enumerate(keys) if k in lookup], dtype=int)
        _warn_missing(len(keys) - kept.size, len(keys), "cells", "pbmc8k/pbmc4k")
        if kept.size == 0:
            raise ValueError(f"no cell of {metadata_path} is in pbmc8k or pbmc4k")
        rows = np.array([lookup[keys[i]] for i in kept], dtype=np.int64)

        gene_lookup = {g: i for i, g in enumerate(merged.gene_names.tolist())}
        in_data = genes_info["ENSG"].isin(list(gene_lookup)).to_numpy()
        _warn_missing(int((~in_data).sum()), in_data.size, "genes", "pbmc8k/pbmc4k")
        genes_info = genes_info[in_data]
        if genes_info.empty:
            raise ValueError("no gene of gene_info_pbmc.csv is in pbmc8k/pbmc4k")
        columns = [gene_lookup[g] for g in genes_info["ENSG"]]

        extra, self.metadata_columns = _metadata_attributes(metadata, len(keys))
        attributes = {name: values[kept] for name, values in extra.items()}
        attributes["barcodes"] = merged.barcodes[rows]
        self.populate_from_data(
            X=merged.X[rows][:, columns],
            batch_indices=source[rows],
            labels=np.asarray(metadata["clusters"]).reshape(-1)[kept],
            cell_types=np.asarray(metadata["list_clusters"]).astype(str),
            gene_names=genes_info["ENSG"].to_numpy().astype(str),
            cell_attributes_dict=attributes,
            gene_attributes_dict={
                "gene_symbols": genes_info["GS"].to_numpy().astype(str)
            },
        )
        expressing = row_sums(self.X) > 0
        if not expressing.all():
            logger.info("Filtering non-expressing cells.")
            self.update_cells(expressing)
        logger.info("Finished preprocessing dataset")


def _purified_folder(save_path: str, names) -> str:
    """Where the populations' 10x folders are: ``save_path/<name>`` as in scVI
    0.6.8, or ``save_path/10X/<name>`` (an earlier layout of this library) when
    only that one holds some of them."""
    here = any(os.path.isdir(os.path.join(save_path, name)) for name in names)
    nested = os.path.join(save_path, "10X")
    if not here and any(os.path.isdir(os.path.join(nested, name)) for name in names):
        return nested
    return save_path


class PurifiedPBMCDataset(_TenxSourcesMixin, DownloadableDataset):
    """Purified PBMC dataset from: "Massively parallel digital transcriptional
    profiling of single cells".

    Each sorted population is a 10x dataset read with :class:`Dataset10X` from
    ``save_path/<name>/`` (as in scVI 0.6.8; ``save_path/10X/<name>/`` is read
    too when only that folder holds them); they are merged on their gene ids,
    each population giving one cell type (``labels`` code ``i`` for
    ``cell_types[i]``, the population names) and its own batch.
    ``cd4_t_helper`` appears twice in the list below (kept so that indices match);
    it is loaded once.

    Parameters
    ----------
    save_path : str
        Location to use when saving/loading the data (a folder per population).
    subset_datasets : list of int or numpy.ndarray, optional
        Index for subsetting the following list of datasets which are used to form
        the ``PurifiedPBMCDataset``: "cd4_t_helper", "regulatory_t", "naive_t",
        "memory_t", "cytotoxic_t", "naive_cytotoxic", "b_cells", "cd4_t_helper",
        "cd34", "cd56_nk", "cd14_monocytes". Names from this list are accepted too.
        All of them by default.
    remove_extracted_data : bool
        Whether to remove extracted archives after populating the dataset.
    delayed_populating : bool
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> gene_dataset = PurifiedPBMCDataset()
    """

    def __init__(
        self,
        save_path: str = "data",
        subset_datasets: Union[List[int], np.ndarray, None] = None,
        remove_extracted_data: bool = False,
        delayed_populating: bool = False,
    ):
        self.dataset_names = _select_purified(subset_datasets)
        super().__init__(
            self.dataset_names,
            save_path,
            _purified_folder(save_path, self.dataset_names),
            remove_extracted_data,
            delayed_populating,
        )

    def populate(self) -> None:
        """Read each population and merge them, one cell type per population."""
        logger.info("Loading purified PBMC data")
        datasets = []
        for name, dataset in self._populated_sources().items():
            dataset.cell_types = np.array([name])
            datasets.append(dataset)
        self.populate_from_datasets(datasets)
        logger.info("Finished preprocessing dataset")


# the spelling of the manual's class table
PurifiedPBMCDataSet = PurifiedPBMCDataset


def _select_purified(subset_datasets) -> List[str]:
    """Names of the selected purified populations, without repetition."""
    if subset_datasets is None:
        return list(dict.fromkeys(PURIFIED_DATASETS))
    selection = np.asarray(subset_datasets).reshape(-1)
    names = []
    for item in selection.tolist():
        if isinstance(item, str) and item in PURIFIED_DATASETS:
            names.append(item)
        elif isinstance(item, int) and -len(PURIFIED_DATASETS) <= item < len(
            PURIFIED_DATASETS
        ):
            names.append(PURIFIED_DATASETS[item])
        else:
            raise ValueError(
                f"subset_datasets entry {item!r} is neither an index in "
                f"[0, {len(PURIFIED_DATASETS)}) nor a name of {PURIFIED_DATASETS}"
            )
    if not names:
        raise ValueError("subset_datasets selects no dataset")
    return list(dict.fromkeys(names))


def _read_gene_info(path: str) -> pd.DataFrame:
    """Read gene_info_pbmc.csv; it must have the columns ENSG and GS."""
    try:
        table = pd.read_csv(path, index_col=0, dtype={"ENSG": str, "GS": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise ValueError(f"could not read {path}: {error}") from error
    missing = [c for c in ("ENSG", "GS") if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}")
    return table


def _as_barcodes(values) -> np.ndarray:
    """Barcodes of the metadata: a table indexed by them, a series or an array."""
    if isinstance(values, pd.DataFrame):
        return values.index.to_numpy().astype(str)
    return np.asarray(values).reshape(-1).astype(str)


def _design_batches(design, path: str) -> np.ndarray:
    """Source of each metadata cell: 0 for pbmc8k, 1 for pbmc4k."""
    if not isinstance(design, pd.DataFrame) or "batchpbmc4k" not in design.columns:
        raise ValueError(
            f"the design table of {path} has no batchpbmc4k column: cannot tell the "
            "pbmc4k cells from the pbmc8k ones"
        )
    return design["batchpbmc4k"].to_numpy().astype(np.int64)


def _metadata_attributes(metadata: dict, n_cells: int):
    """Per-cell tables of the metadata (all but barcodes/clusters) as 2-D arrays."""
    attributes, columns = {}, {}
    for name, value in metadata.items():
        if name in ("barcodes", "clusters", "list_clusters"):
            continue
        array = value.to_numpy() if isinstance(value, pd.DataFrame) else value
        array = np.asarray(array)
        if array.ndim == 0 or array.shape[0] != n_cells:
            logger.info("Ignoring metadata entry %s (not one row per cell)", name)
            continue
        if np.issubdtype(array.dtype, np.number):
            array = array.astype(np.float64)
        attributes[name] = array.reshape(n_cells, -1)
        if isinstance(value, pd.DataFrame):
            columns[name] = value.columns.to_numpy().astype(str)
    return attributes, columns


def _warn_missing(n_missing: int, n_total: int, what: str, where: str) -> None:
    if n_missing:
        logger.warning(
            "%i of the %i %s of the metadata are not in %s: left out",
            n_missing,
            n_total,
            what,
            where,
        )
