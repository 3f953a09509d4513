"""The seqFISH mouse hippocampus dataset (Zhu et al., 2018)."""

import logging
import os

import numpy as np

from ._xlsx import read_xlsx
from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

_URL = "https://www.cell.com/cms/attachment/2080562255/2072099886/mmc6.xlsx"


class SeqfishDataset(DownloadableDataset):
    """seqFISH counts of mouse hippocampus cells (Zhu et al., 2018).

    The workbook ``SeqFISH.xlsx`` has one worksheet of counts with one row per
    gene: the gene name in the first column (written between single quotes, which
    are removed), then one count per cell; a first row with an empty first cell is
    taken for a header and skipped. There are no cell annotations: all
    cells are in batch 0 with label 0. The workbook is read with a small built-in
    ``.xlsx`` reader, so no Excel library is needed.

    Parameters
    ----------
    save_path
        Folder holding (or receiving) ``SeqFISH.xlsx``.
    delayed_populating
        If True, the file is downloaded but not read.

    Raises
    ------
    ValueError
        If the worksheet has an empty gene name, a non-numeric count or a ragged row.

    Examples
    --------
    >>> gene_dataset = SeqfishDataset(save_path="data/")
    """

    def __init__(self, save_path: str = "data", delayed_populating: bool = False):
        super().__init__(
            urls=[_URL],
            filenames=["SeqFISH.xlsx"],
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def populate(self) -> None:
        """Read the counts of ``SeqFISH.xlsx`` and populate the dataset."""
        path = os.path.join(self.save_path, self.filenames[0])
        logger.info("Loading seqFISH dataset")
        table = [row for row in read_xlsx(path) if any(v is not None for v in row)]
        if table and table[0][0] in (None, ""):
            table = table[1:]  # a header row (e.g. cell names), without gene name
        if not table:
            raise ValueError(f"{path} has no rows of counts")
        gene_names, counts = [], []
        for line, row in enumerate(table, start=1):
            name = row[0]
            values = row[1:]
            while values and values[-1] is None:
                values = values[:-1]
            if not isinstance(name, str) or not name.strip("' "):
                raise ValueError(f"{path}: row {line} has no gene name in column A")
            if any(not isinstance(v, float) for v in values):
                raise ValueError(
                    f"{path}: row {line} ({name}) has empty or non-numeric counts"
                )
            gene_names.append(name.strip().strip("'\""))
            counts.append(values)
        n_cells = {len(values) for values in counts}
        if len(n_cells) != 1:
            raise ValueError(
                f"{path}: the gene rows have different numbers of cells {n_cells}"
            )
        X = np.asarray(counts, dtype=np.float32).T
        self.populate_from_data(X, gene_names=np.asarray(gene_names, dtype=str))
        logger.info("Finished preprocessing seqFISH dataset")
