"""Per-gene parameters that may differ between the batches or the labels of cells.

A mode such as ``"gene-batch"`` (``dispersion``, ``zero_inflation``, ...) or
``"protein-label"`` asks for one column per batch or per label; other modes
(``"gene"``, ``"protein"``, ``"gene-cell"``) for a single value per feature.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .modules.utils import encode_indices


def per_category_shape(
    mode: str, n_features: int, n_batch: int, n_labels: int, name: str
) -> Tuple[int, ...]:
    """Shape of a per-feature parameter for ``mode``.

    Parameters
    ----------
    mode
        Ending in ``"-batch"`` (a column per batch), ``"-label"`` (a column per
        label) or anything else (no columns).
    n_features
        Number of features (genes, proteins).
    n_batch, n_labels
        Number of batches and of labels.
    name
        Name of the option, for the error message.

    Returns
    -------
    tuple of int
        ``(n_features, n_batch)``, ``(n_features, n_labels)`` or ``(n_features,)``.

    Raises
    ------
    ValueError
        If the mode needs batches (labels) and ``n_batch`` (``n_labels``) is < 1.
    """
    if mode.endswith("-batch"):
        owner, n_cat = "n_batch", n_batch
    elif mode.endswith("-label"):
        owner, n_cat = "n_labels", n_labels
    else:
        return (n_features,)
    if n_cat < 1:
        raise ValueError(f"{name}={mode!r} needs {owner} >= 1, got {n_cat}")
    return (n_features, n_cat)


def init_px_r(
    dispersion: str, n_genes: int, n_batch: int, n_labels: int
) -> Optional[nn.Parameter]:
    """Log inverse dispersion parameter of the scVI-like models.

    Parameters
    ----------
    dispersion
        ``"gene"``, ``"gene-batch"``, ``"gene-label"`` or ``"gene-cell"``.
    n_genes, n_batch, n_labels
        Number of genes, batches and labels.

    Returns
    -------
    torch.nn.Parameter or None
        Standard normal values of shape ``(n_genes,)``, ``(n_genes, n_batch)`` or
        ``(n_genes, n_labels)``; None for ``"gene-cell"`` (decoded per cell).
    """
    if dispersion == "gene-cell":
        return None
    shape = per_category_shape(dispersion, n_genes, n_batch, n_labels, "dispersion")
    return nn.Parameter(torch.randn(shape))


def per_category_value(
    log_value: torch.Tensor, index: Optional[torch.Tensor], n_cat: int, name: str
) -> torch.Tensor:
    """``exp`` of the column of ``log_value`` of each cell's category.

    Parameters
    ----------
    log_value
        Per-category log values, shape ``(n_features, n_cat)``.
    index
        Category of each cell: integer indices ``(..., batch, 1)`` or ``(batch,)``,
        or a floating one-hot ``(..., batch, n_cat)``.
    n_cat
        Number of categories.
    name
        Name of ``index`` in the error message.

    Returns
    -------
    torch.Tensor
        ``(..., batch, n_features)``.

    Raises
    ------
    ValueError
        If ``index`` is None.
    """
    if index is None:
        raise ValueError(f"this per-category parameter needs {name}")
    if not torch.is_floating_point(index):  # indices, even when n_cat == 1
        index = index.squeeze(-1) if index.dim() > 1 else index
        index = encode_indices(index, n_cat, log_value.dtype)
    return torch.exp(F.linear(index.to(log_value.dtype), log_value))


def decoder_batch_index(
    x: torch.Tensor,
    batch_index: Optional[torch.Tensor],
    transform_batch: Optional[int] = None,
) -> Optional[torch.Tensor]:
    """Batch of each cell as seen by a decoder.

    Parameters
    ----------
    x
        Data of the cells, shape ``(batch, ...)``.
    batch_index
        Batch of each cell.
    transform_batch
        If given, every cell is put in this batch.

    Returns
    -------
    torch.Tensor or None
        ``batch_index`` itself, or an int64 ``(batch, 1)`` tensor filled with
        ``transform_batch`` on the device of ``x``.
    """
    if transform_batch is None:
        return batch_index
    return torch.full(
        (x.shape[0], 1), int(transform_batch), dtype=torch.long, device=x.device
    )
