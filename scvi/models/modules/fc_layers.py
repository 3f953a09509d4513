"""Fully-connected stack with one-hot covariates injected into every layer."""

from collections import OrderedDict
from typing import Iterable, List, Optional

import torch
from torch import nn

from .utils import one_hot


class FCLayers(nn.Module):
    """A helper class to build fully-connected layers for a neural network.

    Each layer is ``Linear -> BatchNorm1d -> LayerNorm -> ReLU -> Dropout`` (all
    but the first optional). The one-hot encodings of the categorical covariates
    are concatenated to the input of every linear layer (only the first with
    ``inject_covariates=False``), after the features, so that the first ``n_in``
    input columns of the first layer's weight act on ``x``.

    Parameters
    ----------
    n_in
        The dimensionality of the input.
    n_out
        The dimensionality of the output.
    n_cat_list
        For each categorical covariate, its number of categories; covariates with
        one category or fewer are ignored (their tensors may be None).
    n_layers
        The number of fully-connected layers (at least 1).
    n_hidden
        The number of nodes per hidden layer.
    dropout_rate
        Dropout rate applied after each layer (no dropout module when 0).
    use_batch_norm
        Whether to have ``BatchNorm1d`` layers (momentum 0.01, eps 0.001).
    use_relu
        Whether to have ``ReLU`` layers.
    bias
        Whether to learn a bias in the linear layers.
    use_layer_norm
        Whether to have ``LayerNorm`` layers (without affine parameters).
    inject_covariates
        Whether the covariates enter every layer (scVI 0.6) or only the first.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n_cat_list: Optional[Iterable[int]] = None,
        n_layers: int = 1,
        n_hidden: int = 128,
        dropout_rate: float = 0.1,
        use_batch_norm: bool = True,
        use_relu: bool = True,
        bias: bool = True,
        *,
        use_layer_norm: bool = False,
        inject_covariates: bool = True,
    ):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        self.n_in, self.n_out = n_in, n_out
        self.n_cat_list: List[int] = [
            int(n) if n is not None and n > 1 else 0 for n in (n_cat_list or [])
        ]
        n_covariates = sum(self.n_cat_list)
        self.inject_covariates = inject_covariates
        dims = [n_in] + [n_hidden] * (n_layers - 1) + [n_out]
        blocks = OrderedDict()
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            d_cov = n_covariates if (i == 0 or inject_covariates) else 0
            layers = [nn.Linear(d_in + d_cov, d_out, bias=bias)]
            if use_batch_norm:
                layers.append(nn.BatchNorm1d(d_out, momentum=0.01, eps=0.001))
            if use_layer_norm:
                layers.append(nn.LayerNorm(d_out, elementwise_affine=False))
            if use_relu:
                layers.append(nn.ReLU())
            if dropout_rate > 0:
                layers.append(nn.Dropout(p=dropout_rate))
            blocks[f"Layer {i}"] = nn.Sequential(*layers)
        self.fc_layers = nn.Sequential(blocks)

    def covariates(self, dtype: torch.dtype, *cat_list) -> Optional[torch.Tensor]:
        """Concatenated one-hot encodings of the covariates (None when there are none).

        Parameters
        ----------
        dtype
            Floating dtype of the encodings.
        *cat_list
            One tensor per entry of ``n_cat_list`` (indices of shape ``(batch,)`` or
            ``(batch, 1)``, or encodings of shape ``(batch, n_cat)``); surplus
            tensors are ignored.

        Returns
        -------
        torch.Tensor or None
            Tensor of shape ``(batch, sum of the used n_cat)``.
        """
        if len(cat_list) < len(self.n_cat_list):
            raise ValueError(
                f"expected {len(self.n_cat_list)} covariate tensors "
                f"(n_cat_list={self.n_cat_list}), got {len(cat_list)}"
            )
        encoded = [
            one_hot(cat, n_cat, dtype)
            for cat, n_cat in zip(cat_list, self.n_cat_list)
            if n_cat > 0
        ]
        return torch.cat(encoded, dim=-1) if encoded else None

    def forward(self, x: torch.Tensor, *cat_list, instance_id: int = 0):
        """Forward computation on x.

        Parameters
        ----------
        x
            Tensor of shape ``(batch, n_in)`` or ``(n_samples, batch, n_in)``; with
            three dimensions the layers act on the last one and batch normalisation
            on the flattened ``(n_samples * batch, n)`` view.
        *cat_list
            Category membership(s) of the cells, one tensor per entry of
            ``n_cat_list`` (see :meth:`covariates`).
        instance_id
            Index of the normalisation instance; a single instance is built, so
            only 0 is valid.

        Returns
        -------
        torch.Tensor
            Tensor of shape ``(batch, n_out)`` or ``(n_samples, batch, n_out)``.
        """
        if instance_id != 0:
            raise ValueError(
                f"FCLayers has a single normalisation instance; got {instance_id=}"
            )
        covariates = self.covariates(x.dtype, *cat_list)
        if covariates is not None and covariates.dim() < x.dim():
            covariates = covariates.expand(*x.shape[:-1], covariates.shape[-1])
        for i, block in enumerate(self.fc_layers):
            inject = covariates is not None and (i == 0 or self.inject_covariates)
            for layer in block:
                if isinstance(layer, nn.Linear) and inject:
                    x = torch.cat([x, covariates], dim=-1)
                if isinstance(layer, nn.BatchNorm1d) and x.dim() == 3:
                    x = layer(x.reshape(-1, x.shape[-1])).view(x.shape)
                else:
                    x = layer(x)
        return x


def hidden_layers(
    n_in: int,
    n_hidden: int,
    n_cat_list: Optional[Iterable[int]] = None,
    n_layers: int = 1,
    dropout_rate: float = 0.1,
    **norm_options,
) -> FCLayers:
    """The usual trunk of the networks: :class:`FCLayers` of ``n_hidden`` units.

    Parameters
    ----------
    n_in
        The dimensionality of the input.
    n_hidden
        The number of nodes of every layer, the output included.
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    n_layers
        The number of fully-connected layers.
    dropout_rate
        Dropout rate applied after each layer.
    **norm_options
        ``use_batch_norm`` (default True), ``use_layer_norm`` and
        ``inject_covariates`` of :class:`FCLayers`.

    Returns
    -------
    FCLayers
        ``FCLayers(n_in, n_hidden, n_cat_list, n_layers, n_hidden, dropout_rate)``
        with ReLU (and batch normalisation unless ``use_batch_norm=False``).
    """
    return FCLayers(
        n_in=n_in,
        n_out=n_hidden,
        n_cat_list=n_cat_list,
        n_layers=n_layers,
        n_hidden=n_hidden,
        dropout_rate=dropout_rate,
        **norm_options,
    )
