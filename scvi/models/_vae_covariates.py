"""Covariates of the scVI-family networks under the opt-in model options.

scVI 0.6 feeds the batch to the decoder only. The options of
:mod:`scvi.models._vae_options` add the batch (and extra categorical covariates)
to the encoders (``encode_covariates``), extra categorical covariates to the
decoder, and continuous covariates concatenated to the decoder's latent input
(and to the encoders' input with ``encode_covariates``).

Extra covariates are cell attributes of the dataset, registered with
``dataset.initialize_cell_attribute``: :data:`CONT_COVS_KEY` (float values,
``(n_cells, n_continuous_cov)``) and :data:`CAT_COVS_KEY` (integer codes,
``(n_cells, len(n_cats_per_cov))``). A Posterior of such a model appends them to
each mini-batch (:func:`covariate_dtypes`), and its queries hand them to the
model (:func:`covariate_kwargs`).
"""

from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ._vae_options import check_cont_covs, split_cat_covs

#: cell attribute of the continuous covariates
CONT_COVS_KEY = "cont_covs"
#: cell attribute of the extra categorical covariates
CAT_COVS_KEY = "cat_covs"


class VAECovariatesMixin:
    """Assembles the inputs of the encoders and the decoder of a :class:`VAE`
    (and of a :class:`~scvi.models.TOTALVI`, whose networks have no labels'
    slot and whose ``encoder_batch`` is ``encode_covariates``).

    Relies on ``n_batch``, ``encode_covariates``, ``n_continuous_cov`` and
    ``n_cats_per_cov`` set by the model.
    """

    #: whether the networks' categorical covariates keep a slot for the labels
    #: (the VAE family's layout; TOTALVI's networks have none)
    _label_slot = True

    def _slot(self, value) -> tuple:
        """``(value,)`` where the networks have a labels' slot, else ``()``."""
        return (value,) if self._label_slot else ()

    def _encoder_cat_list(self) -> Optional[list]:
        """``n_cat_list`` of the encoders: ``[labels slot, n_batch, *cats]``."""
        if not self.encode_covariates:
            return None
        return [*self._slot(0), self.n_batch, *self.n_cats_per_cov]

    def _decoder_cat_list(self) -> list:
        """``n_cat_list`` of the decoder: ``[n_batch, labels slot, *cats]``."""
        return [self.n_batch, *self._slot(0), *self.n_cats_per_cov]

    def _encoder_args(
        self,
        x_: torch.Tensor,
        y: Optional[torch.Tensor],
        batch_index: Optional[torch.Tensor],
        cont_covs: Optional[torch.Tensor],
        cat_covs: Optional[torch.Tensor],
    ) -> tuple:
        """``(features, *covariates)`` for an encoder of the transformed counts.

        The labels come first (a subclass' encoder may take them), then, with
        ``encode_covariates``, the batch and extra categorical covariates; the
        continuous covariates are appended to the features.
        """
        if not self.encode_covariates:
            return (x_, *self._slot(y))
        if self.n_batch > 1 and batch_index is None:
            raise ValueError("encode_covariates=True needs batch_index (batch, 1)")
        cont = check_cont_covs(cont_covs, self.n_continuous_cov)
        if cont is not None:
            x_ = torch.cat([x_, cont.to(x_.dtype)], dim=-1)
        cats = split_cat_covs(cat_covs, len(self.n_cats_per_cov))
        return (x_, *self._slot(y), batch_index, *cats)

    def _decoder_args(
        self,
        z: torch.Tensor,
        batch_index: Optional[torch.Tensor],
        y: Optional[torch.Tensor],
        cont_covs: Optional[torch.Tensor],
        cat_covs: Optional[torch.Tensor],
    ) -> tuple:
        """``(latent input, batch_index, y, *cats)`` for the decoder (no ``y``
        without a labels' slot); continuous covariates are appended to ``z``
        (broadcast over a samples axis)."""
        cont = check_cont_covs(cont_covs, self.n_continuous_cov)
        if cont is not None:
            cont = cont.to(z.dtype).expand(*z.shape[:-1], cont.shape[-1])
            z = torch.cat([z, cont], dim=-1)
        cats = split_cat_covs(cat_covs, len(self.n_cats_per_cov))
        return (z, batch_index, *self._slot(y), *cats)

    @property
    def covariate_attributes(self) -> Dict[str, tuple]:
        """Cell attributes a mini-batch must carry: name -> (keyword, dtype)."""
        out = {}
        if self.n_continuous_cov:
            out[CONT_COVS_KEY] = ("cont_covs", np.float32)
        if self.n_cats_per_cov:
            out[CAT_COVS_KEY] = ("cat_covs", np.int64)
        return out


def covariate_dtypes(model) -> Dict[str, type]:
    """Dataset attributes (name -> NumPy dtype) that ``model`` needs in batches.

    Parameters
    ----------
    model
        Any model; only those with ``covariate_attributes`` need some.

    Returns
    -------
    dict
        Empty for scVI 0.6 models.
    """
    attributes = getattr(model, "covariate_attributes", None) or {}
    return {name: dtype for name, (_, dtype) in attributes.items()}


def covariate_kwargs(
    model, tensors: Sequence[torch.Tensor], encoder: bool = False
) -> Dict[str, torch.Tensor]:
    """Keyword arguments carrying a mini-batch's covariates to ``model``.

    Parameters
    ----------
    model
        The model of the Posterior.
    tensors
        A mini-batch ``(x, local_l_mean, local_l_var, batch_index, labels, ...)``
        whose last tensors are those of :func:`covariate_dtypes`.
    encoder
        Also give ``batch_index`` when the model encodes covariates (for the
        latent queries, whose 0.6 signatures take no batch).

    Returns
    -------
    dict
        ``cont_covs`` / ``cat_covs`` / ``batch_index`` as the model needs; empty
        for scVI 0.6 models.
    """
    attributes = getattr(model, "covariate_attributes", None) or {}
    kwargs = {}
    if attributes:
        tail = tensors[len(tensors) - len(attributes) :]
        kwargs = {kw: t for (kw, _), t in zip(attributes.values(), tail)}
    if encoder and getattr(model, "encode_covariates", False):
        kwargs["batch_index"] = tensors[3]
    return kwargs
