"""Cell-type (label) operations of GeneExpressionDataset."""

import logging
from typing import Dict, List, Tuple, Union

import numpy as np

from ._categories import remap_categories
from ._checks import UnknownNameError, check_categorical

logger = logging.getLogger("scvi.dataset.dataset")


class CellTypeMixin:
    """Mapping, merging, reordering and filtering of ``cell_types``."""

    def cell_types_to_labels(self, cell_types) -> np.ndarray:
        """Label codes of the named cell types, in the order given.

        Raises
        ------
        UnknownNameError
            (a KeyError and a ValueError) If a name is not in ``cell_types``.
        """
        names = np.atleast_1d(np.asarray(cell_types)).astype(str)
        known = np.asarray(self.cell_types).astype(str)
        lookup = {name: code for code, name in enumerate(known)}
        unknown = [str(name) for name in names if name not in lookup]
        if unknown:
            raise UnknownNameError(
                f"cell types not found: {unknown[:10]}; known: {known.tolist()[:20]}"
            )
        return np.array([lookup[name] for name in names], dtype=np.int64)

    def _label_codes(self, cell_types, name: str = "cell_types") -> np.ndarray:
        """Codes of cell types given by name or by code."""
        values = np.atleast_1d(np.asarray(cell_types))
        if values.dtype.kind in "OUS":
            return self.cell_types_to_labels(values)
        codes = check_categorical(values, name)
        if codes.size and codes.max() >= len(self.cell_types):
            raise ValueError(
                f"{name} has codes beyond the {len(self.cell_types)} types"
            )
        return codes

    def filter_cell_types(self, cell_types: Union[List[str], List[int], np.ndarray]):
        """Keep the cells of the given cell types (names or label codes).

        Labels are then remapped to ``0..N-1``, dropping the other cell types.
        """
        codes = self._label_codes(cell_types)
        kept = np.asarray(self.cell_types)[codes].tolist()
        logger.info("Only keeping cell types: %s", kept)
        self.update_cells(np.isin(self.labels.reshape(-1), codes))
        self.remap_categorical_attributes(["labels"])

    def merge_cell_types(
        self,
        cell_types: Union[Tuple[int, ...], Tuple[str, ...], List[int], List[str]],
        new_cell_type_name: str,
    ) -> None:
        """Give the cells of several cell types one new label.

        The new cell type is appended to ``cell_types``; the merged ones stay, with
        ``"#merged"`` appended to their names.
        """
        if new_cell_type_name in np.asarray(self.cell_types).astype(str):
            raise ValueError(
                f"new_cell_type_name {new_cell_type_name!r} is already a cell type"
            )
        codes = self._label_codes(cell_types)
        new_code = len(self.cell_types)
        labels = self.labels.reshape(-1).copy()
        labels[np.isin(labels, codes)] = new_code
        names = np.asarray(self.cell_types).astype(object)
        names[codes] = [f"{n}#merged" for n in names[codes]]
        self.cell_types = np.append(names, new_cell_type_name).astype(str)
        self.labels = labels

    def map_cell_types(
        self,
        cell_types_dict: Dict[Union[int, str, Tuple[int, ...], Tuple[str, ...]], str],
    ) -> None:
        """Merge cell types as a dictionary says: each key (a cell type or a tuple
        of cell types) is merged into the cell type named by its value."""
        for cell_types, new_name in cell_types_dict.items():
            if not isinstance(cell_types, tuple):
                cell_types = (cell_types,)
            self.merge_cell_types(cell_types, new_name)

    def reorder_cell_types(self, new_order: Union[List[str], np.ndarray]) -> None:
        """Put the named cell types first, in the given order; the others follow."""
        first = self._label_codes(new_order, "new_order")
        if len(np.unique(first)) != len(first):
            raise ValueError("new_order names a cell type more than once")
        rest = np.setdiff1d(np.arange(len(self.cell_types)), first)
        order = np.concatenate([first, rest])
        labels, _, mappings = remap_categories(
            self.labels,
            mapping_from=order,
            mappings_dict={
                m: getattr(self, m) for m in self.attribute_mappings["labels"]
            },
        )
        for name, values in mappings.items():
            setattr(self, name, values)
        self.labels = labels
