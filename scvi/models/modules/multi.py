"""Encoder and decoder shared by several datasets (gimVI / JVAE)."""

from typing import Iterable, List, Optional

import torch
from torch import nn

from .decoders import DISPERSIONS, SCVIHeadsMixin
from .encoders import gaussian_parameters
from .fc_layers import hidden_layers
from .utils import check_option, reparameterize_gaussian


class MultiEncoder(nn.Module):
    """Encoder with one input head per dataset followed by shared layers.

    Head ``i`` maps the ``n_input_list[i]`` features of dataset ``i`` to
    ``n_hidden`` units; shared layers and Gaussian heads then give the common
    latent space of ``n_output`` dimensions.

    Parameters
    ----------
    n_heads
        Number of datasets (input heads).
    n_input_list
        Input dimensionality of each head.
    n_output
        Dimensionality of the latent space.
    n_hidden
        Number of nodes per hidden layer.
    n_layers_individual
        Number of layers of each input head.
    n_layers_shared
        Number of shared layers.
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    dropout_rate
        Dropout rate of the hidden layers.
    """

    def __init__(
        self,
        n_heads: int,
        n_input_list: List[int],
        n_output: int,
        n_hidden: int = 128,
        n_layers_individual: int = 1,
        n_layers_shared: int = 2,
        n_cat_list: Optional[Iterable[int]] = None,
        dropout_rate: float = 0.1,
    ):
        super().__init__()
        if len(n_input_list) != n_heads:
            raise ValueError(
                f"n_input_list has {len(n_input_list)} entries for {n_heads} heads"
            )
        n_cat_list = list(n_cat_list or [])
        self.encoders = nn.ModuleList(
            hidden_layers(
                n_input, n_hidden, n_cat_list, n_layers_individual, dropout_rate
            )
            for n_input in n_input_list
        )
        self.encoder_shared = hidden_layers(
            n_hidden, n_hidden, n_cat_list, n_layers_shared, dropout_rate
        )
        self.mean_encoder = nn.Linear(n_hidden, n_output)
        self.var_encoder = nn.Linear(n_hidden, n_output)

    def forward(self, x: torch.Tensor, head_id: int, *cat_list):
        """Encode cells of dataset ``head_id``.

        Parameters
        ----------
        x
            Tensor of shape ``(batch, n_input_list[head_id])``.
        head_id
            Index of the dataset (input head).
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        tuple of torch.Tensor
            ``(q_m, q_v, latent)``, each of shape ``(batch, n_output)``.
        """
        q = self.encoder_shared(self.encoders[head_id](x, *cat_list), *cat_list)
        q_m, q_v = gaussian_parameters(q, self.mean_encoder, self.var_encoder)
        return q_m, q_v, reparameterize_gaussian(q_m, q_v)


class MultiDecoder(SCVIHeadsMixin, nn.Module):
    """Decoder of gimVI: covariate-conditioned layers, then shared layers, then the
    ZINB heads over ``n_output`` genes.

    Parameters
    ----------
    n_input
        Dimensionality of the latent space.
    n_output
        Number of genes (the union of the genes of all datasets).
    n_hidden_conditioned
        Width of the conditioned layers.
    n_hidden_shared
        Width of the shared layers.
    n_layers_conditioned
        Number of layers receiving the covariates (0 for none).
    n_layers_shared
        Number of further layers without covariates (0 for none).
    n_cat_list
        Number of categories of each categorical covariate (e.g. the dataset).
    dropout_rate
        Dropout rate of the hidden layers.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_hidden_conditioned: int = 32,
        n_hidden_shared: int = 128,
        n_layers_conditioned: int = 1,
        n_layers_shared: int = 1,
        n_cat_list: Optional[Iterable[int]] = None,
        dropout_rate: float = 0.2,
    ):
        super().__init__()
        n_in = n_input
        self.px_decoder_conditioned = None
        if n_layers_conditioned:
            self.px_decoder_conditioned = hidden_layers(
                n_in,
                n_hidden_conditioned,
                n_cat_list,
                n_layers_conditioned,
                dropout_rate,
            )
            n_in = n_hidden_conditioned
        self.px_decoder_final = None
        if n_layers_shared:
            self.px_decoder_final = hidden_layers(
                n_in, n_hidden_shared, None, n_layers_shared, dropout_rate
            )
            n_in = n_hidden_shared
        self._init_heads(n_in, n_output)

    def forward(
        self,
        z: torch.Tensor,
        dataset_id: int,
        library: torch.Tensor,
        dispersion: str,
        *cat_list,
    ):
        """Decode the ZINB parameters of the genes.

        Parameters
        ----------
        z
            Latent tensor of shape ``(batch, n_input)``.
        dataset_id
            Index of the dataset of the cells. The heads are shared by all
            datasets, which are told apart through ``cat_list``; the index is
            accepted for API compatibility.
        library
            Log library size, shape ``(batch, 1)``.
        dispersion
            One of ``"gene"``, ``"gene-batch"``, ``"gene-label"``, ``"gene-cell"``.
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        tuple
            ``(px_scale, px_r, px_rate, px_dropout)``, each ``(batch, n_output)``,
            as in :meth:`DecoderSCVI.forward`.
        """
        check_option(dispersion, DISPERSIONS, "dispersion")
        px = z
        if self.px_decoder_conditioned is not None:
            px = self.px_decoder_conditioned(px, *cat_list)
        if self.px_decoder_final is not None:
            px = self.px_decoder_final(px)
        return self._decode_heads(dispersion, px, library)
