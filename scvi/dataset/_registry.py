"""Small containers used by the dataset registries."""

from collections.abc import MutableSet
from dataclasses import dataclass
from typing import Iterable, List, Union

import numpy as np
import scipy.sparse as sp_sparse


class OrderedSet(MutableSet):
    """A set that remembers insertion order, so registries print predictably."""

    def __init__(self, items: Iterable = ()):
        self._items = dict.fromkeys(items)

    def __contains__(self, item) -> bool:
        return item in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item) -> None:
        """Add ``item`` at the end if it is not there yet."""
        self._items[item] = None

    def discard(self, item) -> None:
        """Remove ``item`` if it is present."""
        self._items.pop(item, None)

    def __repr__(self) -> str:
        return "{" + ", ".join(repr(i) for i in self) + "}"


@dataclass
class CellMeasurement:
    """A measurement paired with each cell, such as CITE-seq protein counts.

    Parameters
    ----------
    name
        Attribute name of the data on the dataset, e.g. ``"protein_expression"``.
    data
        Values, (n_cells, n_columns), dense or sparse.
    columns_attr_name
        Attribute name of the column names, e.g. ``"protein_names"``.
    columns
        Name of each column, (n_columns,).
    """

    name: str = None
    data: Union[np.ndarray, sp_sparse.csr_matrix] = None
    columns_attr_name: str = None
    columns: Union[np.ndarray, List[str]] = None
