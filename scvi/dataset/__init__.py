"""Datasets: count matrices with registered cell and gene annotations.

:class:`GeneExpressionDataset` is the base class; :class:`DownloadableDataset` adds
files fetched to ``save_path``. Loaders of generic formats (h5ad, csv, loom, 10x) and
the built-in datasets of the scVI publications derive from them.
"""

from .anndataset import AnnDatasetFromAnnData, DownloadableAnnDataset
from .backed import BackedAnnDataset, BackedLoomDataset
from .brain_large import BrainLargeDataset
from .cite_seq import CbmcDataset, CiteSeqDataset
from .cortex import CortexDataset
from .csv import BreastCancerDataset, CsvDataset, MouseOBDataset
from .dataset import (
    CellMeasurement,
    DownloadableDataset,
    GeneExpressionDataset,
    remap_categories,
)
from .dataset10X import BrainSmallDataset, Dataset10X
from .hemato import HematoDataset
from .loom import (
    FrontalCortexDropseqDataset,
    LoomDataset,
    PreFrontalCortexStarmapDataset,
    RetinaDataset,
)
from .pbmc import PbmcDataset, PurifiedPBMCDataset, PurifiedPBMCDataSet
from .seqfish import SeqfishDataset
from .seqfishplus import SeqFishPlusDataset
from .smfish import SmfishDataset
from .synthetic import (
    SyntheticDataset,
    SyntheticDatasetCorr,
    SyntheticRandomDataset,
    ZISyntheticDatasetCorr,
)

__all__ = [
    "AnnDatasetFromAnnData",
    "BackedAnnDataset",
    "BackedLoomDataset",
    "BrainLargeDataset",
    "BrainSmallDataset",
    "BreastCancerDataset",
    "CbmcDataset",
    "CellMeasurement",
    "CiteSeqDataset",
    "CortexDataset",
    "CsvDataset",
    "Dataset10X",
    "DownloadableAnnDataset",
    "DownloadableDataset",
    "FrontalCortexDropseqDataset",
    "GeneExpressionDataset",
    "HematoDataset",
    "LoomDataset",
    "MouseOBDataset",
    "PbmcDataset",
    "PreFrontalCortexStarmapDataset",
    "PurifiedPBMCDataSet",
    "PurifiedPBMCDataset",
    "RetinaDataset",
    "SeqFishPlusDataset",
    "SeqfishDataset",
    "SmfishDataset",
    "SyntheticDataset",
    "SyntheticDatasetCorr",
    "SyntheticRandomDataset",
    "ZISyntheticDatasetCorr",
    "remap_categories",
]
