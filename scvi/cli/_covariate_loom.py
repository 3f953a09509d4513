"""A loom dataset that keeps the covariate columns of ``scvi train`` for the cells
it keeps (imported when a .loom input has covariate keys)."""

from typing import Dict

import numpy as np

from ..dataset import LoomDataset


class CovariateLoomDataset(LoomDataset):
    """A :class:`~scvi.dataset.LoomDataset` that also keeps the column attributes
    named by ``covariate_keys``, for the cells it keeps (those with a count), in
    ``covariate_columns``: the values of the file, read before any attribute is
    taken for the batches or the labels.

    Parameters
    ----------
    filename, save_path
        As for :class:`~scvi.dataset.LoomDataset`.
    covariate_keys
        Column attributes of the file (checked to exist by the caller).
    **kwargs
        Other arguments of :class:`~scvi.dataset.LoomDataset`.
    """

    def __init__(self, filename: str, save_path: str, covariate_keys, **kwargs):
        self._covariate_keys = tuple(covariate_keys)
        self.covariate_columns: Dict[str, np.ndarray] = {}
        super().__init__(filename, save_path=save_path, **kwargs)

    def _read_loom(self, path: str) -> dict:
        loom = super()._read_loom(path)
        self.covariate_columns = {
            key: np.asarray(loom["col_attrs"][key]) for key in self._covariate_keys
        }
        return loom

    def _kept_cells(self, X) -> np.ndarray:
        kept = super()._kept_cells(X)
        self.covariate_columns = {
            key: values[kept] for key, values in self.covariate_columns.items()
        }
        return kept
