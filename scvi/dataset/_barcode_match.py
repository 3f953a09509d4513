"""Matching the cells of a metadata table to the barcodes of a 10x dataset."""

import logging
from typing import Optional

import numpy as np

from ._registry import CellMeasurement

# the messages are those of the 10x loaders that use these helpers
logger = logging.getLogger("scvi.dataset.dataset10X")


def match_barcodes(cell_attributes: Optional[dict], wanted, where: str):
    """Positions of ``wanted`` barcodes among the dataset's barcodes.

    Parameters
    ----------
    cell_attributes
        Cell attributes of the dataset, with its ``barcodes``.
    wanted
        Barcodes of the metadata, in its order.
    where
        Name of the dataset, for messages.

    Returns
    -------
    rows, kept
        ``rows[i]`` is the dataset row of ``wanted[kept[i]]``; barcodes missing from
        the data are left out of ``kept``, with a warning.

    Raises
    ------
    ValueError
        If the dataset has no barcodes, or none of ``wanted`` is among them.
    """
    if not cell_attributes or "barcodes" not in cell_attributes:
        raise ValueError(f"{where} has no barcodes file: cannot match the metadata")
    lookup = {}
    for row, barcode in enumerate(np.asarray(cell_attributes["barcodes"]).tolist()):
        lookup.setdefault(barcode, row)
    wanted = [str(b) for b in wanted]
    kept = [i for i, b in enumerate(wanted) if b in lookup]
    if len(kept) < len(wanted):
        logger.warning(
            "%i of the %i cells of the metadata are not in %s: left out",
            len(wanted) - len(kept),
            len(wanted),
            where,
        )
    if not kept:
        raise ValueError(f"no cell of the metadata is in {where}")
    rows = np.array([lookup[wanted[i]] for i in kept], dtype=np.int64)
    return rows, np.asarray(kept, dtype=np.int64)


def take_cells(kwargs: dict, rows: np.ndarray) -> dict:
    """Subset the cells of populate_from_data keyword arguments (rows in order).

    Parameters
    ----------
    kwargs
        Keyword arguments of ``populate_from_data``: ``X``, ``batch_indices``,
        ``Ys`` and ``cell_attributes_dict``.
    rows
        Rows to keep, in the order wanted.

    Returns
    -------
    dict
        A copy of ``kwargs`` with those rows only.
    """
    out = dict(kwargs)
    out["X"] = kwargs["X"][rows]
    out["batch_indices"] = np.asarray(kwargs["batch_indices"])[rows]
    out["Ys"] = [
        CellMeasurement(m.name, m.data[rows], m.columns_attr_name, m.columns)
        for m in kwargs["Ys"]
    ]
    out["cell_attributes_dict"] = {
        name: np.asarray(values)[rows]
        for name, values in (kwargs["cell_attributes_dict"] or {}).items()
    }
    return out
