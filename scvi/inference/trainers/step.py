"""The optimisation step shared by every trainer: Adam, the NaN guard and the
optional compilation of the loss.

Nothing here reads a value back on the host during an iteration: a step whose
gradients are not finite is skipped on the device (by Adam's fused kernel, told by
:class:`torch.amp.GradScaler`), and the run of NaN losses is counted on the device
and read once per epoch (:meth:`NanGuard.check`).
"""

import logging
from typing import Callable, Union

import torch

logger = logging.getLogger(__name__)


def make_adam(params, **kwargs) -> torch.optim.Adam:
    """:class:`torch.optim.Adam` with the fused kernel where the parameters' device
    has one (CPU and CUDA), else the multi-tensor (``foreach``) implementation.

    Parameters
    ----------
    params
        Parameters (or parameter groups) to optimise.
    **kwargs
        Options of :class:`torch.optim.Adam` (``lr``, ``eps``, ``weight_decay``...).

    Returns
    -------
    torch.optim.Adam
        The optimizer.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, ValueError, TypeError):  # no fused kernel for this device
        return torch.optim.Adam(params, foreach=True, **kwargs)


def parameters_device(optimizer: torch.optim.Optimizer) -> torch.device:
    """Device of the optimizer's first parameter (CPU when it has none)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            return p.device
    return torch.device("cpu")


class NanGuard:
    """Skips the optimizer steps of NaN losses and counts them, on the device.

    The gradients go through a :class:`torch.amp.GradScaler` whose scale stays 1:
    it checks them for infinities and NaNs on the device and has Adam's fused
    kernel skip the update when it finds one, so a NaN loss changes no weight and
    no optimizer state, without the host waiting for the device. The length of the
    current run of NaN losses, and the longest run of the epoch, are device
    tensors read by :meth:`check` once per epoch.

    Parameters
    ----------
    device
        Device of the parameters.
    max_nans
        Length of a run of NaN losses that stops training.
    """

    def __init__(self, device: torch.device, max_nans: int):
        self.max_nans = max_nans
        self.scaler = torch.amp.GradScaler(device.type, init_scale=1.0)
        self.run = torch.zeros((), dtype=torch.int64, device=device)
        self.longest = torch.zeros((), dtype=torch.int64, device=device)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Back-propagate ``loss`` and step ``optimizer`` unless a gradient is not
        finite (the run of NaN losses is counted by :meth:`count`)."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update(1.0)

    def count(self, loss: torch.Tensor) -> None:
        """Lengthen the run of NaN losses if ``loss`` is NaN, else end it."""
        self.run.add_(1).mul_(torch.isnan(loss.detach()))
        torch.maximum(self.longest, self.run, out=self.longest)

    def check(self) -> int:
        """Read the counters (once per epoch): the current run of NaN losses.

        Raises
        ------
        ValueError
            If a run of ``max_nans`` NaN losses happened since the last check.
        """
        longest, run = (int(v) for v in torch.stack([self.longest, self.run]).cpu())
        self.longest.zero_()
        if longest >= self.max_nans:
            raise ValueError(
                f"the training loss was NaN {longest} times in a row "
                f"(max_nans={self.max_nans}); try a lower learning rate"
            )
        return run


def compiled(function: Callable, option: Union[bool, str]) -> Callable:
    """``function`` run through :func:`torch.compile` (``option`` True, or the name
    of a compile mode such as ``"reduce-overhead"``, which uses CUDA graphs), or
    ``function`` itself when ``option`` is False.

    Compilation happens at the first call; if it fails there (no compiler, an
    unsupported platform), a warning is logged and ``function`` runs eagerly from
    then on.
    """
    if not option:
        return function
    if not hasattr(torch, "compile"):
        logger.warning("this PyTorch has no torch.compile: training runs eagerly")
        return function
    mode = option if isinstance(option, str) else None
    fast = torch.compile(function, mode=mode)
    state = {"call": fast, "checked": False}

    def call(*args, **kwargs):
        if state["checked"]:
            return state["call"](*args, **kwargs)
        try:
            result = fast(*args, **kwargs)
        except Exception as error:  # any failure of the compiler stack
            logger.warning(
                "torch.compile failed (%s: %s); training runs eagerly",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
            state["call"] = function
            result = function(*args, **kwargs)
        state["checked"] = True
        return result

    return call
