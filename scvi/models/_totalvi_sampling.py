"""Posterior sampling methods of :class:`scvi.models.totalvi.TOTALVI`.

:class:`TOTALVISamplingMixin` gives TOTALVI the public sampling methods of the
scVI 0.6 API. It relies on the model's ``inference``, ``encoder`` (for the mean of
the logistic normal latents) and on the outputs documented in
:meth:`scvi.models.totalvi.TOTALVI.inference`.
"""

from typing import Optional, Tuple

import torch

from ._likelihoods import gaussian_log_prob
from .modules.totalvi import MAX_LOG_LIBRARY


def protein_expression(
    py_: dict,
    sample_bern: bool = True,
    include_bg: bool = False,
    normalize_pro: bool = False,
    eps: float = 0.0,
) -> torch.Tensor:
    """Protein expression from the protein parameters ``py_`` of
    ``TOTALVI.inference``: ``(1 - b) rate_fore`` (plus ``b rate_back`` if
    ``include_bg``), ``b`` the background indicator drawn from its Bernoulli
    distribution (``sample_bern``) or its probability; divided by its sum over
    proteins if ``normalize_pro`` (a cell whose proteins are all background stays
    at 0), then plus ``eps``.

    Parameters
    ----------
    py_
        Dict with ``mixing`` (logits of the background probability),
        ``rate_fore`` and ``rate_back``.
    sample_bern, include_bg, normalize_pro, eps
        See above.

    Returns
    -------
    torch.Tensor
        The shape of ``py_["rate_fore"]``.
    """
    background = torch.sigmoid(py_["mixing"])
    if sample_bern:
        background = torch.bernoulli(background)
    protein = (1.0 - background) * py_["rate_fore"]
    if include_bg:
        protein = protein + background * py_["rate_back"]
    if normalize_pro:
        total = protein.sum(dim=-1, keepdim=True)
        protein = protein / total.clamp(min=torch.finfo(protein.dtype).tiny)
    return protein + eps


class TOTALVISamplingMixin:
    """Latents, library sizes, dispersions and expression of a fitted TOTALVI."""

    def sample_from_posterior_z(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        give_mean: bool = False,
        n_samples: int = 5000,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Access the tensor of latent values from the posterior.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input_genes)``.
        y
            Tensor of values with shape ``(batch_size, n_input_proteins)``.
        batch_index
            Tensor of batch indices, ``(batch_size, 1)``.
        give_mean
            Whether to give the mean of the distribution instead of a sample:
            ``qz_m`` for ``"normal"``, the average of the softmax of
            ``n_samples`` Gaussian draws for ``"ln"``.
        n_samples
            Number of Monte Carlo draws for the logistic normal mean.
        cont_covs, cat_covs
            Extra covariates of a model that has them, see
            :meth:`~scvi.models.TOTALVI.inference`.

        Returns
        -------
        torch.Tensor
            Tensor of shape ``(batch_size, n_latent)``.
        """
        out = self.inference(x, y, batch_index, cont_covs=cont_covs, cat_covs=cat_covs)
        if not give_mean:
            return out["z"]
        return self.encoder.transformed_mean(out["qz_m"], out["qz_v"], n_samples)

    def sample_from_posterior_l(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        give_mean: bool = True,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Provides the tensor of library size from the posterior.

        Parameters
        ----------
        x, y, batch_index, cont_covs, cat_covs
            As in :meth:`sample_from_posterior_z`.
        give_mean
            Return the mean of the log-normal posterior of the library size,
            ``exp(ql_m + ql_v / 2)``, instead of a sample.

        Returns
        -------
        torch.Tensor
            Gene library sizes (not their log), shape ``(batch_size, 1)``; the
            observed total gene counts (either way) for a model with
            ``use_observed_lib_size``.
        """
        out = self.inference(x, y, batch_index, cont_covs=cont_covs, cat_covs=cat_covs)
        if not give_mean or out["ql_m"] is None:
            return out["library_gene"]
        log_mean = out["ql_m"] + 0.5 * out["ql_v"]
        return torch.exp(log_mean.clamp(max=MAX_LOG_LIBRARY))

    def get_sample_dispersion(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        label: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns the tensors of dispersions for genes and proteins.

        Parameters
        ----------
        x, y, batch_index, label, n_samples, cont_covs, cat_covs
            As in :meth:`inference`.

        Returns
        -------
        tuple of torch.Tensor
            Inverse dispersions ``(px_r, py_r)`` of the negative binomials:
            ``(G,)`` and ``(P,)`` for per feature dispersions, else
            ``(batch_size, G)`` and ``(batch_size, P)``.
        """
        out = self.inference(
            x, y, batch_index, label, n_samples, cont_covs=cont_covs, cat_covs=cat_covs
        )
        return out["px_"]["r"], out["py_"]["r"]

    def get_sample_rate(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        label: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Returns the tensor of negative binomial mean for genes.

        Parameters
        ----------
        x, y, batch_index, label, n_samples, cont_covs, cat_covs
            As in :meth:`inference`.

        Returns
        -------
        torch.Tensor
            ``library_gene * px_scale``, shape ``(batch_size, n_input_genes)``
            (leading ``(n_samples,)`` axis when ``n_samples > 1``).
        """
        out = self.inference(
            x, y, batch_index, label, n_samples, cont_covs=cont_covs, cat_covs=cat_covs
        )
        return out["px_"]["rate"]

    def get_sample_scale(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        label: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        transform_batch: Optional[int] = None,
        eps: float = 0,
        normalize_pro: bool = False,
        sample_bern: bool = True,
        include_bg: bool = False,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns tuple of gene and protein scales.

        These scales can also be transformed into a particular batch. This
        function is the core of differential expression.

        Parameters
        ----------
        x, y, batch_index, label, n_samples, cont_covs, cat_covs
            As in :meth:`inference`.
        transform_batch
            Int of batch to "transform" all cells into.
        eps
            Prior count to add to protein normalized expression.
        normalize_pro
            Whether to make protein expression sum to one in a cell.
        sample_bern
            Whether to sample the background indicator from its Bernoulli
            distribution (``1``: background) instead of using its probability.
        include_bg
            Whether to include the background component of expression.

        Returns
        -------
        tuple of torch.Tensor
            Gene frequencies ``(batch_size, G)`` (rows sum to 1) and protein
            expression ``(batch_size, P)``: ``(1 - b) rate_fore (+ b rate_back``
            if ``include_bg``) with ``b`` the background indicator or
            probability, divided by its row sum if ``normalize_pro``, plus
            ``eps`` (added after the normalisation, as in scVI 0.6.8). Leading
            ``(n_samples,)`` axis when ``n_samples > 1``.
        """
        out = self.inference(
            x,
            y,
            batch_index,
            label,
            n_samples,
            transform_batch,
            cont_covs=cont_covs,
            cat_covs=cat_covs,
        )
        protein = protein_expression(
            out["py_"], sample_bern, include_bg, normalize_pro, eps
        )
        return out["px_"]["scale"], protein

    def log_importance_weight(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        local_l_mean_gene: torch.Tensor,
        local_l_var_gene: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        label: Optional[torch.Tensor] = None,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """One importance-sampling term of ``log p(x, y)`` per cell.

        With ``(z, l, beta)`` drawn from the variational posterior (``z`` and
        ``l`` before their transformations, ``beta`` the log background means):
        ``log p(x, y | z, l, beta) + log p(z) + log p(l) + log p(beta) - log q(z)
        - log q(l) - log q(beta)``; unmeasured proteins (``protein_batch_mask``)
        count for nothing. The log-mean-exp of many such terms estimates the
        marginal log-likelihood. An observed library (``use_observed_lib_size``)
        is not integrated: its terms ``log p(l) - log q(l)`` are left out.

        Parameters
        ----------
        x, y, local_l_mean_gene, local_l_var_gene, batch_index, label
            As in :meth:`forward`.
        cont_covs, cat_covs
            As in :meth:`inference`.

        Returns
        -------
        torch.Tensor
            Shape ``(batch_size,)``.
        """
        out = self.inference(
            x, y, batch_index, label, cont_covs=cont_covs, cat_covs=cat_covs
        )
        mask = self._mask_minibatch(batch_index)
        reconst_gene, reconst_protein = self.get_reconstruction_loss(
            x, y, out["px_"], out["py_"], mask
        )
        z, l_ = out["untran_z"], out["untran_l"]
        log_w = -reconst_gene - reconst_protein
        log_w = log_w + gaussian_log_prob(z, 0.0, 1.0)
        log_w = log_w - gaussian_log_prob(z, out["qz_m"], out["qz_v"])
        if out["ql_m"] is not None:
            log_w = log_w + gaussian_log_prob(l_, local_l_mean_gene, local_l_var_gene)
            log_w = log_w - gaussian_log_prob(l_, out["ql_m"], out["ql_v"])
        py_, beta = out["py_"], out["log_pro_back_mean"]
        prior_mean, prior_std = self.background_prior(batch_index)
        log_back = gaussian_log_prob(beta, prior_mean, prior_std**2, False)
        log_back = log_back - gaussian_log_prob(
            beta, py_["back_alpha"], py_["back_beta"] ** 2, False
        )
        if mask is not None:
            log_back = log_back * mask
        return log_w + log_back.sum(dim=-1)
