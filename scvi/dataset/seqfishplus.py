"""The seqFISH+ mouse brain datasets (Eng et al., 2019)."""

import logging
import os

import numpy as np
import pandas as pd

from ._download import extract_archive
from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

_URL = "https://github.com/CaiGroup/seqFISH-PLUS/raw/master/sourcedata.zip"
_PREFIXES = {"subventricular cortex": "cortex_svz", "olfactory bulb": "ob"}


class SeqFishPlusDataset(DownloadableDataset):
    """seqFISH+ counts of 10,000 genes in cells of the mouse brain (Eng et al., 2019).

    seqFISH+ can image mRNAs for 10,000 genes in single cells, with high accuracy
    and sub-diffraction-limit resolution, in the cortex, subventricular zone and
    olfactory bulb of mouse brain. The archive ``seqfishplus.zip`` is extracted to
    ``save_path/seqfishplus/`` (once), and two of its CSV files are read:

    - ``sourcedata/<region>_counts.csv``: one row per cell (first column: its
      number), one column of counts per gene (header: gene names);
    - ``sourcedata/<region>_cellcentroids.csv``: one row per cell (first column:
      the same cell numbers), with ``Field of View``, ``Cell ID``, ``X``, ``Y``
      and, for the subventricular cortex, ``Region``.

    with ``<region>`` ``cortex_svz`` or ``ob``. The coordinates are the cell
    attributes ``x_coord`` and ``y_coord``, the field of view ``field_of_view``,
    the authors' cell number ``cell_id`` and, when present, the region
    (e.g. "Cortex", "SVZ") ``region``. All cells are in batch 0 with label 0.

    Parameters
    ----------
    tissue_region
        Region of the mouse brain, Either "subventricular cortex" or
        "olfactory bulb".
    save_path
        Location to use when saving/loading the SeqFish+ data.
    delayed_populating
        Switch for delayed populating mechanism.

    Raises
    ------
    ValueError
        If ``tissue_region`` is unknown, the archive is corrupt, or the two files
        do not describe the same number of cells.

    Examples
    --------
    >>> dataset = SeqFishPlusDataset(tissue_region="olfactory bulb")
    """

    def __init__(
        self,
        tissue_region: str = "subventricular cortex",
        save_path: str = "data",
        delayed_populating: bool = False,
    ):
        if tissue_region not in _PREFIXES:
            raise ValueError(
                f"tissue_region must be one of {list(_PREFIXES)}, got {tissue_region!r}"
            )
        self.tissue_region = tissue_region
        self.file_prefix = _PREFIXES[tissue_region]
        super().__init__(
            urls=[_URL],
            filenames=["seqfishplus.zip"],
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def _source(self, suffix: str) -> str:
        return os.path.join(
            self.save_path, "seqfishplus", "sourcedata", f"{self.file_prefix}_{suffix}"
        )

    def download(self) -> None:
        """Download the archive, unless its files for this region are extracted."""
        if all(
            os.path.exists(self._source(suffix))
            for suffix in ("counts.csv", "cellcentroids.csv")
        ):
            logger.info("seqFISH+ files already extracted in %s", self.save_path)
            return
        super().download()

    def populate(self) -> None:
        """Extract the archive if needed, read the counts and the centroids."""
        counts_path = self._source("counts.csv")
        centroids_path = self._source("cellcentroids.csv")
        if not (os.path.exists(counts_path) and os.path.exists(centroids_path)):
            archive = os.path.join(self.save_path, self.filenames[0])
            logger.info("Extracting %s", archive)
            extract_archive(archive, os.path.join(self.save_path, "seqfishplus"))
            for path in (counts_path, centroids_path):
                if not os.path.exists(path):
                    raise ValueError(f"{archive} does not hold {path}")
        logger.info("Loading seqFISH+ %s data", self.tissue_region)
        counts = pd.read_csv(counts_path, index_col=0)
        if not all(np.issubdtype(dtype, np.number) for dtype in counts.dtypes):
            raise ValueError(f"{counts_path} has non-numeric counts")
        centroids = pd.read_csv(centroids_path, index_col=0)
        absent = [c for c in ("X", "Y") if c not in centroids.columns]
        if absent:
            raise ValueError(
                f"{centroids_path} has no column {absent}; found {list(centroids)}"
            )
        if counts.isna().to_numpy().any():
            raise ValueError(f"{counts_path} has empty counts (ragged rows?)")
        if len(centroids) != len(counts) or set(centroids.index) != set(counts.index):
            raise ValueError(
                f"{counts_path} has {len(counts)} cells but {centroids_path} has "
                f"{len(centroids)}, or other cell numbers (first column)"
            )
        centroids = centroids.loc[counts.index]
        attributes = {
            "x_coord": centroids["X"].to_numpy(dtype=np.float64),
            "y_coord": centroids["Y"].to_numpy(dtype=np.float64),
        }
        for column, name in (
            ("Field of View", "field_of_view"),
            ("Cell ID", "cell_id"),
            ("Region", "region"),
        ):
            if column in centroids.columns:
                attributes[name] = centroids[column].to_numpy()
        if "region" in attributes:
            attributes["region"] = attributes["region"].astype(str)
        self.populate_from_data(
            counts.to_numpy(dtype=np.float32),
            gene_names=counts.columns.to_numpy(dtype=str),
            cell_attributes_dict=attributes,
        )
        logger.info("Finished preprocessing seqFISH+ data")
