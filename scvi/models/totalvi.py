"""totalVI: joint model of RNA and surface protein counts (Gayoso et al.).

Generative model of a cell with gene counts ``x`` (``G`` genes), protein counts
``y`` (``P`` proteins) and batch ``s``::

    z ~ LogisticNormal(0, I) (or N(0, I))   latent cell state
    l ~ N(local_l_mean, local_l_var)        log gene library size (or observed:
                                            log total count, no prior, no q)
    x_g ~ NB(exp(l) rho_g(z, s), theta_g)   (or ZINB with dropout logits)
    log beta_t ~ N(c_t^s, d_t^s)            protein background mean (per batch)
    y_t ~ pi_t NB(beta_t, phi_t) + (1 - pi_t) NB(alpha_t beta_t, phi_t)

with ``alpha_t = fore_scale >= 1``, ``pi_t(z, s)`` the probability of the
background component and ``phi_t`` the protein inverse dispersion. The posterior
``q(z, l | x, y)`` is amortised by :class:`EncoderTOTALVI` on
``concat(x, y)`` and ``q(log beta | z)`` by :class:`DecoderTOTALVI`. The public
sampling methods come from
:class:`scvi.models._totalvi_sampling.TOTALVISamplingMixin`, the dispersions,
background prior and protein mask from
:class:`scvi.models._totalvi_parameters.TOTALVIParametersMixin`. The opt-in
options of issue 23 (observed library, normalisation placement, covariate
injection, ``preset``) and its extra continuous and categorical covariates
(:class:`~scvi.models._vae_covariates.VAECovariatesMixin`) are those of
:class:`~scvi.models.VAE`.
"""

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ._categories import decoder_batch_index
from ._likelihoods import count_log_likelihood, gaussian_kl
from ._totalvi_parameters import TOTALVIParametersMixin
from ._totalvi_sampling import TOTALVISamplingMixin
from ._vae_covariates import VAECovariatesMixin
from ._vae_options import (
    check_covariates,
    norm_options,
    observed_log_library,
    resolve_model_options,
)
from .log_likelihood import log_mixture_nb
from .modules import DecoderTOTALVI, EncoderTOTALVI, reparameterize_gaussian
from .modules.totalvi import MAX_LOG_LIBRARY
from .modules.utils import check_option, expand_samples

GENE_DISPERSIONS = ("gene", "gene-batch", "gene-label")
PROTEIN_DISPERSIONS = ("protein", "protein-batch", "protein-label")
GENE_LOSSES = ("nb", "zinb")
LATENT_DISTRIBUTIONS = ("normal", "ln")


class TOTALVI(
    VAECovariatesMixin, TOTALVIParametersMixin, TOTALVISamplingMixin, nn.Module
):
    """Total variational inference for CITE-seq data.

    Implements the totalVI model of [Gayoso19].

    Parameters
    ----------
    n_input_genes
        Number of input genes.
    n_input_proteins
        Number of input proteins.
    n_batch
        Number of batches.
    n_labels
        Number of labels.
    n_hidden
        Number of nodes per hidden layer for the z encoder (protein+genes), genes
        library encoder, z->genes+proteins decoder.
    n_latent
        Dimensionality of the latent space.
    n_layers_encoder, n_layers_decoder
        Number of hidden layers of the encoder and of the gene decoder.
    dropout_rate_decoder, dropout_rate_encoder
        Dropout rates of the decoder and the encoder.
    gene_dispersion
        ``"gene"`` (constant per gene across cells), ``"gene-batch"`` (differs
        between batches) or ``"gene-label"`` (differs between labels).
    protein_dispersion
        ``"protein"``, ``"protein-batch"`` or ``"protein-label"``, likewise.
    log_variational
        Log(data+1) prior to encoding for numerical stability. Not normalization.
    reconstruction_loss_gene
        ``"nb"`` (negative binomial) or ``"zinb"`` (zero-inflated NB).
    latent_distribution
        ``"normal"`` (isotropic normal) or ``"ln"`` (logistic normal with normal
        parameters ``N(0, 1)``).
    protein_batch_mask
        Per batch, a boolean array of length ``n_input_proteins`` telling which
        proteins were measured in that batch (a sequence of ``n_batch`` arrays or an
        array of shape ``(n_batch, n_input_proteins)``); unmeasured proteins add
        nothing to the protein reconstruction loss nor to the background KL, and
        the encoder sees them as zeros.
    encoder_batch
        Whether the encoder receives the batch as a covariate: totalVI's name for
        the ``encode_covariates`` option of :class:`~scvi.models.VAE` (default
        True, as in scVI 0.6 and scvi-tools; presets leave it as given).
    use_observed_lib_size
        Keyword-only (like all that follow; None takes the ``preset``'s value).
        Use each cell's observed total gene count as the gene library size
        instead of the library encoder ``q(l | x, y)``: no ``l_gene_encoder``, no
        library KL term (``kl_div_l_gene`` is 0), and the marginal likelihood
        integrates no library.
    use_batch_norm, use_layer_norm
        Where batch / layer normalisation applies: ``"none"``, ``"encoder"``,
        ``"decoder"`` or ``"both"`` (scVI 0.6: batch norm ``"both"``, layer norm
        ``"none"``); the decoder's one-layer heads have neither.
    deeply_inject_covariates
        Concatenate the batch to every hidden layer of a stack (scVI 0.6) rather
        than to its first only: matters for ``n_layers_decoder > 1`` (and
        ``n_layers_encoder > 1`` with ``encoder_batch``).
    n_continuous_cov
        Number of continuous covariates (cell attribute ``"cont_covs"``),
        appended to the decoder's latent input (and to the encoder's input with
        ``encoder_batch``).
    n_cats_per_cov
        Number of categories of each extra categorical covariate (cell attribute
        ``"cat_covs"``, one integer column per covariate), injected one-hot like
        the batch into the decoder (and the encoder with ``encoder_batch``).
    preset
        ``"scvi-0.6"`` (default) or ``"modern"``, read from
        :data:`scvi.models._vae_options.MODEL_PRESETS` (its
        ``encode_covariates`` is not used: ``encoder_batch`` plays that part).
        Options given explicitly override the preset's.

    Examples
    --------
    >>> dataset = Dataset10X(dataset_name="pbmc_10k_protein_v3", save_path=save_path)
    >>> totalvae = TOTALVI(dataset.nb_genes, len(dataset.protein_names))
    """

    _label_slot = False  # the networks take the batch and extra covariates only

    def __init__(
        self,
        n_input_genes: int,
        n_input_proteins: int,
        n_batch: int = 0,
        n_labels: int = 0,
        n_hidden: int = 256,
        n_latent: int = 20,
        n_layers_encoder: int = 1,
        n_layers_decoder: int = 1,
        dropout_rate_decoder: float = 0.2,
        dropout_rate_encoder: float = 0.2,
        gene_dispersion: str = "gene",
        protein_dispersion: str = "protein",
        log_variational: bool = True,
        reconstruction_loss_gene: str = "nb",
        latent_distribution: str = "ln",
        protein_batch_mask: Optional[Union[Sequence, np.ndarray]] = None,
        encoder_batch: bool = True,
        *,
        use_observed_lib_size: Optional[bool] = None,
        use_batch_norm: Optional[str] = None,
        use_layer_norm: Optional[str] = None,
        deeply_inject_covariates: Optional[bool] = None,
        n_continuous_cov: int = 0,
        n_cats_per_cov: Optional[Sequence[int]] = None,
        preset: Optional[str] = None,
    ):
        super().__init__()
        options = resolve_model_options(
            preset,
            use_observed_lib_size=use_observed_lib_size,
            deeply_inject_covariates=deeply_inject_covariates,
            use_batch_norm=use_batch_norm,
            use_layer_norm=use_layer_norm,
        )
        options["encode_covariates"] = bool(encoder_batch)
        self.model_options = options
        self.use_observed_lib_size = options["use_observed_lib_size"]
        self.encode_covariates = options["encode_covariates"]
        self.n_continuous_cov, self.n_cats_per_cov = check_covariates(
            n_continuous_cov, n_cats_per_cov
        )
        self.gene_dispersion = check_option(
            gene_dispersion, GENE_DISPERSIONS, "gene_dispersion"
        )
        self.protein_dispersion = check_option(
            protein_dispersion, PROTEIN_DISPERSIONS, "protein_dispersion"
        )
        self.reconstruction_loss_gene = check_option(
            reconstruction_loss_gene, GENE_LOSSES, "reconstruction_loss_gene"
        )
        self.latent_distribution = check_option(
            latent_distribution, LATENT_DISTRIBUTIONS, "latent_distribution"
        )
        self.n_input_genes, self.n_input_proteins = n_input_genes, n_input_proteins
        self.n_batch, self.n_labels, self.n_latent = n_batch, n_labels, n_latent
        self.log_variational = log_variational
        self.encoder_batch = encoder_batch

        self._init_parameters(protein_batch_mask)

        n_encoded = n_input_genes + n_input_proteins
        self.encoder = EncoderTOTALVI(
            n_encoded + self.n_continuous_cov * self.encode_covariates,
            n_latent,
            n_cat_list=self._encoder_cat_list(),
            n_layers=n_layers_encoder,
            n_hidden=n_hidden,
            dropout_rate=dropout_rate_encoder,
            distribution=latent_distribution,
            encode_library=not self.use_observed_lib_size,
            **norm_options(options, "encoder"),
        )
        self.decoder = DecoderTOTALVI(
            n_latent + self.n_continuous_cov,
            n_input_genes,
            n_input_proteins,
            n_cat_list=self._decoder_cat_list(),
            n_layers=n_layers_decoder,
            n_hidden=n_hidden,
            dropout_rate=dropout_rate_decoder,
            **norm_options(options, "decoder"),
        )

    @property
    def loss_uses_gene_dropout(self) -> bool:
        """Whether the gene likelihood (``"zinb"``) uses the zero-inflation logits;
        the training loss skips their decoder head otherwise."""
        return self.reconstruction_loss_gene == "zinb"

    # ---------------------------------------------------------------- inference
    def inference(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        label: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        transform_batch: Optional[int] = None,
        *,
        gene_dropout: bool = True,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> Dict[str, Union[torch.Tensor, Dict[str, torch.Tensor]]]:
        """Internal helper function to compute necessary inference quantities.

        The dict ``px_`` holds the parameters of the NB / ZINB of the genes:
        ``rate`` (the NB mean), ``dropout`` (zero-inflation logits), ``scale``
        (frequencies, the quantity differential expression works on) and ``r``
        (inverse dispersion). The dict ``py_`` holds those of the protein NB
        mixture: ``rate_fore`` and ``rate_back`` (foreground and background
        means), ``mixing`` (logits of the background probability), ``scale``
        (foreground mean weighted by the foreground probability, on the simplex),
        ``back_alpha`` and ``back_beta`` (mean and standard deviation of the
        posterior of ``log(rate_back)``), ``fore_scale`` (``rate_fore /
        rate_back >= 1``) and ``r`` (inverse dispersion).

        Parameters
        ----------
        x
            Gene counts, shape ``(batch_size, n_input_genes)``.
        y
            Protein counts, shape ``(batch_size, n_input_proteins)``.
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.
        label
            Cell-type labels, shape ``(batch_size, 1)``.
        n_samples
            Number of posterior samples; above 1 the samples get a leading
            ``(n_samples,)`` axis.
        transform_batch
            If given, the decoder sees every cell as coming from this batch.
        gene_dropout
            Whether to compute the genes' zero-inflation logits ``px_["dropout"]``
            (None if False); the loss needs them only when
            :attr:`loss_uses_gene_dropout`.
        cont_covs, cat_covs
            Extra covariates: continuous ``(batch_size, n_continuous_cov)`` and
            categorical codes ``(batch_size, len(n_cats_per_cov))``; required
            when the model has them (a ValueError otherwise).

        Returns
        -------
        dict
            ``px_`` and ``py_`` (dicts of ``(..., batch_size, G)`` and ``(...,
            batch_size, P)`` tensors; ``r`` is ``(G,)`` / ``(P,)`` for the per
            feature dispersions, else ``(batch_size, G)`` / ``(batch_size, P)``),
            ``qz_m``, ``qz_v``, ``z``, ``untran_z`` (``(..., batch_size,
            n_latent)``), ``ql_m``, ``ql_v``, ``library_gene`` (library size),
            ``untran_l`` (its log) (``(..., batch_size, 1)``) and
            ``log_pro_back_mean`` (the sample of ``log(rate_back)``). With
            ``use_observed_lib_size``, ``ql_m`` and ``ql_v`` are None and
            ``untran_l`` is the log of the cell's total gene count.
        """
        mask = self._mask_minibatch(batch_index)
        if mask is not None:  # the encoder does not see unmeasured proteins
            y = y * mask
        data = torch.cat([x, y], dim=-1)
        if self.log_variational:
            data = torch.log1p(data)
        args = self._encoder_args(data, None, batch_index, cont_covs, cat_covs)
        qz_m, qz_v, ql_m, ql_v, latent, untran = self.encoder(*args)
        z, untran_z, untran_l = latent["z"], untran["z"], untran["l"]
        if self.use_observed_lib_size:
            untran_l = observed_log_library(x)
        if n_samples > 1:
            qz_m, qz_v = expand_samples(n_samples, qz_m, qz_v)
            z, untran_z = self.encoder.reparameterize_transformation(qz_m, qz_v)
            if ql_m is None:  # observed: the same library for every sample
                untran_l = expand_samples(n_samples, untran_l)[0]
            else:  # drawn after z, scVI 0.6's random stream
                ql_m, ql_v = expand_samples(n_samples, ql_m, ql_v)
                untran_l = reparameterize_gaussian(ql_m, ql_v)
                untran_l = untran_l.clamp(max=MAX_LOG_LIBRARY)
        library_gene = torch.exp(untran_l)
        batch_index = decoder_batch_index(x, batch_index, transform_batch)
        z_in, *covariates = self._decoder_args(
            z, batch_index, None, cont_covs, cat_covs
        )
        px_, py_, log_pro_back_mean = self.decoder(
            z_in, library_gene, *covariates, gene_dropout=gene_dropout
        )
        px_["r"], py_["r"] = self._dispersions(batch_index, label)
        return dict(
            px_=px_,
            py_=py_,
            qz_m=qz_m,
            qz_v=qz_v,
            z=z,
            untran_z=untran_z,
            ql_m=ql_m,
            ql_v=ql_v,
            library_gene=library_gene,
            untran_l=untran_l,
            log_pro_back_mean=log_pro_back_mean,
        )

    # ------------------------------------------------------------------- losses
    def get_reconstruction_loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        px_: Dict[str, torch.Tensor],
        py_: Dict[str, torch.Tensor],
        pro_batch_mask_minibatch: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Compute reconstruction loss.

        Parameters
        ----------
        x
            Gene counts, shape ``(batch_size, n_input_genes)``.
        y
            Protein counts, shape ``(batch_size, n_input_proteins)``.
        px_, py_
            Gene and protein parameters from :meth:`inference`.
        pro_batch_mask_minibatch
            Optional 0/1 weights ``(batch_size, n_input_proteins)``: proteins
            with weight 0 are left out of the protein loss.

        Returns
        -------
        tuple of torch.Tensor
            ``(reconst_loss_gene, reconst_loss_protein)``: ``-log p(x | .)`` and
            ``-log p(y | .)`` summed over features, each of shape ``(...,
            batch_size)``.
        """
        log_px = count_log_likelihood(
            self.reconstruction_loss_gene, x, px_["rate"], px_["r"], px_["dropout"]
        )
        log_py = log_mixture_nb(
            y, py_["rate_back"], py_["rate_fore"], py_["r"], None, py_["mixing"]
        )
        if pro_batch_mask_minibatch is not None:
            log_py = log_py * pro_batch_mask_minibatch
        return -log_px.sum(dim=-1), -log_py.sum(dim=-1)

    def forward(
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
    ) -> Tuple[torch.Tensor, ...]:
        """Returns the reconstruction loss and the Kullback divergences.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input_genes)``.
        y
            Tensor of values with shape ``(batch_size, n_input_proteins)``.
        local_l_mean_gene
            Means of the prior of the log gene library, ``(batch_size, 1)``.
        local_l_var_gene
            Variances of the prior of the log gene library, ``(batch_size, 1)``.
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.
        label
            Cell-type labels, shape ``(batch_size, 1)``.
        cont_covs, cat_covs
            Extra covariates, see :meth:`inference`.

        Returns
        -------
        tuple of torch.Tensor
            Five tensors of shape ``(batch_size,)``: ``reconst_loss_gene``,
            ``reconst_loss_protein``, ``kl_div_z`` (``KL(q(z) || N(0, I))`` on the
            Gaussian before the latent transformation), ``kl_div_l_gene`` (KL of
            the log library from ``N(local_l_mean_gene, local_l_var_gene)``; 0
            with ``use_observed_lib_size``) and
            ``kl_div_back_pro`` (KL of ``q(log rate_back)`` from the per batch
            background prior, summed over the measured proteins). Their sum is
            the negative ELBO of each cell.
        """
        out = self.inference(
            x,
            y,
            batch_index,
            label,
            gene_dropout=self.loss_uses_gene_dropout,
            cont_covs=cont_covs,
            cat_covs=cat_covs,
        )
        return self.negative_elbo_terms(
            out, x, y, local_l_mean_gene, local_l_var_gene, batch_index
        )

    def negative_elbo_terms(
        self,
        out: Dict,
        x: torch.Tensor,
        y: torch.Tensor,
        local_l_mean_gene: torch.Tensor,
        local_l_var_gene: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, ...]:
        """The five terms of :meth:`forward` from the outputs of :meth:`inference`
        (so that a trainer can also use the latent sample ``out["z"]``).

        Parameters
        ----------
        out
            The dict returned by :meth:`inference` for ``x``, ``y``, ``batch_index``.
        x, y, local_l_mean_gene, local_l_var_gene, batch_index
            As in :meth:`forward`.

        Returns
        -------
        tuple of torch.Tensor
            As :meth:`forward`.
        """
        mask = self._mask_minibatch(batch_index)
        reconst_gene, reconst_protein = self.get_reconstruction_loss(
            x, y, out["px_"], out["py_"], mask
        )
        kl_z = gaussian_kl(out["qz_m"], out["qz_v"])
        if out["ql_m"] is None:  # an observed library has no KL term
            kl_l = torch.zeros_like(kl_z)
        else:
            kl_l = gaussian_kl(
                out["ql_m"], out["ql_v"], local_l_mean_gene, local_l_var_gene
            )
        prior_mean, prior_std = self.background_prior(batch_index)
        py_ = out["py_"]
        kl_back = gaussian_kl(
            py_["back_alpha"], py_["back_beta"] ** 2, prior_mean, prior_std**2, False
        )
        if mask is not None:
            kl_back = kl_back * mask
        return reconst_gene, reconst_protein, kl_z, kl_l, kl_back.sum(dim=-1)
