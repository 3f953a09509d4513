"""Small helpers shared by the neural building blocks."""

from typing import Iterable, Optional, Tuple

import torch
import torch.nn.functional as F


def reparameterize_gaussian(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Differentiable sample of ``N(mu, var)`` (reparameterisation trick).

    Parameters
    ----------
    mu
        Means, any shape.
    var
        Positive variances, broadcastable with ``mu``.

    Returns
    -------
    torch.Tensor
        ``mu + sqrt(var) * eps`` with ``eps ~ N(0, I)``, broadcast shape of inputs.
    """
    std = var.sqrt()
    shape = (
        mu.shape
        if mu.shape == std.shape
        else torch.broadcast_shapes(mu.shape, std.shape)
    )
    # drawn directly: torch.distributions.Normal validates its arguments at every
    # construction, which costs more than the draw on the training hot path
    eps = torch.empty(shape, dtype=mu.dtype, device=mu.device).normal_()
    return torch.addcmul(mu, std, eps)


def identity(x):
    """Return ``x`` unchanged (the latent transformation of normal latents).

    Parameters
    ----------
    x
        Any object.

    Returns
    -------
    object
        ``x`` itself.
    """
    return x


def softmax_last(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension (maps a Gaussian sample to the simplex).

    Parameters
    ----------
    x
        Tensor of shape ``(..., n)``.

    Returns
    -------
    torch.Tensor
        Tensor of shape ``(..., n)`` with positive rows summing to one.
    """
    return F.softmax(x, dim=-1)


def check_option(value: str, valid: Iterable[str], name: str) -> str:
    """Return ``value`` if it is one of ``valid``, else raise a ``ValueError``.

    Parameters
    ----------
    value
        The option given by the user.
    valid
        The accepted values.
    name
        Name of the option, for the error message.

    Returns
    -------
    str
        ``value``.

    Raises
    ------
    ValueError
        Listing the valid values.
    """
    valid = tuple(valid)
    if value not in valid:
        choices = ", ".join(repr(v) for v in valid)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def latent_transformation(distribution: str):
    """Transformation applied to Gaussian samples for a latent ``distribution``.

    Parameters
    ----------
    distribution
        ``"normal"`` (identity) or ``"ln"`` (logistic normal: softmax over the last
        dimension, so latents live on the simplex).

    Returns
    -------
    callable
        The transformation.

    Raises
    ------
    ValueError
        For any other value, listing the valid ones.
    """
    check_option(distribution, ("normal", "ln"), "distribution")
    return softmax_last if distribution == "ln" else identity


def one_hot(index: Optional[torch.Tensor], n_cat: int, dtype: torch.dtype):
    """Encode category memberships for concatenation to layer inputs.

    Parameters
    ----------
    index
        Integer category indices of shape ``(batch,)`` or ``(batch, 1)``, or an
        already encoded tensor of shape ``(batch, n_cat)`` (one-hot or soft
        assignments, used as given).
    n_cat
        Number of categories.
    dtype
        Floating dtype of the result.

    Returns
    -------
    torch.Tensor
        Tensor of shape ``(batch, n_cat)``.
    """
    if index is None:
        raise ValueError(f"a covariate with {n_cat} categories was given None")
    if n_cat == 1:  # a single category: every row is [1]
        return torch.ones(index.shape[0], 1, dtype=dtype, device=index.device)
    if index.dim() > 1 and index.shape[-1] == n_cat and index.is_floating_point():
        return index.to(dtype)
    if index.dim() > 1:
        if index.shape[-1] != 1:
            raise ValueError(
                f"covariate tensor of shape {tuple(index.shape)} is neither indices "
                f"(last dimension 1) nor encoded with {n_cat} categories"
            )
        index = index.squeeze(-1)
    return encode_indices(index, n_cat, dtype)


def encode_indices(index: torch.Tensor, n_cat: int, dtype: torch.dtype):
    """One-hot encoding of integer indices ``(...)`` as ``(..., n_cat)``.

    Written with ``scatter_`` rather than :func:`torch.nn.functional.one_hot`,
    which reads the indices' range back on the host (a synchronisation on every
    call on CPU); an index out of range is still an error (on CUDA, a device-side
    one).
    """
    index = index.long().unsqueeze(-1)
    encoded = torch.zeros(index.shape[:-1] + (n_cat,), dtype=dtype, device=index.device)
    return encoded.scatter_(-1, index, 1.0)


def expand_samples(n_samples: int, *tensors: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Give each tensor a leading axis of ``n_samples`` (a view, no copy).

    Parameters
    ----------
    n_samples
        Size of the new leading axis.
    *tensors
        Tensors of any shape.

    Returns
    -------
    tuple of torch.Tensor
        The tensors expanded to ``(n_samples, *t.shape)``.
    """
    return tuple(t.unsqueeze(0).expand((n_samples,) + t.shape) for t in tensors)
