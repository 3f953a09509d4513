"""Datasets: count matrices with registered cell and gene annotations.

:class:`GeneExpressionDataset` is the base class; loaders of file formats and
built-in datasets derive from it.
"""

from .dataset import (
    CellMeasurement,
    DownloadableDataset,
    GeneExpressionDataset,
    remap_categories,
)
from .brain_large import BrainLargeDataset
from .dataset10X import BrainSmallDataset, Dataset10X
from .pbmc import PbmcDataset, PurifiedPBMCDataset, PurifiedPBMCDataSet
from .anndataset import AnnDatasetFromAnnData, DownloadableAnnDataset
from .csv import BreastCancerDataset, CsvDataset, MouseOBDataset
from .loom import (
    FrontalCortexDropseqDataset,
    LoomDataset,
    PreFrontalCortexStarmapDataset,
    RetinaDataset,
)
from .synthetic import SyntheticDataset

__all__ = [
    "BrainLargeDataset",
    "BrainSmallDataset",
    "Dataset10X",
    "PbmcDataset",
    "PurifiedPBMCDataset",
    "PurifiedPBMCDataSet",
    "AnnDatasetFromAnnData",
    "DownloadableAnnDataset",
    "CsvDataset",
    "BreastCancerDataset",
    "MouseOBDataset",
    "LoomDataset",
    "RetinaDataset",
    "FrontalCortexDropseqDataset",
    "PreFrontalCortexStarmapDataset",
    "CellMeasurement",
    "DownloadableDataset",
    "GeneExpressionDataset",
    "SyntheticDataset",
    "remap_categories",
]
