"""Tensor helpers of scVI 0.6.8's ``scvi.models.utils``, for code that imports them.

The models themselves use :mod:`scvi.models.modules.utils`.
"""

from typing import Callable

import torch

from .modules.utils import one_hot as _encode

__all__ = ["one_hot", "enumerate_discrete", "broadcast_labels", "iterate"]


def iterate(obj, func: Callable):
    """Apply ``func`` to every leaf of nested lists and tuples (types kept); None
    stays None.

    Parameters
    ----------
    obj
        A value, or lists and tuples of values.
    func
        Applied to each value.

    Returns
    -------
    object
        ``obj`` with ``func`` applied to its values.
    """
    if isinstance(obj, (list, tuple)):
        return type(obj)(iterate(item, func) for item in obj)
    return func(obj) if obj is not None else None


def one_hot(
    index: torch.Tensor, n_cat: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """One-hot encoding of category indices.

    Parameters
    ----------
    index
        Integer indices, shape ``(batch, 1)`` or ``(batch,)``.
    n_cat
        Number of categories.
    dtype
        Floating dtype of the result (float32 by default, as in scVI 0.6.8).

    Returns
    -------
    torch.Tensor
        Shape ``(batch, n_cat)``.
    """
    return _encode(index, n_cat, dtype)


def enumerate_discrete(x: torch.Tensor, y_dim: int) -> torch.Tensor:
    """Every label for every cell of ``x``: the one-hot labels ``0, ..., y_dim - 1``,
    each repeated for the ``batch`` cells (label-major).

    Parameters
    ----------
    x
        A mini-batch whose first dimension is the number of cells.
    y_dim
        Number of labels.

    Returns
    -------
    torch.Tensor
        Shape ``(y_dim * batch, y_dim)``, dtype and device of ``x``.
    """
    labels = torch.arange(y_dim, device=x.device).repeat_interleave(x.shape[0])
    dtype = x.dtype if x.is_floating_point() else torch.float32
    return _encode(labels, y_dim, dtype)


def broadcast_labels(y, *o, n_broadcast: int = -1):
    """Labels for the semi-supervised setting.

    With labels ``y`` (a labelled mini-batch), returns their one-hot encoding and
    the tensors ``o`` unchanged. Without (``y`` None, an unlabelled mini-batch),
    returns every label for every cell (:func:`enumerate_discrete`) and the tensors
    ``o`` tiled ``n_broadcast`` times along their first dimension, to match.

    Parameters
    ----------
    y
        Labels ``(batch, 1)`` or None.
    *o
        Tensors with ``batch`` rows.
    n_broadcast
        Number of labels.

    Returns
    -------
    tuple
        ``(ys, *o)``.
    """
    if not o:
        raise ValueError("broadcast_labels needs at least one tensor after y")
    if y is None:
        ys = enumerate_discrete(o[0], n_broadcast)
        tiled = iterate(o, lambda t: t.repeat(n_broadcast, *([1] * (t.dim() - 1))))
        return (ys,) + tuple(tiled)
    return (one_hot(y, n_broadcast),) + o
