"""Data-parallel training on :mod:`torch.distributed`: the process group, the
rank helpers, the shard sampler of the training cells and the reduction of the
held-out metrics across processes.

A trainer trains data-parallel when a process group is set up (``torchrun
--nproc_per_node N script.py`` sets the environment variables ``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``) or when it is
asked to (``Trainer(..., distributed=True)``). The hooks the training loop calls
are in :mod:`.data_parallel`.

This module imports no other ``scvi`` module but the mini-batch samplers, so that
any module may ask :func:`is_main_process` before writing a file.
"""

import logging
import os
from typing import Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist

from ..posterior.batching import (
    SequentialSubsetSampler,
    _check_positive_int,
    _IndexSampler,
    chunked_order,
)

__all__ = [
    "ShardSampler",
    "env_requests_distributed",
    "init_process_group",
    "is_distributed",
    "is_main_process",
    "local_rank",
    "rank",
    "reduce_metric",
    "shutdown",
    "world_size",
]

#: environment variables that ``torchrun`` sets for every process it starts
ENV_VARS = ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT")

#: posterior metrics that are means over cells (plus a constant): computed on a
#: share of the cells by each process and reduced as (sum, count) across processes
CELL_MEAN_METRICS = frozenset({"elbo", "reconstruction_error", "marginal_ll"})

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------ ranks
def env_requests_distributed() -> bool:
    """Whether the environment describes a process group (``torchrun`` sets
    ``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``)."""
    return all(name in os.environ for name in ENV_VARS)


def is_distributed() -> bool:
    """Whether a :mod:`torch.distributed` process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """Rank of this process in the process group (0 without one)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes of the process group (1 without one)."""
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """Rank of this process on its node (``LOCAL_RANK``, 0 when unset): the
    index of its GPU."""
    value = os.environ.get("LOCAL_RANK", "0")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"LOCAL_RANK must be an integer, got {value!r}") from None


def is_main_process() -> bool:
    """Whether this process is rank 0, the one that logs and writes files (True
    without a process group)."""
    return rank() == 0


class _BelowWarning(logging.Filter):
    """Drops the records below WARNING (the informative messages)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _quiet_other_ranks() -> None:
    """On ranks other than 0, the ``scvi`` handlers show warnings and errors
    only: rank 0 alone logs the course of training."""
    if is_main_process():
        return
    for handler in logging.getLogger("scvi").handlers:
        if not any(isinstance(f, _BelowWarning) for f in handler.filters):
            handler.addFilter(_BelowWarning())


def init_process_group(use_cuda: bool) -> bool:
    """Initialise the default process group from the environment, unless one is.

    The backend is NCCL when ``use_cuda`` (each process then uses the GPU
    ``cuda:LOCAL_RANK``), gloo otherwise.

    Parameters
    ----------
    use_cuda
        Whether the processes train on GPUs.

    Returns
    -------
    bool
        True when this call initialised the group, False when it was already.

    Raises
    ------
    ValueError
        If there is no process group and the environment does not describe one.
    """
    if use_cuda:
        torch.cuda.set_device(local_rank())
    if is_distributed():
        _quiet_other_ranks()
        return False
    if not dist.is_available():
        raise ValueError("distributed=True: this PyTorch has no torch.distributed")
    if not env_requests_distributed():
        missing = [name for name in ENV_VARS if name not in os.environ]
        raise ValueError(
            "distributed=True needs an initialised torch.distributed process group "
            f"or the environment of torchrun (missing: {', '.join(missing)}); "
            "launch with `torchrun --nproc_per_node N script.py`"
        )
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    _quiet_other_ranks()
    return True


def shutdown() -> None:
    """Destroy the default process group, if there is one."""
    if is_distributed():
        dist.destroy_process_group()


def collective_device() -> torch.device:
    """Device of the tensors of collective operations: the GPU of this process
    with NCCL, else the CPU."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ------------------------------------------------------------------ sampler
class ShardSampler(_IndexSampler):
    """This process's share of an epoch of training cells.

    Every process draws the same order of the cells for an epoch (a permutation
    seeded by ``seed + epoch``, so the processes agree without communicating;
    the given order when ``shuffle`` is False), pads it by repeating its first
    cells to a multiple of ``world_size``, and takes its share mini-batch by
    mini-batch: of each run of ``world_size * batch_size`` cells, process ``r``
    takes the ``r``-th block of ``batch_size``, and of the last, shorter run an
    equal ``r``-th part. So every process has as many mini-batches, of the same
    sizes, and the mini-batches of step ``k`` together are the ``k``-th
    mini-batch of one process at ``world_size * batch_size`` cells.

    With ``chunk_size`` (counts read from disk), the epoch's order is that of a
    :class:`~scvi.inference.posterior.batching.ChunkedRandomSampler`: chunks of
    neighbouring cells in a random order (the shorter last chunk last), shuffled
    within. The chunk size is rounded up to whole runs of ``world_size *
    batch_size`` cells, so each process's cells of a chunk are consecutive in its
    share and are read from disk at once (:attr:`read_window` cells).

    Parameters
    ----------
    indices
        The cells of the whole epoch (all processes together).
    batch_size
        Cells per mini-batch of each process.
    rank
        This process's rank, in ``[0, world_size)``.
    world_size
        Number of processes.
    shuffle
        Draw a new order of the cells at every epoch.
    seed
        Seed of the orders (``seed + epoch``).
    chunk_size
        Cells per chunk of neighbours, or None to shuffle cell by cell.

    Attributes
    ----------
    epoch
        The epoch whose order :meth:`epoch_indices` returns; the trainer sets it
        at the start of every epoch.
    """

    def __init__(
        self,
        indices: Sequence[int],
        batch_size: int,
        rank: int,
        world_size: int,
        shuffle: bool = True,
        seed: int = 0,
        chunk_size: Optional[int] = None,
    ):
        _check_positive_int(world_size, "world_size")
        _check_positive_int(batch_size, "batch_size")
        if chunk_size is not None:
            _check_positive_int(chunk_size, "chunk_size")
            run = world_size * batch_size
            chunk_size = -(-chunk_size // run) * run
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.batch_size = int(batch_size)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.chunk_size = chunk_size
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.indices) // self.world_size)

    @property
    def read_window(self) -> Optional[int]:
        """This process's cells of one chunk (None without chunks)."""
        if self.chunk_size is None:
            return None
        return self.chunk_size // self.world_size

    def epoch_indices(self) -> np.ndarray:
        """This process's cells for :attr:`epoch`, in mini-batch order."""
        order = self.indices
        if self.shuffle:
            generator = np.random.default_rng(self.seed + self.epoch)
            if self.chunk_size is None:
                order = order[generator.permutation(len(order))]
            else:
                # the shorter last chunk goes last, so that every other chunk
                # starts on a run boundary
                n_full, partial = divmod(len(order), self.chunk_size)
                chunks = generator.permutation(n_full)
                if partial:
                    chunks = np.append(chunks, n_full)
                order = chunked_order(
                    np.sort(order),
                    self.chunk_size,
                    chunks,
                    generator.random(len(chunks) * self.chunk_size),
                )
        n_padded = len(self) * self.world_size
        if n_padded > len(order):  # repeat the first cells (len(order) > 0 here)
            order = np.resize(order, n_padded)
        run = self.world_size * self.batch_size
        n_full = (n_padded // run) * run
        head = order[:n_full].reshape(-1, self.world_size, self.batch_size)
        tail = order[n_full:].reshape(self.world_size, -1)
        return np.concatenate([head[:, self.rank].reshape(-1), tail[self.rank]])


# ------------------------------------------------------------------ metrics
def _as_array(value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"a metric reduced across processes must be a number or a tuple of "
            f"numbers, got {value!r}"
        ) from None


def reduce_metric(posterior, metric: str):
    """Value of the metric ``metric`` of ``posterior``, the same on every process.

    A metric of :data:`CELL_MEAN_METRICS` (a mean over the cells) is computed by
    each process on its contiguous share of the posterior's cells and reduced as
    ``sum(mean_r * n_r) / sum(n_r)`` (the mean of all cells, not a mean of
    means); any other metric, or one of a posterior with fewer cells than
    processes, is computed by rank 0 and broadcast. Without a
    process group, it is ``getattr(posterior, metric)()``.

    Parameters
    ----------
    posterior
        A :class:`~scvi.inference.Posterior`.
    metric
        Name of a method of ``posterior`` returning a number (or a tuple of
        numbers for a cell mean).

    Returns
    -------
    float or tuple of float or object
        The metric's value.
    """
    if not is_distributed():
        return getattr(posterior, metric)()
    share = np.array_split(posterior.indices, world_size())[rank()]
    if metric not in CELL_MEAN_METRICS or posterior.nb_cells < world_size():
        box = [getattr(posterior, metric)() if is_main_process() else None]
        dist.broadcast_object_list(box, src=0, device=collective_device())
        return box[0]
    part = posterior.update({"sampler": SequentialSubsetSampler(share)})
    value = _as_array(getattr(part, metric)())
    buffer = torch.tensor(
        np.append(value.reshape(-1) * len(share), len(share)),
        dtype=torch.float64,
        device=collective_device(),
    )
    dist.all_reduce(buffer)
    totals = buffer.cpu().numpy()
    mean = totals[:-1] / totals[-1]
    return float(mean[0]) if value.shape == () else tuple(float(v) for v in mean)
