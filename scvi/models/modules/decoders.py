"""Decoders from a latent space to data-space distribution parameters."""

from typing import Iterable, Optional

import torch
from torch import nn

from .fc_layers import FCLayers, hidden_layers
from .._compat import fill_missing_entries
from .utils import check_option

DISPERSIONS = ("gene", "gene-batch", "gene-label", "gene-cell")


def scvi_outputs(
    dispersion: str,
    library: torch.Tensor,
    px_scale: torch.Tensor,
    px_dropout: torch.Tensor,
    px_r_head,
):
    """Outputs of the scVI decoders from their decoded frequencies and dropout.

    Parameters
    ----------
    dispersion
        One of :data:`DISPERSIONS`; ``px_r`` is only decoded for ``"gene-cell"``.
    library
        Log library size, shape ``(..., batch, 1)``.
    px_scale, px_dropout
        Decoded frequencies and zero-inflation logits, ``(..., batch, n_output)``.
    px_r_head
        Callable without arguments decoding the log inverse dispersion.

    Returns
    -------
    tuple
        ``(px_scale, px_r, px_rate, px_dropout)`` as in :meth:`DecoderSCVI.forward`.
    """
    px_rate = torch.exp(library) * px_scale
    px_r = px_r_head() if dispersion == "gene-cell" else None
    return px_scale, px_r, px_rate, px_dropout


class SCVIHeadsMixin:
    """The heads shared by :class:`DecoderSCVI` and :class:`~.multi.MultiDecoder`:
    frequencies (softmax), log inverse dispersion and dropout logits of the genes.
    """

    def _init_heads(self, n_hidden: int, n_output: int) -> None:
        self.px_scale_decoder = nn.Sequential(
            nn.Linear(n_hidden, n_output), nn.Softmax(dim=-1)
        )
        self.px_r_decoder = nn.Linear(n_hidden, n_output)
        self.px_dropout_decoder = nn.Linear(n_hidden, n_output)

    def _decode_heads(self, dispersion: str, px: torch.Tensor, library: torch.Tensor):
        """``(px_scale, px_r, px_rate, px_dropout)`` from the hidden units ``px``."""
        return scvi_outputs(
            dispersion,
            library,
            self.px_scale_decoder(px),
            self.px_dropout_decoder(px),
            lambda: self.px_r_decoder(px),
        )


class Decoder(nn.Module):
    """Decodes data from latent space of ``n_input`` dimensions to ``n_output``
    dimensions using a fully-connected neural network of ``n_hidden`` layers.
    Output is the mean and variance of a multivariate Gaussian.

    Parameters
    ----------
    n_input
        The dimensionality of the input (latent space).
    n_output
        The dimensionality of the output (data space).
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    n_layers
        The number of fully-connected hidden layers.
    n_hidden
        The number of nodes per hidden layer.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_cat_list: Optional[Iterable[int]] = None,
        n_layers: int = 1,
        n_hidden: int = 128,
    ):
        super().__init__()
        self.decoder = hidden_layers(n_input, n_hidden, n_cat_list, n_layers, 0)
        self.mean_decoder = nn.Linear(n_hidden, n_output)
        self.var_decoder = nn.Linear(n_hidden, n_output)

    def forward(self, x: torch.Tensor, *cat_list):
        """The forward computation for a single sample.

        Parameters
        ----------
        x
            Latent tensor of shape ``(batch, n_input)``.
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        tuple of torch.Tensor
            ``(p_m, p_v)``: mean and (positive) variance, each ``(batch, n_output)``.
        """
        p = self.decoder(x, *cat_list)
        return self.mean_decoder(p), torch.exp(self.var_decoder(p))


class DecoderSCVI(SCVIHeadsMixin, nn.Module):
    """Decodes data from latent space of ``n_input`` dimensions to ``n_output``
    dimensions using a fully-connected neural network of ``n_hidden`` layers.

    Parameters
    ----------
    n_input
        The dimensionality of the input (latent space).
    n_output
        The dimensionality of the output (data space, genes).
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    n_layers
        The number of fully-connected hidden layers.
    n_hidden
        The number of nodes per hidden layer.
    **norm_options
        ``use_batch_norm`` (default True), ``use_layer_norm`` (default False) and
        ``inject_covariates`` (default True) of :class:`FCLayers`.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_cat_list: Optional[Iterable[int]] = None,
        n_layers: int = 1,
        n_hidden: int = 128,
        **norm_options,
    ):
        super().__init__()
        self.px_decoder = hidden_layers(
            n_input, n_hidden, n_cat_list, n_layers, 0, **norm_options
        )
        self._init_heads(n_hidden, n_output)

    def forward(
        self, dispersion: str, z: torch.Tensor, library: torch.Tensor, *cat_list
    ):
        """The forward computation for a single sample.

        Parameters
        ----------
        dispersion
            One of ``"gene"``, ``"gene-batch"``, ``"gene-label"``, ``"gene-cell"``;
            ``px_r`` is only decoded for ``"gene-cell"``.
        z
            Latent tensor of shape ``(batch, n_input)`` or ``(n_samples, batch,
            n_input)``.
        library
            Log library size, shape ``(batch, 1)`` (or ``(n_samples, batch, 1)``).
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        tuple
            ``(px_scale, px_r, px_rate, px_dropout)``, each ``(batch, n_output)``:
            expression frequencies (softmax over genes), the *log* inverse
            dispersion (None unless ``dispersion == "gene-cell"``), the NB means
            ``exp(library) * px_scale`` and the zero-inflation logits.
        """
        check_option(dispersion, DISPERSIONS, "dispersion")
        px = self.px_decoder(z, *cat_list)
        return self._decode_heads(dispersion, px, library)

    def scale(self, z: torch.Tensor, *cat_list) -> torch.Tensor:
        """Only the expression frequencies ``px_scale`` of :meth:`forward`.

        Parameters
        ----------
        z
            Latent tensor of shape ``(..., batch, n_input)``.
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        torch.Tensor
            ``(..., batch, n_output)``, rows summing to 1.
        """
        return self.px_scale_decoder(self.px_decoder(z, *cat_list))


def _linear_decoder_defaults(decoder) -> dict:
    """Entries of a :class:`LinearDecoderSCVI` that scVI 0.6.8 did not save."""
    bias = decoder.px_dropout_decoder.fc_layers[0][0].bias
    defaults = {
        "px_dropout_decoder.fc_layers.Layer 0.0.bias": torch.zeros_like(bias),
    }
    for name, value in decoder.px_r_decoder.state_dict().items():
        defaults[f"px_r_decoder.{name}"] = value
    return defaults


class LinearDecoderSCVI(nn.Module):
    """Linear decoder of LDVAE: ``px_scale = softmax(W z + covariates)``.

    Each output head is a single affine layer (optionally batch-normalised, no
    ReLU), so :meth:`get_loadings` can report how genes load on latent dimensions.

    Parameters
    ----------
    n_input
        The dimensionality of the input (latent space).
    n_output
        The dimensionality of the output (genes).
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    use_batch_norm
        Whether to batch-normalise the linear outputs.
    bias
        Whether the expression head has a bias.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_cat_list: Optional[Iterable[int]] = None,
        use_batch_norm: bool = True,
        bias: bool = False,
    ):
        super().__init__()

        def linear_head(with_bias: bool) -> FCLayers:
            return FCLayers(
                n_in=n_input,
                n_out=n_output,
                n_cat_list=n_cat_list,
                n_layers=1,
                use_relu=False,
                use_batch_norm=use_batch_norm,
                bias=with_bias,
                dropout_rate=0,
            )

        self.n_input = n_input
        self.factor_regressor = linear_head(bias)
        self.px_dropout_decoder = linear_head(True)
        self.px_r_decoder = linear_head(True)
        # scVI 0.6.8 had no px_r_decoder and no bias in px_dropout_decoder: a state
        # dict of 0.6.8 loads with a zero bias (the same outputs)
        fill_missing_entries(self, _linear_decoder_defaults)

    def forward(
        self, dispersion: str, z: torch.Tensor, library: torch.Tensor, *cat_list
    ):
        """Decode the ZINB parameters of the genes.

        Parameters
        ----------
        dispersion
            One of ``"gene"``, ``"gene-batch"``, ``"gene-label"``, ``"gene-cell"``;
            ``px_r`` is only decoded (linearly) for ``"gene-cell"``.
        z
            Latent tensor of shape ``(batch, n_input)``.
        library
            Log library size, shape ``(batch, 1)``.
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        tuple
            ``(px_scale, px_r, px_rate, px_dropout)`` as in
            :meth:`DecoderSCVI.forward`, each ``(batch, n_output)``.
        """
        check_option(dispersion, DISPERSIONS, "dispersion")
        return scvi_outputs(
            dispersion,
            library,
            self.scale(z, *cat_list),
            self.px_dropout_decoder(z, *cat_list),
            lambda: self.px_r_decoder(z, *cat_list),
        )

    def scale(self, z: torch.Tensor, *cat_list) -> torch.Tensor:
        """Only the expression frequencies ``px_scale`` of :meth:`forward`.

        Parameters
        ----------
        z, *cat_list
            As in :meth:`forward`.

        Returns
        -------
        torch.Tensor
            ``(batch, n_output)``, rows summing to 1.
        """
        return torch.softmax(self.factor_regressor(z, *cat_list), dim=-1)

    def get_loadings(self) -> torch.Tensor:
        """Per-gene weights of the latent dimensions in the expression head.

        The batch normalisation (in its evaluation form) is folded into the weights:
        ``diag(gamma / sqrt(running_var + eps)) @ W[:, :n_input]``; covariate columns
        are left out.

        Returns
        -------
        torch.Tensor
            Detached tensor of shape ``(n_output, n_input)`` (genes by latent dims).
        """
        block = self.factor_regressor.fc_layers[0]
        weight = block[0].weight[:, : self.n_input]
        if len(block) > 1 and isinstance(block[1], nn.BatchNorm1d):
            norm = block[1]
            scale = norm.running_var.add(norm.eps).rsqrt()
            if norm.weight is not None:
                scale = scale * norm.weight
            weight = scale[:, None] * weight
        return weight.detach().clone()
