"""A dataset's arrays kept on the training device, mini-batches cut there.

When the arrays fit in the device's memory, a :class:`~scvi.inference.Posterior` on
the GPU copies them there once (per dataset and device) and gathers each mini-batch
with ``index_select`` on the device: no host work and no host-to-device copy per
step. Dense arrays are kept as they are; a sparse count matrix is kept with its rows
padded to the longest one (column indices and values, both ``(n_cells,
max_nnz_per_row)``), so that a mini-batch is densified by one ``scatter_add_`` of a
fixed shape, without any data-dependent size (which would make the host wait).
"""

import functools
from typing import Dict, Optional, Tuple

import numpy as np
import scipy.sparse as sp_sparse
import torch

# share of the free GPU memory the arrays may take when the choice is automatic
_MEMORY_SHARE = 0.25


def collated_attributes(dataset, collate_fn) -> Optional[Dict[str, type]]:
    """Attribute names and dtypes gathered by ``collate_fn`` when it is one of
    ``dataset.collate_fn_builder()``'s (None for any other function)."""
    if not isinstance(collate_fn, functools.partial) or not collate_fn.args:
        return None
    method = collate_fn.func
    if getattr(method, "__self__", None) is not dataset:
        return None
    if getattr(method, "__name__", None) != "collate_fn_base":
        return None
    return dict(collate_fn.args[0])


def _canonical_csr(matrix) -> sp_sparse.csr_matrix:
    """``matrix`` as CSR without duplicate entries (a copy when it had some, so
    that the dataset's own arrays are never modified)."""
    matrix = sp_sparse.csr_matrix(matrix)
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()
    return matrix


def _row_width(matrix: sp_sparse.csr_matrix) -> int:
    """Stored entries of the longest row (at least 1): the padded width."""
    return max(int(np.diff(matrix.indptr).max(initial=0)), 1)


class _Padded:
    """A CSR matrix as padded rows on a device: ``columns`` (int32) and
    ``values``, both ``(n_rows, max_nnz_per_row)``; padding is column 0 with value
    0, which adds nothing."""

    def __init__(self, matrix: sp_sparse.csr_matrix, dtype, device):
        matrix = _canonical_csr(matrix)
        n_rows, self.n_columns = matrix.shape
        lengths = np.diff(matrix.indptr)
        width = _row_width(matrix)
        # laid out on the device from the CSR arrays (no padded copy on the host)
        lengths = torch.from_numpy(lengths).to(device)
        starts = torch.from_numpy(matrix.indptr[:-1].astype(np.int64)).to(device)
        rows = torch.repeat_interleave(
            torch.arange(n_rows, device=device), lengths, output_size=matrix.nnz
        )
        slots = torch.arange(matrix.nnz, device=device) - starts[rows]
        self.columns = torch.zeros((n_rows, width), dtype=torch.int32, device=device)
        self.values = torch.zeros(
            (n_rows, width), dtype=_torch_dtype(dtype), device=device
        )
        indices = torch.from_numpy(matrix.indices.astype(np.int32)).to(device)
        data = torch.from_numpy(np.asarray(matrix.data, dtype=dtype)).to(device)
        self.columns[rows, slots] = indices
        self.values[rows, slots] = data

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        values = self.values.index_select(0, index)
        columns = self.columns.index_select(0, index).long()
        dense = values.new_zeros((index.shape[0], self.n_columns))
        return dense.scatter_add_(1, columns, values)


class _Dense:
    """A dense array on a device."""

    def __init__(self, array, dtype, device):
        self.tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=dtype))
        self.tensor = self.tensor.to(device)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return self.tensor.index_select(0, index)


def _torch_dtype(dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


def _nbytes(array, dtype) -> int:
    """Bytes the array takes on the device (padded rows for a sparse one)."""
    itemsize = np.dtype(dtype).itemsize
    if sp_sparse.issparse(array):
        matrix = sp_sparse.csr_matrix(array)
        return matrix.shape[0] * _row_width(matrix) * (itemsize + 4)
    return int(np.prod(np.shape(array))) * itemsize


def fits_on_device(dataset, attributes: Dict[str, type], device) -> bool:
    """Whether the arrays fit in a quarter of the free memory of a CUDA
    ``device`` (False for any other device)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    cached = dataset.__dict__.get("_device_arrays", {})
    needed = sum(
        _nbytes(getattr(dataset, name), dtype)
        for name, dtype in attributes.items()
        if (name, str(device)) not in cached
    )
    free, _ = torch.cuda.mem_get_info(device)
    return needed <= _MEMORY_SHARE * free


def device_arrays(dataset, attributes: Dict[str, type], device) -> Tuple:
    """The arrays on ``device`` (copied once per dataset, array and device; a new
    array assigned to the dataset is copied again)."""
    cache = dataset.__dict__.setdefault("_device_arrays", {})
    arrays = []
    for name, dtype in attributes.items():
        source = getattr(dataset, name)
        key = (name, str(torch.device(device)))
        entry = cache.get(key)
        if entry is None or entry[0] is not source or entry[1] != np.dtype(dtype):
            kind = _Padded if sp_sparse.issparse(source) else _Dense
            entry = cache[key] = (source, np.dtype(dtype), kind(source, dtype, device))
        arrays.append(entry[2])
    return tuple(arrays)


def device_batches(arrays, order: np.ndarray, batch_size: int, stop: int, device):
    """Mini-batches of ``arrays`` (from :func:`device_arrays`) along ``order``."""
    order = torch.from_numpy(np.ascontiguousarray(order[:stop])).to(device)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield tuple(array.rows(index) for array in arrays)
