"""Gaussian encoders: data to the parameters and a sample of a latent variable."""

from typing import Iterable, Optional, Tuple

import torch
from torch import nn

from .fc_layers import hidden_layers
from .utils import latent_transformation, reparameterize_gaussian

# Added to the exponentiated variances for numerical stability.
VAR_EPS = 1e-4


def gaussian_parameters(
    hidden: torch.Tensor, mean_layer: nn.Module, var_layer: nn.Module
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of a diagonal Gaussian from the hidden units of a network.

    Parameters
    ----------
    hidden
        Output of the hidden layers, shape ``(..., n_hidden)``.
    mean_layer, var_layer
        Heads giving the mean and the log of the variance.

    Returns
    -------
    tuple of torch.Tensor
        ``(mean, exp(log variance) + VAR_EPS)``, each ``(..., n_output)``.
    """
    return mean_layer(hidden), torch.exp(var_layer(hidden)) + VAR_EPS


class LatentSamplingMixin:
    """Samples and means of a Gaussian latent variable and of its transformation.

    Shared by :class:`Encoder` and :class:`~.totalvi.EncoderTOTALVI`; sets
    ``distribution`` (``"normal"`` or ``"ln"``) and ``z_transformation`` (identity,
    or the softmax onto the simplex).
    """

    def _init_latent(self, distribution: str) -> None:
        self.z_transformation = latent_transformation(distribution)
        self.distribution = distribution

    def reparameterize_transformation(
        self, mu: torch.Tensor, var: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sample the Gaussian and apply the latent transformation.

        Parameters
        ----------
        mu, var
            Gaussian means and variances, shape ``(..., n_output)``.

        Returns
        -------
        latent : torch.Tensor
            Transformed sample, shape ``(..., n_output)``.
        untran_latent : torch.Tensor
            The Gaussian sample before the transformation (same shape).
        """
        untran_latent = reparameterize_gaussian(mu, var)
        return self.z_transformation(untran_latent), untran_latent

    def transformed_mean(
        self, mu: torch.Tensor, var: torch.Tensor, n_samples: int = 5000
    ) -> torch.Tensor:
        """Mean of the transformed latent variable.

        Parameters
        ----------
        mu, var
            Gaussian means and variances, shape ``(..., n_output)``.
        n_samples
            Number of Gaussian draws averaged after the transformation (``"ln"``).

        Returns
        -------
        torch.Tensor
            ``mu`` itself for ``"normal"``; for ``"ln"``, the average of the
            softmax of ``n_samples`` draws (same shape as ``mu``).
        """
        if self.distribution == "normal":
            return mu
        draws = torch.distributions.Normal(mu, var.sqrt()).sample((n_samples,))
        return self.z_transformation(draws).mean(dim=0)


class Encoder(LatentSamplingMixin, nn.Module):
    """Encodes data of ``n_input`` dimensions into a latent space of ``n_output``
    dimensions using a fully-connected neural network of ``n_hidden`` layers.

    Parameters
    ----------
    n_input
        The dimensionality of the input (data space).
    n_output
        The dimensionality of the output (latent space).
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    n_layers
        The number of fully-connected hidden layers.
    n_hidden
        The number of nodes per hidden layer.
    dropout_rate
        Dropout rate to apply to each of the hidden layers.
    distribution
        Distribution of the latent variable: ``"normal"`` (the Gaussian sample
        itself) or ``"ln"`` (logistic normal: the softmax of the Gaussian sample, a
        point of the simplex). ``q_m`` and ``q_v`` always parametrise the Gaussian.
    **norm_options
        ``use_batch_norm`` (default True), ``use_layer_norm`` (default False) and
        ``inject_covariates`` (default True) of
        :class:`~scvi.models.modules.FCLayers`.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_cat_list: Optional[Iterable[int]] = None,
        n_layers: int = 1,
        n_hidden: int = 128,
        dropout_rate: float = 0.1,
        distribution: str = "normal",
        **norm_options,
    ):
        super().__init__()
        self._init_latent(distribution)
        self.encoder = hidden_layers(
            n_input, n_hidden, n_cat_list, n_layers, dropout_rate, **norm_options
        )
        self.mean_encoder = nn.Linear(n_hidden, n_output)
        self.var_encoder = nn.Linear(n_hidden, n_output)

    def forward(self, x: torch.Tensor, *cat_list):
        """The forward computation for a single sample.

        1. Encodes the data into latent space using the encoder network.
        2. Generates a mean ``q_m`` and a variance ``q_v = exp(.) + 1e-4``.
        3. Samples a new value from ``N(q_m, diag(q_v))`` and transforms it.

        Parameters
        ----------
        x
            Tensor of shape ``(batch, n_input)`` (or ``(n_samples, batch, n_input)``).
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        tuple of torch.Tensor
            ``(q_m, q_v, latent)``, each of shape ``(batch, n_output)``.
        """
        q_m, q_v = self.gaussian(x, *cat_list)
        latent, _ = self.reparameterize_transformation(q_m, q_v)
        return q_m, q_v, latent

    def gaussian(self, x: torch.Tensor, *cat_list) -> Tuple[torch.Tensor, torch.Tensor]:
        """Steps 1 and 2 of :meth:`forward`: ``(q_m, q_v)`` without a sample.

        Parameters
        ----------
        x, *cat_list
            As in :meth:`forward`.

        Returns
        -------
        tuple of torch.Tensor
            ``(q_m, q_v)``, each of shape ``(batch, n_output)``.
        """
        q = self.encoder(x, *cat_list)
        return gaussian_parameters(q, self.mean_encoder, self.var_encoder)
