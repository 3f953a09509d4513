"""Mini-batch iteration over a GeneExpressionDataset.

A :class:`BatchLoader` draws the cell order of an epoch from its sampler as one index
array, cuts it into mini-batches and hands each mini-batch of indices to the
dataset's collate function, which slices every array (dense or CSR) at once. No
Python work is done per cell, unlike a :class:`torch.utils.data.DataLoader`, which
calls ``dataset[i]`` for every cell.
"""

from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Sampler

from .device_data import (
    collated_attributes,
    device_arrays,
    device_batches,
    fits_on_device,
)
from .read_ahead import backed_attributes, backed_batches

__all__ = [
    "BatchLoader",
    "ChunkedRandomSampler",
    "chunked_order",
    "SequentialSubsetSampler",
    "SubsetRandomSampler",
    "RandomSampler",
    "SequentialSampler",
    "as_index_array",
    "sampler_indices",
]

# DataLoader arguments that have no meaning for in-process slicing; accepted and
# ignored so that scVI 0.6 code passing them keeps working.
_IGNORED_LOADER_KWARGS = {
    "num_workers",
    "timeout",
    "worker_init_fn",
    "prefetch_factor",
    "persistent_workers",
    "generator",
    "multiprocessing_context",
    "pin_memory_device",
}

# mini-batches per chunk when the counts are on disk and no chunk_size is given
_BACKED_CHUNK_BATCHES = 32


def as_index_array(indices, n_cells: int, name: str = "indices") -> np.ndarray:
    """Cell positions as an int64 array; a boolean mask of length n_cells is allowed.

    Parameters
    ----------
    indices
        Integer positions or a boolean mask.
    n_cells
        Number of cells of the dataset.
    name
        Argument name used in error messages.

    Raises
    ------
    ValueError
        If the positions are out of range, not integers, or the mask has the wrong
        length.
    """
    array = np.asarray(indices)
    if array.dtype == bool:
        if array.shape != (n_cells,):
            raise ValueError(
                f"{name} as a boolean mask must have length {n_cells} (the number "
                f"of cells), got shape {array.shape}"
            )
        return np.flatnonzero(array).astype(np.int64)
    array = array.reshape(-1)
    if array.size == 0:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must be integer cell positions or a boolean mask, "
            f"got dtype {array.dtype}"
        )
    if array.min() < 0 or array.max() >= n_cells:
        raise ValueError(
            f"{name} must lie in [0, {n_cells}) (the number of cells), got values "
            f"from {array.min()} to {array.max()}"
        )
    return array.astype(np.int64, copy=False)


def _check_positive_int(value, name: str) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")


class _IndexSampler(Sampler):
    """A sampler that gives the order of a whole epoch as one index array."""

    def epoch_indices(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())


class _SubsetSampler(_IndexSampler):
    """A sampler of the given cell positions (``indices``)."""

    def __init__(self, indices: Sequence[int]):
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)


class _AllCellsSampler(_IndexSampler):
    """A sampler of every cell of a dataset (``n_cells`` of them)."""

    def __init__(self, data_source):
        self.n_cells = len(data_source)

    def __len__(self) -> int:
        return self.n_cells


class SequentialSubsetSampler(_SubsetSampler):
    """Visits the given cell positions in the given order.

    Parameters
    ----------
    indices
        Cell positions.
    """

    def epoch_indices(self) -> np.ndarray:
        return self.indices


class SubsetRandomSampler(_SubsetSampler):
    """Visits the given cell positions in a new random order at each epoch.

    The order is drawn with :func:`torch.randperm`, so :func:`scvi.set_seed`
    makes it reproducible.

    Parameters
    ----------
    indices
        Cell positions.
    """

    def epoch_indices(self) -> np.ndarray:
        return self.indices[torch.randperm(len(self.indices)).numpy()]

    def __len__(self) -> int:
        return len(self.indices)


class SequentialSampler(_AllCellsSampler):
    """Visits every cell of a dataset in order.

    Parameters
    ----------
    data_source
        Anything with a length (the dataset).
    """

    def epoch_indices(self) -> np.ndarray:
        return np.arange(self.n_cells, dtype=np.int64)


class RandomSampler(_AllCellsSampler):
    """Visits every cell of a dataset in a new random order at each epoch.

    Parameters
    ----------
    data_source
        Anything with a length (the dataset).
    """

    def epoch_indices(self) -> np.ndarray:
        return torch.randperm(self.n_cells).numpy()


class ChunkedRandomSampler(SubsetRandomSampler):
    """Visits cells by chunks of neighbours: chunks in a random order, each shuffled.

    The cell positions are sorted and cut into chunks of ``chunk_size``
    consecutive positions; each epoch visits the chunks in a random order and the
    cells of each chunk in a random order. Reading a chunk of counts from disk is
    then one read of neighbouring rows. The order is drawn with torch's random
    generator (one :func:`torch.randperm` and one :func:`torch.rand` per epoch),
    so :func:`scvi.set_seed` makes it reproducible, whatever the data's storage.

    Parameters
    ----------
    indices
        Cell positions.
    chunk_size
        Cells per chunk (a positive int).
    """

    def __init__(self, indices: Sequence[int], chunk_size: int):
        super().__init__(indices)
        _check_positive_int(chunk_size, "chunk_size")
        self.chunk_size = int(chunk_size)
        self._sorted = np.sort(self.indices)

    @property
    def read_window(self) -> int:
        """Cells of the epoch order read from disk at once: one chunk."""
        return self.chunk_size

    def epoch_indices(self) -> np.ndarray:
        n_chunks = -(-len(self._sorted) // self.chunk_size)
        return chunked_order(
            self._sorted,
            self.chunk_size,
            torch.randperm(n_chunks).numpy(),
            torch.rand(n_chunks * self.chunk_size, dtype=torch.float64).numpy(),
        )


def chunked_order(
    cells: np.ndarray, chunk_size: int, chunk_order: np.ndarray, keys: np.ndarray
) -> np.ndarray:
    """``cells`` cut into chunks of ``chunk_size`` neighbours, the chunks taken in
    ``chunk_order`` and each chunk's cells in the order of their ``keys``.

    Parameters
    ----------
    cells
        Sorted cell positions, ``(n,)``.
    chunk_size
        Cells per chunk (the last may be shorter).
    chunk_order
        A permutation of ``range(ceil(n / chunk_size))``.
    keys
        One random number per slot, ``(len(chunk_order) * chunk_size,)`` (changed
        in place: the slots past ``n`` get infinity, so they sort last).

    Returns
    -------
    np.ndarray
        A permutation of ``cells``.
    """
    n, n_chunks = len(cells), len(chunk_order)
    keys[n:] = np.inf
    within = np.argsort(keys.reshape(n_chunks, chunk_size), axis=1, kind="stable")
    slots = np.arange(n_chunks)[:, None] * chunk_size + within
    slots = slots[chunk_order].reshape(-1)
    return cells[slots[slots < n]]


def sampler_indices(sampler: Sampler) -> np.ndarray:
    """The cell order of one epoch of ``sampler`` as an int64 array.

    Samplers of this module return their array directly; any other
    :class:`torch.utils.data.Sampler` is iterated once.
    """
    if isinstance(sampler, _IndexSampler):
        return sampler.epoch_indices()
    return np.fromiter(iter(sampler), dtype=np.int64)


class BatchLoader:
    """Iterates over mini-batches of tensors of a dataset.

    It takes the arguments of :class:`torch.utils.data.DataLoader` that matter for a
    dataset held in memory; worker arguments (``num_workers`` ...) are accepted and
    ignored.

    Parameters
    ----------
    dataset
        A :class:`~scvi.dataset.GeneExpressionDataset`.
    batch_size
        Number of cells per mini-batch.
    sampler
        Gives the cell order of each epoch (default: all cells in order, or in a
        random order when ``shuffle``).
    collate_fn
        Maps an array of cell positions to a tuple of tensors (default:
        ``dataset.collate_fn_builder()``).
    shuffle
        Random order when no sampler is given.
    drop_last
        Drop the last, incomplete mini-batch.
    pin_memory
        Put the tensors in page-locked memory (faster copies to the GPU).
    data_on_device
        Keep the dataset's arrays on ``device`` and cut the mini-batches there
        (True), or on the host (False); None: on a CUDA ``device`` when they fit
        in a quarter of its free memory. Only for the collate functions of
        ``dataset.collate_fn_builder``; others always run on the host.
    device
        The device of the tensors when ``data_on_device`` (default: the current
        CUDA device when ``pin_memory``, else the CPU).
    chunk_size
        Cells per chunk of a chunked random order: a random sampler of this
        module (:class:`SubsetRandomSampler`, :class:`RandomSampler`) is replaced
        by a :class:`ChunkedRandomSampler` of its cells. Counts on disk are read
        ``chunk_size`` cells at a time. Default: None (cell-level shuffling) for
        data in memory, 32 mini-batches for counts on disk.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 128,
        sampler: Optional[Sampler] = None,
        collate_fn: Optional[Callable] = None,
        shuffle: bool = False,
        drop_last: bool = False,
        pin_memory: bool = False,
        data_on_device: Optional[bool] = None,
        device=None,
        chunk_size: Optional[int] = None,
        **kwargs,
    ):
        unknown = set(kwargs) - _IGNORED_LOADER_KWARGS
        if unknown:
            raise TypeError(
                f"unexpected data loader argument(s) {sorted(unknown)}; valid ones "
                "are batch_size, sampler, collate_fn, shuffle, drop_last, pin_memory, "
                "data_on_device, device, chunk_size"
            )
        _check_positive_int(batch_size, "batch_size")
        if chunk_size is not None:
            _check_positive_int(chunk_size, "chunk_size")
        if sampler is not None and shuffle:
            raise ValueError("sampler and shuffle=True are mutually exclusive")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        if sampler is None:
            sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        self.collate_fn = collate_fn or dataset.collate_fn_builder()
        self.drop_last = drop_last
        self.pin_memory = pin_memory and torch.cuda.is_available()
        if device is None:
            device = "cuda" if self.pin_memory else "cpu"
        self.device = torch.device(device)
        self.on_device = None  # attributes kept on the device, or None
        self.backed = None  # attributes read from disk by chunks, or None
        attributes = collated_attributes(dataset, self.collate_fn)
        if attributes is not None and backed_attributes(dataset, attributes):
            self.backed = attributes
            if chunk_size is None:
                chunk_size = _BACKED_CHUNK_BATCHES * self.batch_size
        elif attributes is not None and data_on_device is not False:
            if data_on_device or fits_on_device(dataset, attributes, self.device):
                self.on_device = attributes
        self.chunk_size = chunk_size
        if chunk_size is not None and type(sampler) in (
            SubsetRandomSampler,
            RandomSampler,
        ):
            cells = getattr(sampler, "indices", None)
            if cells is None:
                cells = np.arange(len(sampler), dtype=np.int64)
            sampler = ChunkedRandomSampler(cells, chunk_size)
        self.sampler = sampler

    def __len__(self) -> int:
        n_cells = len(self.sampler)
        if self.drop_last:
            return n_cells // self.batch_size
        return -(-n_cells // self.batch_size)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, ...]]:
        order = sampler_indices(self.sampler)
        stop = len(order)
        if self.drop_last:
            stop -= stop % self.batch_size
        if self.on_device is not None:
            arrays = device_arrays(self.dataset, self.on_device, self.device)
            yield from device_batches(arrays, order, self.batch_size, stop, self.device)
            return
        if self.backed is not None:
            yield from backed_batches(
                self.dataset,
                self.backed,
                order,
                self.batch_size,
                stop,
                getattr(self.sampler, "read_window", None) or self.chunk_size,
                self.pin_memory,
            )
            return
        for start in range(0, stop, self.batch_size):
            tensors = self.collate_fn(order[start : start + self.batch_size])
            if self.pin_memory:
                tensors = tuple(t.pin_memory() for t in tensors)
            yield tensors
