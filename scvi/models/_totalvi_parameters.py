"""Cell-independent parameters of :class:`scvi.models.totalvi.TOTALVI`: the
inverse dispersions of genes and proteins, the per batch prior of the log
protein background mean and the mask of the proteins measured in each batch,
and their selection for the cells of a mini-batch."""

from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._categories import per_category_shape
from .modules.utils import one_hot


def per_category(
    param: torch.Tensor, index: Optional[torch.Tensor], name: str
) -> torch.Tensor:
    """Select the column of ``param`` (``(F,)`` or ``(F, n_cat)``) of every cell.

    Returns ``param`` itself when it is one-dimensional, else a ``(batch, F)``
    tensor (``index``: indices ``(batch, 1)`` / ``(batch,)`` or one-hot).
    """
    if param.dim() == 1:
        return param
    n_cat = param.shape[1]
    if index is None:
        if n_cat == 1:
            return param[:, 0]
        raise ValueError(f"{name} is needed to select among {n_cat} categories")
    return F.linear(one_hot(index, n_cat, param.dtype), param)


class TOTALVIParametersMixin:
    """Creates and selects the parameters shared by all cells of a TOTALVI (needs
    ``n_input_genes``, ``n_input_proteins``, ``n_batch``, ``n_labels``,
    ``gene_dispersion`` and ``protein_dispersion`` set)."""

    def _init_parameters(self, protein_batch_mask) -> None:
        """Create ``px_r``, ``py_r``, ``background_pro_alpha``,
        ``background_pro_log_beta`` (in scVI 0.6's order of random draws) and
        the ``protein_batch_mask`` buffer."""
        n_genes, n_proteins = self.n_input_genes, self.n_input_proteins
        n_batch, n_labels = self.n_batch, self.n_labels
        shape = per_category_shape(
            self.gene_dispersion, n_genes, n_batch, n_labels, "gene_dispersion"
        )
        self.px_r = nn.Parameter(torch.randn(shape))
        shape = per_category_shape(
            self.protein_dispersion,
            n_proteins,
            n_batch,
            n_labels,
            "protein_dispersion",
        )
        self.py_r = nn.Parameter(2.0 * torch.rand(shape))
        # prior N(alpha, exp(log_beta)^2) of the log protein background, per batch
        shape = (n_proteins, n_batch) if n_batch > 0 else (n_proteins,)
        self.background_pro_alpha = nn.Parameter(torch.randn(shape))
        self.background_pro_log_beta = nn.Parameter(
            torch.randn(shape).clamp(-10.0, 1.0)
        )
        self._register_mask(protein_batch_mask)

    def _register_mask(self, protein_batch_mask) -> None:
        """Store the ``(n_batch, P)`` float mask of measured proteins (or None)."""
        if protein_batch_mask is None:
            self.register_buffer("protein_batch_mask", None)
            return
        mask = np.stack([np.asarray(m, dtype=bool) for m in protein_batch_mask])
        if mask.shape != (max(self.n_batch, 1), self.n_input_proteins):
            raise ValueError(
                "protein_batch_mask must hold one boolean mask of "
                f"{self.n_input_proteins} proteins per batch (n_batch="
                f"{self.n_batch}); got shape {mask.shape}"
            )
        self.register_buffer("protein_batch_mask", torch.from_numpy(mask).float())

    def _mask_minibatch(self, batch_index: Optional[torch.Tensor]):
        """Mask ``(batch, P)`` of the proteins measured in each cell's batch."""
        if self.protein_batch_mask is None:
            return None
        return per_category(self.protein_batch_mask.t(), batch_index, "batch_index")

    def background_prior(
        self, batch_index: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of the prior of ``log beta`` (the protein
        background mean) of each cell: the parameters of its batch.

        Parameters
        ----------
        batch_index
            Batch of each cell, shape ``(batch_size, 1)`` (may be None with one
            batch).

        Returns
        -------
        tuple of torch.Tensor
            ``(mean, std)``, each ``(batch_size, n_input_proteins)`` (or
            ``(n_input_proteins,)`` with one batch and no ``batch_index``).
        """
        mean = per_category(self.background_pro_alpha, batch_index, "batch_index")
        log_std = per_category(self.background_pro_log_beta, batch_index, "batch_index")
        return mean, torch.exp(log_std)

    def _dispersions(self, batch_index, label) -> Tuple[torch.Tensor, torch.Tensor]:
        """Inverse dispersions ``(theta, phi)`` of genes and proteins."""
        covariates = {"batch": (batch_index, "batch_index"), "label": (label, "label")}
        result = []
        for param, mode in (
            (self.px_r, self.gene_dispersion),
            (self.py_r, self.protein_dispersion),
        ):
            index, name = covariates.get(mode.split("-")[-1], (None, ""))
            result.append(torch.exp(per_category(param, index, name)))
        return result[0], result[1]
