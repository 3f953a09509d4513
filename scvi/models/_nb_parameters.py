"""The two parameterisations of the negative binomial, and conversions between them.

scVI 0.6.8's :class:`~scvi.models.distributions.NegativeBinomial` accepts either

- ``(total_count, probs)`` or ``(total_count, logits)``, the parameterisation of
  :class:`torch.distributions.NegativeBinomial`: ``total_count`` failures until the
  experiment stops, each trial a success with probability ``probs =
  sigmoid(logits)``; its mean is ``total_count * exp(logits)``;
- ``(mu, theta)``, the one of scVI: mean ``mu`` and inverse dispersion ``theta``.

The two are related by ``theta = total_count`` and ``mu = total_count *
exp(logits)``.
"""

import warnings
from typing import Optional, Tuple, Union

import torch
from torch.distributions.utils import broadcast_all, probs_to_logits

Number = Union[torch.Tensor, float, int]


def convert_mean_disp_to_counts_logits(
    mu: torch.Tensor, theta: torch.Tensor, eps: float = 1e-6
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Convert the ``(mu, theta)`` parameterisation to ``(total_count, logits)``.

    Parameters
    ----------
    mu
        Means of the negative binomial.
    theta
        Inverse dispersions.
    eps
        Added to ``mu`` and ``theta`` inside the logarithms, for stability.

    Returns
    -------
    total_count : torch.Tensor
        The number of failures until the experiment is stopped (``theta``).
    logits : torch.Tensor
        The success logits ``log(mu + eps) - log(theta + eps)``.
    """
    logits = (mu + eps).log() - (theta + eps).log()
    return theta, logits


def convert_counts_logits_to_mean_disp(
    total_count: torch.Tensor, logits: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Convert the ``(total_count, logits)`` parameterisation to ``(mu, theta)``.

    Parameters
    ----------
    total_count
        Number of failures until the experiment is stopped.
    logits
        Success logits.

    Returns
    -------
    mu : torch.Tensor
        The mean ``total_count * exp(logits)``.
    theta : torch.Tensor
        The inverse dispersion (``total_count``, in the floating dtype of
        ``logits``).
    """
    total_count, logits = broadcast_all(total_count, logits)
    if not torch.is_floating_point(logits):
        logits = logits.to(torch.get_default_dtype())
    total_count = total_count.to(logits.dtype)  # an integer count gives floats
    return total_count * logits.exp(), total_count


def resolve_mean_disp(
    total_count: Optional[Number] = None,
    probs: Optional[Number] = None,
    logits: Optional[Number] = None,
    mu: Optional[Number] = None,
    theta: Optional[Number] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(mu, theta)`` from the arguments of either parameterisation.

    As in scVI 0.6.8, ``total_count`` or ``mu`` (exactly one) chooses the
    parameterisation; ``logits`` is used when both ``probs`` and ``logits`` are
    given. Arguments of the other parameterisation are ignored, with a warning.

    Parameters
    ----------
    total_count, probs, logits
        The ``(total_count, probs or logits)`` parameterisation.
    mu, theta
        The ``(mu, theta)`` parameterisation.

    Returns
    -------
    mu, theta : torch.Tensor
        Broadcast to a common shape.

    Raises
    ------
    ValueError
        If both or neither of ``total_count`` and ``mu`` are given, or the other
        argument of the chosen parameterisation is missing.
    """
    if (total_count is None) == (mu is None):
        raise ValueError(
            "Please use one of the two possible parameterizations: total_count with "
            "probs or logits, or mu with theta (got "
            + ("both total_count and mu" if mu is not None else "neither")
            + ")"
        )
    if mu is not None:
        if theta is None:
            raise ValueError("theta is required with mu (the (mu, theta) parameters)")
        _warn_ignored(probs=probs, logits=logits)
        return broadcast_all(mu, theta)
    if probs is None and logits is None:
        raise ValueError("probs or logits is required with total_count")
    _warn_ignored(theta=theta)
    if logits is None:
        probs = torch.as_tensor(probs)
        if not torch.is_floating_point(probs):
            probs = probs.to(torch.get_default_dtype())
        logits = probs_to_logits(probs, is_binary=True)
    else:
        _warn_ignored(probs=probs)
    return convert_counts_logits_to_mean_disp(total_count, logits)


def _warn_ignored(**arguments) -> None:
    """Warn about the given (non-None) arguments, unused by the chosen parameters."""
    ignored = [name for name, value in arguments.items() if value is not None]
    if ignored:
        warnings.warn(
            f"{', '.join(ignored)} ignored: another parameterization is used",
            UserWarning,
            stacklevel=4,
        )
