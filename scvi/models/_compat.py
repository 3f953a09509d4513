"""Loading state dicts saved by scVI 0.6.8 into these models.

A few models hold, beside the parameters of scVI 0.6.8, tensors that 0.6.8 did not
save or saved with another shape (a fixed prior kept as a buffer, a head that 0.6.8
did not have). ``load_state_dict`` completes a 0.6.8 state dict through a pre-hook
(:meth:`torch.nn.Module.register_load_state_dict_pre_hook`), so that it loads with
``strict=True`` and gives 0.6.8's outputs, while a state dict saved here loads
unchanged.
"""

from typing import Callable, Dict

import torch
from torch import nn


def fill_missing_entries(
    module: nn.Module, defaults: Callable[[nn.Module], Dict[str, torch.Tensor]]
) -> None:
    """Give the entries that a loaded state dict lacks the values of ``defaults``.

    Parameters
    ----------
    module
        The module whose loading is completed.
    defaults
        Called at loading time with ``module``; maps names relative to the module
        to the values an absent entry takes.
    """

    def hook(module, state_dict, prefix, *args):
        for name, value in defaults(module).items():
            state_dict.setdefault(prefix + name, value)

    module.register_load_state_dict_pre_hook(hook)


def reshape_entry(module: nn.Module, name: str) -> None:
    """Reshape the loaded entry ``name`` to the shape of the module's tensor of that
    name when it holds as many values (0.6.8 kept some vectors as ``(1, n)``)."""

    def hook(module, state_dict, prefix, *args):
        key, own = prefix + name, getattr(module, name)
        value = state_dict.get(key)
        if value is not None and value.shape != own.shape:
            if value.numel() == own.numel():
                state_dict[key] = value.reshape(own.shape)

    module.register_load_state_dict_pre_hook(hook)
