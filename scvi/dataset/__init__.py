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
from .synthetic import SyntheticDataset

__all__ = [
    "CellMeasurement",
    "DownloadableDataset",
    "GeneExpressionDataset",
    "SyntheticDataset",
    "remap_categories",
]
