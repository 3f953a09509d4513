"""Collate functions turning mini-batches of cell indices into tensors."""

from functools import partial
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp_sparse
import torch


class CollateMixin:
    """``collate_fn_builder`` and ``collate_fn_base`` of
    :class:`~scvi.dataset.GeneExpressionDataset`."""

    def collate_fn_builder(
        self,
        add_attributes_and_types: Optional[Dict[str, type]] = None,
        override: bool = False,
        corrupted: bool = False,
    ) -> Callable[[Union[List[int], np.ndarray]], Tuple[torch.Tensor, ...]]:
        """Build a collate function giving tensors of the requested attributes.

        By default the tensors are ``X`` (float32), ``local_means``, ``local_vars``
        (float32), ``batch_indices`` and ``labels`` (int64).

        Parameters
        ----------
        add_attributes_and_types
            Further attribute names and their NumPy dtypes.
        override
            If True, only ``add_attributes_and_types`` are returned.
        corrupted
            If True, ``corrupted_X`` takes the place of ``X``.
        """
        if override:
            attributes_and_types = dict(add_attributes_and_types or {})
        else:
            attributes_and_types = {
                "corrupted_X" if corrupted else "X": np.float32,
                "local_means": np.float32,
                "local_vars": np.float32,
                "batch_indices": np.int64,
                "labels": np.int64,
            }
            attributes_and_types.update(add_attributes_and_types or {})
        for name in attributes_and_types:
            if getattr(self, name, None) is None:
                hint = " (call corrupt() first)" if name == "corrupted_X" else ""
                raise ValueError(f"the dataset has no attribute {name!r}{hint}")
        return partial(self.collate_fn_base, attributes_and_types)

    def collate_fn_base(
        self, attributes_and_types: Dict[str, type], batch: Union[List[int], np.ndarray]
    ) -> Tuple[torch.Tensor, ...]:
        """Gather the rows ``batch`` of each attribute into tensors.

        Parameters
        ----------
        attributes_and_types
            Attribute name -> NumPy dtype of its tensor.
        batch
            Cell positions of the mini-batch.
        """
        indices = np.asarray(batch, dtype=np.int64).reshape(-1)
        tensors = []
        for name, dtype in attributes_and_types.items():
            values = getattr(self, name)[indices]
            if hasattr(values, "read"):  # rows of counts on disk
                values = values.tocsr()
            if sp_sparse.issparse(values):
                values = values.toarray()
            tensors.append(
                torch.from_numpy(np.asarray(values).astype(dtype, copy=False))
            )
        return tuple(tensors)
