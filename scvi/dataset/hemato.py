"""The hematopoietic progenitors dataset of Tusi et al. (2018)."""

import logging
import os
import shutil

import numpy as np
import pandas as pd

from ._download import download_file, extract_archive
from ._registry import CellMeasurement
from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

_ARCHIVE = "data.zip"
_ARCHIVE_URL = (
    "https://github.com/romain-lopez/scVI-reproducibility/raw/master/additional/"
    "data.zip"
)
_COUNTS = "bBM.raw_umifm_counts.csv.gz"
_GENES = "bBM.filtered_gene_list.paper.txt"
_SPRING = "bBM.spring_and_pba.csv"
_EXCLUDED_LIBRARY = "basal_bm1"


class HematoDataset(DownloadableDataset):
    """Loads the hemato dataset.

    This dataset contains continuous gene expression variations from hematopoietic
    progenitor cells (Tusi et al., 2018): 4,016 cells and 7,397 genes. The library
    ``basal_bm1``, of poor quality according to the authors, is removed. Their
    population balance analysis gives a potential function for differentiation.

    Three files are read from ``save_path`` (when one is missing, they are taken
    from the archive ``data.zip``, downloaded if needed):

    - ``bBM.raw_umifm_counts.csv.gz``: one row per cell, columns ``cell_id``,
      ``library_id`` then one column of counts per gene;
    - ``bBM.filtered_gene_list.paper.txt``: the genes kept, one per line (in this
      order);
    - ``bBM.spring_and_pba.csv``: one row per cell, with ``cell_id``, the SPRING
      layout coordinates ``x_spring``, ``y_spring``, the differentiation
      ``Potential`` and the fate probabilities ``Pr_Er``, ``Pr_Gr``, ...

    The cells kept are those of the counts file, in its order, outside library
    ``basal_bm1`` and present in the SPRING file. ``batch_indices`` number the
    libraries (``library_id`` values in alphabetical order, named by
    ``batch_names``); ``labels`` are all 0 (the data have no discrete types).
    Cell attributes ``x_spring``, ``y_spring`` and ``potential`` hold the SPRING
    columns, and the cell measurement ``fate_probabilities`` (columns named by
    ``fate_names``) holds the ``Pr_*`` columns.

    Parameters
    ----------
    save_path
        Folder holding (or receiving) the files.
    delayed_populating
        If True, the files are fetched but not read.

    Raises
    ------
    ValueError
        If a listed gene is not in the counts, a column is missing, or no cell is
        left.

    Examples
    --------
    >>> gene_dataset = HematoDataset()
    """

    def __init__(
        self, save_path: str = "data/HEMATO", delayed_populating: bool = False
    ):
        super().__init__(
            urls=None,
            filenames=[_COUNTS, _GENES, _SPRING],
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def download(self) -> None:
        """Take the files missing from ``save_path`` out of ``data.zip``.

        The archive is downloaded when it is not in ``save_path`` either.

        Raises
        ------
        FileNotFoundError
            If the archive does not hold a missing file.
        """
        missing = [
            name
            for name in self.filenames
            if not os.path.exists(os.path.join(self.save_path, name))
        ]
        if not missing:
            logger.info("Files of HematoDataset already in %s", self.save_path)
            return
        archive = os.path.join(self.save_path, _ARCHIVE)
        if not os.path.exists(archive):
            os.makedirs(self.save_path, exist_ok=True)
            logger.info("Downloading file at %s", archive)
            download_file(_ARCHIVE_URL, archive)
        extracted = {os.path.basename(p): p for p in extract_archive(archive)}
        for name in missing:
            if name in extracted:
                target = os.path.join(self.save_path, name)
                if os.path.abspath(extracted[name]) != os.path.abspath(target):
                    shutil.move(extracted[name], target)
        still = [n for n in missing if not os.path.exists(self._path(n))]
        if still:
            raise FileNotFoundError(
                f"{still} not found in {os.path.abspath(self.save_path)} nor in "
                f"{archive}; put these files in {os.path.abspath(self.save_path)}"
            )

    def _path(self, name: str) -> str:
        return os.path.join(self.save_path, name)

    def populate(self) -> None:
        """Read the counts, keep the listed genes and cells, populate the dataset."""
        logger.info("Preprocessing Hemato data")
        with open(self._path(_GENES)) as handle:
            gene_names = [line.strip() for line in handle if line.strip()]
        counts_path = self._path(_COUNTS)
        header = list(pd.read_csv(counts_path, nrows=0).columns)
        for column in ("cell_id", "library_id"):
            if column not in header:
                raise ValueError(f"{counts_path} has no {column!r} column")
        columns = set(header)
        absent = [g for g in gene_names if g not in columns]
        if absent:
            raise ValueError(
                f"{len(absent)} genes of {_GENES} are not columns of {_COUNTS}, "
                f"e.g. {absent[:10]}"
            )
        gene_names = list(dict.fromkeys(gene_names))
        try:
            counts = pd.read_csv(
                counts_path,
                usecols=["cell_id", "library_id"] + gene_names,
                dtype={
                    "cell_id": str,
                    "library_id": str,
                    **dict.fromkeys(gene_names, "f4"),
                },
                keep_default_na=False,
                na_values=[""],
            )
        except ValueError as error:
            raise ValueError(
                f"{counts_path} has non-numeric counts: {error}"
            ) from error
        if counts[gene_names].isna().to_numpy().any():
            raise ValueError(f"{counts_path} has empty counts (ragged rows?)")
        counts = counts[counts["library_id"] != _EXCLUDED_LIBRARY]
        spring = self._read_spring()
        counts = counts[counts["cell_id"].isin(spring.index)]
        if counts.empty:
            raise ValueError(
                f"no cell of {_COUNTS} (outside library {_EXCLUDED_LIBRARY}) is in "
                f"{_SPRING}"
            )
        spring = spring.loc[counts["cell_id"].to_numpy()]
        batch_names, batches = np.unique(
            counts["library_id"].to_numpy(dtype=str), return_inverse=True
        )
        fate_columns = [c for c in spring.columns if c.startswith("Pr_")]
        fates = [
            CellMeasurement(
                name="fate_probabilities",
                data=spring[fate_columns].to_numpy(dtype=np.float32),
                columns_attr_name="fate_names",
                columns=np.asarray(fate_columns, dtype=str),
            )
        ]
        X = counts[gene_names].to_numpy(dtype=np.float32)
        logger.info("Finished preprocessing Hemato data")
        self.populate_from_data(
            X,
            Ys=fates if fate_columns else [],
            batch_indices=batches.astype(np.int64),
            gene_names=np.asarray(gene_names, dtype=str),
            cell_attributes_dict={
                "x_spring": spring["x_spring"].to_numpy(dtype=np.float64),
                "y_spring": spring["y_spring"].to_numpy(dtype=np.float64),
                "potential": spring["Potential"].to_numpy(dtype=np.float64),
            },
            remap_attributes=False,
        )
        self.initialize_mapped_attribute("batch_indices", "batch_names", batch_names)

    def _read_spring(self) -> pd.DataFrame:
        path = self._path(_SPRING)
        spring = pd.read_csv(path, dtype={"cell_id": str})
        needed = ["cell_id", "x_spring", "y_spring", "Potential"]
        absent = [c for c in needed if c not in spring.columns]
        if absent:
            raise ValueError(f"{path} has no column {absent}; found {list(spring)}")
        if spring["cell_id"].duplicated().any():
            raise ValueError(f"{path} lists some cell_id twice")
        return spring.set_index("cell_id")
