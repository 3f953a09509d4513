"""CITE-seq datasets of Stoeckius et al. (2017): RNA and protein (ADT) counts."""

import logging
import os
from collections import namedtuple

import numpy as np
import pandas as pd

from ._checks import UnknownNameError
from ._registry import CellMeasurement
from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

_GEO = "https://www.ncbi.nlm.nih.gov/geo/download/?acc=GSE100866&format=file&file="

#: Dataset name -> name of its files in GEO series GSE100866 (as in scVI 0.6.8).
available_datasets = {
    "cbmc": "CBMC_8K_13AB_10X",
    "pbmc": "PBMC_vs_flow_10X",
    "cd8": "CD8_merged",
}

CiteSeqFilenames = namedtuple("CiteSeqFilenames", ["rna", "adt", "adt_centered"])
CiteSeqFilenames.__doc__ = """Names of the three files of a CITE-seq dataset.

Each field holds the name of a file in ``save_path``: ``rna`` the RNA counts,
``adt`` the protein (ADT) counts, ``adt_centered`` their centered log ratio
transform. Its order is that of the downloads (scVI 0.6.8's fields).
"""

# file kind of each field in GEO
_GEO_KINDS = CiteSeqFilenames(
    rna="RNA_umi", adt="ADT_umi", adt_centered="ADT_clr-transformed"
)


class CiteSeqDataset(DownloadableDataset):
    """Allows to form 3 different CiteSeq datasets.

    RNA and antibody-derived tag (ADT, i.e. protein) counts of the same cells
    (GEO GSE100866). Three gzipped CSV files are read from
    ``save_path/<name>/``, each with one row per feature and one column per cell
    barcode (the first column holds the feature names):

    - ``<name>_rna.csv.gz``: RNA counts, giving ``X`` and ``gene_names`` (kept as
      written, e.g. with the ``HUMAN_``/``MOUSE_`` species prefixes of "cbmc");
    - ``<name>_adt.csv.gz``: protein counts, giving the cell measurement
      ``protein_expression`` with columns ``protein_names``;
    - ``<name>_adt_centered.csv.gz``: the authors' centered log ratio transform of
      the ADT counts, as the cell attribute ``protein_expression_clr`` (same
      columns). Note that their transformation differs from the standard clr:
      they add pseudocounts for zero values without saying how.

    Cells are those of the RNA file, in its order; the ADT files are matched to them
    by barcode. All cells are in batch 0 with label 0.

    Parameters
    ----------
    name
        Name of the CiteSeq dataset to load. Either "cbmc", "pbmc" or "cd8".
    save_path
        Location to use when saving/loading the data.
    delayed_populating
        Switch for delayed populating mechanism.

    Attributes
    ----------
    filenames : CiteSeqFilenames
        Names of the three files in ``save_path`` (which is ``save_path/<name>``).

    Raises
    ------
    KeyError
        If ``name`` is not a key of ``available_datasets`` (the error is also a
        :class:`ValueError`).
    ValueError
        If an ADT file lacks some cells of the RNA file or holds non-numeric values.

    Examples
    --------
    >>> dataset = CiteSeqDataset(name="pbmc", save_path="data/citeSeq")
    >>> dataset.protein_expression.shape  # doctest: +SKIP
    """

    def __init__(
        self,
        name: str = "cbmc",
        save_path: str = "data/citeSeq",
        delayed_populating: bool = False,
    ):
        if name not in available_datasets:
            raise UnknownNameError(
                f"name must be one of {sorted(available_datasets)}, got {name!r}"
            )
        self.name = name
        prefix = "GSE100866_" + available_datasets[name]
        filenames = CiteSeqFilenames(
            *(f"{name}_{kind}.csv.gz" for kind in CiteSeqFilenames._fields)
        )
        super().__init__(
            urls=[f"{_GEO}{prefix}-{geo}.csv.gz" for geo in _GEO_KINDS],
            filenames=filenames,
            save_path=os.path.join(save_path, name),
            delayed_populating=delayed_populating,
        )
        self.filenames = filenames

    def populate(self) -> None:
        """Read the RNA and ADT files and populate the dataset."""
        logger.info("Loading CiteSeq %s data", self.name)
        rna_path, adt_path, clr_path = (
            os.path.join(self.save_path, f) for f in self.filenames
        )
        rna = _read_features(rna_path)
        barcodes = rna.columns
        adt = _aligned(_read_features(adt_path), barcodes, adt_path)
        clr = _aligned(_read_features(clr_path), barcodes, clr_path)
        clr = clr.reindex(adt.index)
        if clr.isna().to_numpy().any():
            raise ValueError(f"{clr_path} lacks some proteins of {adt_path}")
        gene_names = rna.index.to_numpy(dtype=str)
        X = np.ascontiguousarray(rna.to_numpy(dtype=np.float32).T)
        del rna  # the (genes x cells) table is no longer needed
        logger.info("Finished preprocessing CiteSeq data")
        self.populate_from_data(
            X,
            Ys=[
                CellMeasurement(
                    name="protein_expression",
                    data=adt.to_numpy(dtype=np.float32).T.copy(),
                    columns_attr_name="protein_names",
                    columns=adt.index.to_numpy(dtype=str),
                )
            ],
            gene_names=gene_names,
            cell_attributes_dict={
                "protein_expression_clr": clr.to_numpy(dtype=np.float32).T.copy()
            },
        )


def _read_features(path: str) -> pd.DataFrame:
    """A features x cells table of float32 values."""
    try:
        barcodes = pd.read_csv(path, index_col=0, nrows=0).columns
        table = pd.read_csv(
            path, index_col=0, dtype={barcode: np.float32 for barcode in barcodes}
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"could not read {path}: {error}") from error
    except ValueError as error:
        raise ValueError(f"{path} has non-numeric values: {error}") from error
    table.index = table.index.astype(str)
    table.columns = table.columns.astype(str)
    if table.isna().to_numpy().any():
        raise ValueError(f"{path} has empty or non-numeric values (ragged rows?)")
    return table


def _aligned(table: pd.DataFrame, barcodes: pd.Index, path: str) -> pd.DataFrame:
    """The columns of ``table`` in the order of ``barcodes``."""
    missing = barcodes.difference(table.columns)
    if len(missing):
        raise ValueError(
            f"{path} lacks {len(missing)} cells of the RNA file, e.g. "
            f"{list(missing[:5])}"
        )
    return table[barcodes]


class CbmcDataset(CiteSeqDataset):
    """Loads cbmc dataset.

    This dataset includes 8,617 cord blood mononuclear cells profiled using 10x
    along with, for each cell, 13 well-characterized mononuclear antibodies. We
    kept the top 600 genes by variance (see :class:`CiteSeqDataset` for the files
    and attributes).

    Parameters
    ----------
    save_path
        Save path of raw data file.
    delayed_populating
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> gene_dataset = CbmcDataset()
    """

    def __init__(self, save_path: str = "data/citeSeq/", delayed_populating=False):
        super().__init__(
            name="cbmc", save_path=save_path, delayed_populating=delayed_populating
        )

    def populate(self) -> None:
        """Read the cbmc files, then keep the 600 genes of largest variance."""
        super().populate()
        self.subsample_genes(new_n_genes=600, mode="variance")
