"""The seqFISH mouse hippocampus dataset (Zhu et al., 2018)."""

import logging
import os
import zipfile
from typing import List, Union

import numpy as np

from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

_URL = "https://www.cell.com/cms/attachment/2080562255/2072099886/mmc6.xlsx"


def read_xlsx(path: str, sheet: Union[int, str] = 0) -> List[list]:
    """Read the cell values of one worksheet of an ``.xlsx`` file with openpyxl
    (``pip install "scvi[xlsx]"``).

    Parameters
    ----------
    path
        Path of the workbook.
    sheet
        Position (from 0) or name of the worksheet.

    Returns
    -------
    list of list
        One list per row, from the first row to the last non-empty one, each as long
        as the widest row: text as ``str``, numbers as ``float``, booleans as
        ``bool``, empty cells and error values (``#N/A``...) as None.

    Raises
    ------
    ValueError
        If the file is not a readable ``.xlsx`` workbook or has no such sheet.
    ImportError
        If openpyxl is not installed.
    """
    try:
        import openpyxl
        from openpyxl.cell.cell import ERROR_CODES
    except ImportError as error:
        raise ImportError(
            'reading .xlsx files needs openpyxl: pip install "scvi[xlsx]"'
        ) from error
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .xlsx workbook: {error}") from error
    try:
        if isinstance(sheet, str):
            if sheet not in book.sheetnames:
                raise ValueError(
                    f"{path} has no sheet named {sheet!r} (sheets: {book.sheetnames})"
                )
            worksheet = book[sheet]
        else:
            worksheet = book.worksheets[sheet]
        rows = [list(row) for row in worksheet.iter_rows(values_only=True)]
    finally:
        book.close()

    def value(cell):
        if isinstance(cell, bool) or cell is None:
            return cell
        if isinstance(cell, (int, float)):
            return float(cell)
        if isinstance(cell, str) and cell in ERROR_CODES:
            return None
        return cell if isinstance(cell, str) else str(cell)

    rows = [[value(cell) for cell in row] for row in rows]
    while rows and all(cell is None for cell in rows[-1]):
        rows.pop()
    width = max((len(row) for row in rows), default=0)
    return [row + [None] * (width - len(row)) for row in rows]


class SeqfishDataset(DownloadableDataset):
    """seqFISH counts of mouse hippocampus cells (Zhu et al., 2018).

    The workbook ``SeqFISH.xlsx`` has one worksheet of counts with one row per
    gene: the gene name in the first column (written between single quotes, which
    are removed), then one count per cell; a first row with an empty first cell is
    taken for a header and skipped. There are no cell annotations: all
    cells are in batch 0 with label 0. The workbook is read with openpyxl
    (``pip install "scvi[xlsx]"``).

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
