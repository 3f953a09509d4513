"""Mini-batches of a dataset whose counts are read from disk, with read-ahead.

The epoch's cell order is cut into windows of whole mini-batches (about one
shuffling chunk each, see :class:`~scvi.inference.posterior.batching.
ChunkedRandomSampler`). A background thread reads the rows of the next windows
(one read per span of nearby rows) into a bounded queue while the current window
is consumed, so that disk reads overlap training. Each mini-batch holds the same
tensors as the in-memory path gives for the same cells.
"""

import queue
import threading
from typing import Callable, Dict, Iterable, Iterator

import numpy as np
import torch

from ...dataset.backed_matrix import is_backed

# windows read ahead of the one being consumed
READ_AHEAD = 2


def backed_attributes(dataset, attributes: Dict[str, type]) -> Dict[str, type]:
    """The attributes (name -> dtype) of ``attributes`` whose values are on disk."""
    return {
        name: dtype
        for name, dtype in attributes.items()
        if is_backed(getattr(dataset, name, None))
    }


class _Failure:
    """An exception raised in the reading thread, re-raised by the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


def read_ahead(load: Callable, items: Iterable, depth: int = READ_AHEAD) -> Iterator:
    """``load(item)`` for each item, computed on a background thread at most
    ``depth`` items ahead of the consumer.

    Errors raised by ``load`` are re-raised in the consumer; closing the iterator
    early stops the thread.
    """
    results = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                results.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in items:
                if stop.is_set() or not put(load(item)):
                    return
        except BaseException as error:  # handed to the consumer
            put(_Failure(error))
            return
        put(_DONE)

    thread = threading.Thread(target=work, name="scvi-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            value = results.get()
            if value is _DONE:
                return
            if isinstance(value, _Failure):
                raise value.error
            yield value
    finally:
        stop.set()
        thread.join()


def backed_batches(
    dataset,
    attributes: Dict[str, type],
    order: np.ndarray,
    batch_size: int,
    stop: int,
    window: int,
    pin_memory: bool = False,
) -> Iterator:
    """Mini-batches along ``order[:stop]``, rows on disk read ``window`` cells at a
    time ahead of use.

    Parameters
    ----------
    dataset
        The dataset.
    attributes
        Attribute name -> NumPy dtype of each tensor, in order.
    order
        Cell positions of the epoch.
    batch_size
        Cells per mini-batch.
    stop
        Number of cells of ``order`` used.
    window
        Cells read at once (rounded up to whole mini-batches).
    pin_memory
        Put the tensors in page-locked memory.
    """
    window = -(-max(window, batch_size) // batch_size) * batch_size
    on_disk = backed_attributes(dataset, attributes)

    def load(start: int):
        positions = order[start : min(start + window, stop)]
        dense = {
            name: torch.from_numpy(
                getattr(dataset, name).read(positions).toarray().astype(dtype)
            )
            for name, dtype in on_disk.items()
        }
        return positions, dense

    for positions, dense in read_ahead(load, range(0, stop, window)):
        for start in range(0, len(positions), batch_size):
            indices = positions[start : start + batch_size]
            tensors = []
            for name, dtype in attributes.items():
                if name in dense:
                    tensors.append(dense[name][start : start + batch_size])
                else:
                    values = np.asarray(getattr(dataset, name)[indices])
                    tensors.append(torch.from_numpy(values.astype(dtype, copy=False)))
            if pin_memory:
                tensors = [t.pin_memory() for t in tensors]
            yield tuple(tensors)
