"""The hooks through which :class:`~scvi.inference.Trainer` trains data-parallel.

:func:`parallelism` gives a trainer a :class:`SingleProcess` (every hook does
nothing) or a :class:`DataParallel`, which

* runs the loss of each step through :class:`~torch.nn.parallel.DistributedDataParallel`
  (so gradients are averaged across processes during ``backward``), while queries
  and model attributes keep using the plain module;
* gives each process its own shard of the training cells every epoch
  (:class:`~.distributed.ShardSampler`);
* reduces the held-out metrics and the NaN counters across processes once per
  epoch, so that every process takes the same early-stopping decision.
"""

from typing import Callable, Dict, Optional

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..posterior.batching import RandomSampler, SubsetRandomSampler
from . import distributed
from .distributed import ShardSampler, reduce_metric


class SingleProcess:
    """The hooks of a trainer that trains in one process: they do nothing."""

    is_main = True

    def wrap_loss(self, model: torch.nn.Module, loss: Callable) -> Callable:
        """The function computing the loss of a training step: ``loss``."""
        return loss

    def begin_training(self, trainer) -> None:
        """Called before the first epoch."""

    def begin_epoch(self, epoch: int) -> None:
        """Called at the start of every epoch."""

    def after_step(self) -> None:
        """Called after every optimisation step (no host synchronisation)."""

    def share_module(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's parameters and buffers of ``module`` (a
        module trained beside the model, such as a discriminator)."""

    def average_gradients(self, module: torch.nn.Module) -> None:
        """Average the gradients of ``module``'s parameters across processes."""

    def end_epoch(self, nan_guard) -> None:
        """Called at the end of every epoch, before the NaN counters are read."""

    def end_training(self, trainer) -> None:
        """Called after the last epoch."""

    def metric(self, posterior, name: str):
        """Value of the metric ``name`` of ``posterior``."""
        return getattr(posterior, name)()


class _LossModule(torch.nn.Module):
    """A module whose forward pass is a trainer's loss, so that
    :class:`~torch.nn.parallel.DistributedDataParallel` sees every parameter the
    loss uses, whichever methods of the model the loss calls."""

    def __init__(self, model: torch.nn.Module, loss: Callable):
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, *tensors_list):
        return self.loss(*tensors_list)


class DataParallel(SingleProcess):
    """The hooks of a trainer that trains in a :mod:`torch.distributed` group.

    Parameters
    ----------
    device
        The device of this process's model (``cuda:LOCAL_RANK`` or the CPU).
    seed
        Seed of the shards' cell orders (``seed + epoch``).
    """

    def __init__(self, device: torch.device, seed: int):
        self.device = device
        self.seed = seed
        self.rank = distributed.rank()
        self.world_size = distributed.world_size()
        self.is_main = self.rank == 0
        self._samplers = []
        self._replaced: Dict[str, object] = {}
        self._forwards = 0
        self._checked = False

    def wrap_loss(self, model: torch.nn.Module, loss: Callable) -> Callable:
        """``loss`` run as the forward pass of a
        :class:`~torch.nn.parallel.DistributedDataParallel` of ``model``.

        Building it broadcasts rank 0's parameters and buffers to every process.
        ``find_unused_parameters`` is on, as some models leave parameters unused
        in a step (a classifier on unlabelled cells, an adversarial head).
        """
        module = _LossModule(model, loss)
        ddp = DistributedDataParallel(
            module,
            device_ids=[self.device] if self.device.type == "cuda" else None,
            find_unused_parameters=True,
        )

        def step_loss(*tensors_list):
            self._forwards += 1
            return ddp(*tensors_list)

        return step_loss

    def begin_training(self, trainer) -> None:
        """Replace the trainer's training posteriors by shards of them (put back
        by :meth:`end_training`)."""
        self._samplers, self._replaced = [], {}
        self._forwards, self._checked = 0, False
        for name in trainer.posteriors_loop:
            posterior = trainer._posteriors[name]
            sampler = posterior.data_loader.sampler
            sampler = ShardSampler(
                posterior.indices,
                batch_size=posterior.data_loader.batch_size,
                rank=self.rank,
                world_size=self.world_size,
                shuffle=_is_random(sampler),
                seed=self.seed,
                chunk_size=getattr(posterior.data_loader, "chunk_size", None),
            )
            self._samplers.append(sampler)
            shard = posterior.update({"sampler": sampler})
            self._replaced[name] = (posterior, shard)
            trainer.register_posterior(name, shard)

    def begin_epoch(self, epoch: int) -> None:
        """Every process's shard follows the same order of cells for ``epoch``."""
        for sampler in self._samplers:
            sampler.epoch = epoch

    def after_step(self) -> None:
        """Check, at the first step, that the step ran through :meth:`wrap_loss`
        (a trainer whose step computes its loss another way would leave the
        gradients of each process unreduced)."""
        if self._checked:
            return
        self._checked = True
        if self._forwards == 0:
            raise RuntimeError(
                "this trainer's optimisation step does not go through the "
                "trainer's step loss (its on_training_loop computes the loss "
                "itself), so its gradients cannot be reduced across processes: "
                "train it with distributed=False"
            )

    def share_module(self, module: torch.nn.Module) -> None:
        """Broadcast ``module``'s parameters and buffers from rank 0."""
        with torch.no_grad():
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor, src=0)

    def average_gradients(self, module: torch.nn.Module) -> None:
        """All-reduce the gradients of ``module`` as one flat tensor, then divide
        by the world size (a parameter without a gradient counts as zeros and
        keeps no gradient)."""
        parameters = list(module.parameters())
        grads = [
            p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters
        ]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        pieces = torch.split(flat, [g.numel() for g in grads])
        for p, piece in zip(parameters, pieces):
            if p.grad is not None:
                p.grad.copy_(piece.view_as(p))

    def end_epoch(self, nan_guard) -> None:
        """Make the NaN counters the largest over the processes, so that every
        process stops on the same epoch."""
        counters = torch.stack([nan_guard.longest, nan_guard.run])
        dist.all_reduce(counters, op=dist.ReduceOp.MAX)
        nan_guard.longest.copy_(counters[0])
        nan_guard.run.copy_(counters[1])

    def end_training(self, trainer) -> None:
        """Give every process rank 0's buffers (batch-norm statistics, which
        each process updated on its own mini-batches since the last step), and
        put back the training posteriors replaced by :meth:`begin_training`."""
        for buffer in trainer.model.buffers():
            dist.broadcast(buffer, src=0)
        for name, (posterior, shard) in self._replaced.items():
            if trainer._posteriors.get(name) is shard:
                trainer.register_posterior(name, posterior)
        self._replaced = {}

    def metric(self, posterior, name: str):
        """Value of the metric ``name`` of ``posterior``, reduced across processes
        (see :func:`~.distributed.reduce_metric`)."""
        return reduce_metric(posterior, name)


def _is_random(sampler) -> bool:
    return isinstance(sampler, (RandomSampler, SubsetRandomSampler))


def parallelism(
    distributed_option: Optional[bool], use_cuda: bool, seed: int
) -> SingleProcess:
    """The data-parallel hooks of a trainer.

    Parameters
    ----------
    distributed_option
        True: train in the process group (initialised from ``torchrun``'s
        environment if needed); False: train in this process alone; None: True
        when a process group is initialised or the environment describes one.
    use_cuda
        Whether the trainer uses a GPU (NCCL, ``cuda:LOCAL_RANK``) or the CPU
        (gloo).
    seed
        Seed of the shards' cell orders.

    Returns
    -------
    SingleProcess
        :class:`DataParallel` when training data-parallel, else
        :class:`SingleProcess`.

    Raises
    ------
    ValueError
        If ``distributed_option`` is not None or a bool, or is True without a
        process group or its environment.
    """
    if distributed_option is not None and not isinstance(distributed_option, bool):
        raise ValueError(
            f"distributed must be None, True or False, got {distributed_option!r}"
        )
    if distributed_option is None:
        distributed_option = (
            distributed.is_distributed() or distributed.env_requests_distributed()
        )
    if not distributed_option:
        return SingleProcess()
    distributed.init_process_group(use_cuda)
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if use_cuda
        else torch.device("cpu")
    )
    return DataParallel(device, seed)
