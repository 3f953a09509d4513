"""scVI: variational auto-encoder for single-cell RNA-seq counts (Lopez et al. 2018).

Generative model of a cell with counts ``x`` (``n_input`` genes) and batch ``s``::

    z ~ N(0, I)                         (latent cell state, n_latent dims)
    l ~ N(local_l_mean, local_l_var)    (log library size, per-batch prior)
    rho = f(z, s)                       (expression frequencies, softmax over genes)
    x_g ~ ZINB / NB / Poisson(mean exp(l) rho_g, inverse dispersion theta_g,
                               dropout logits pi_g(z, s))

The variational posterior ``q(z | x) q(l | x)`` is given by two Gaussian encoders.
Subclasses change one piece at a time through the overridable steps
:meth:`VAE.encode` (posterior parameters and samples), :meth:`VAE.generative`
(decoder outputs), :meth:`VAE.inverse_dispersion` (``theta`` per mode),
:meth:`VAE.get_reconstruction_loss` and :meth:`VAE.kl_divergences`. The public
sampling methods (``get_latents``, ``sample_from_posterior_z``,
``sample_from_posterior_l``, ``get_sample_scale``, ``get_sample_rate``) come from
:class:`scvi.models._vae_sampling.VAESamplingMixin`.
"""

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ._categories import decoder_batch_index, init_px_r, per_category_value
from ._likelihoods import count_log_likelihood, gaussian_kl
from ._vae_covariates import VAECovariatesMixin
from ._vae_options import (
    check_covariates,
    norm_options,
    observed_log_library,
    resolve_model_options,
)
from ._vae_sampling import VAESamplingMixin
from .modules import DecoderSCVI, Encoder
from .modules.utils import check_option, expand_samples

DISPERSIONS = ("gene", "gene-batch", "gene-label", "gene-cell")
RECONSTRUCTION_LOSSES = ("zinb", "nb", "poisson")
LATENT_DISTRIBUTIONS = ("normal", "ln")


class VAE(VAECovariatesMixin, VAESamplingMixin, nn.Module):
    """Variational auto-encoder model.

    This is an implementation of the scVI model described in [Lopez18].

    Parameters
    ----------
    n_input
        Number of input genes.
    n_batch
        Number of batches; if 0, no batch correction is performed.
    n_labels
        Number of labels (used by the ``"gene-label"`` dispersion).
    n_hidden
        Number of nodes per hidden layer.
    n_latent
        Dimensionality of the latent space.
    n_layers
        Number of hidden layers used for encoder and decoder NNs.
    dropout_rate
        Dropout rate for neural networks.
    dispersion
        One of ``"gene"`` (dispersion parameter of NB is constant per gene across
        cells), ``"gene-batch"`` (can differ between batches), ``"gene-label"``
        (can differ between labels) or ``"gene-cell"`` (differs for every gene in
        every cell, decoded from ``z``).
    log_variational
        Log(data+1) prior to encoding for numerical stability. Not normalization.
    reconstruction_loss
        ``"zinb"`` (zero-inflated negative binomial), ``"nb"`` (negative binomial)
        or ``"poisson"``.
    latent_distribution
        ``"normal"`` (Gaussian ``z``) or ``"ln"`` (logistic normal: ``z`` is the
        softmax of a Gaussian sample and lies on the simplex).
    use_observed_lib_size
        Keyword-only (like all that follow; None takes the ``preset``'s value).
        Use each cell's observed log total count as ``l`` instead of the library
        encoder ``q(l | x)`` (no library encoder, no library KL term).
    encode_covariates
        Feed the batch (and the extra categorical and continuous covariates) to
        the encoders too.
    deeply_inject_covariates
        Concatenate the categorical covariates to every hidden layer (scVI 0.6)
        rather than to the first only.
    use_batch_norm, use_layer_norm
        Where batch / layer normalisation applies: ``"none"``, ``"encoder"``,
        ``"decoder"`` or ``"both"`` (scVI 0.6: batch norm ``"both"``, layer norm
        ``"none"``).
    n_continuous_cov
        Number of continuous covariates (cell attribute ``"cont_covs"``),
        appended to the decoder's input (and the encoders' with
        ``encode_covariates``).
    n_cats_per_cov
        Number of categories of each extra categorical covariate (cell attribute
        ``"cat_covs"``, one integer column per covariate), injected one-hot like
        the batch.
    preset
        ``"scvi-0.6"`` (default) or ``"modern"``: observed library size, layer
        norm in encoder and decoder, no batch norm, deep covariate injection
        (scvi-tools 1.x' recommended architecture). Options given explicitly
        override the preset's.

    Notes
    -----
    By default the encoders see the counts only: the batch enters the decoder
    (and the ``"gene-batch"`` dispersion). With ``encode_covariates`` the
    latent queries need the batch (``sample_from_posterior_z(x,
    batch_index=...)``); Posterior queries pass it.

    Examples
    --------
    >>> gene_dataset = CortexDataset()
    >>> vae = VAE(gene_dataset.nb_genes, n_batch=gene_dataset.n_batches * False,
    ... n_labels=gene_dataset.n_labels)
    """

    def __init__(
        self,
        n_input: int,
        n_batch: int = 0,
        n_labels: int = 0,
        n_hidden: int = 128,
        n_latent: int = 10,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        dispersion: str = "gene",
        log_variational: bool = True,
        reconstruction_loss: str = "zinb",
        latent_distribution: str = "normal",
        *,
        use_observed_lib_size: Optional[bool] = None,
        encode_covariates: Optional[bool] = None,
        deeply_inject_covariates: Optional[bool] = None,
        use_batch_norm: Optional[str] = None,
        use_layer_norm: Optional[str] = None,
        n_continuous_cov: int = 0,
        n_cats_per_cov: Optional[Sequence[int]] = None,
        preset: Optional[str] = None,
    ):
        super().__init__()
        options = resolve_model_options(
            preset,
            use_observed_lib_size=use_observed_lib_size,
            encode_covariates=encode_covariates,
            deeply_inject_covariates=deeply_inject_covariates,
            use_batch_norm=use_batch_norm,
            use_layer_norm=use_layer_norm,
        )
        self.model_options = options
        self.use_observed_lib_size = options["use_observed_lib_size"]
        self.encode_covariates = options["encode_covariates"]
        self.n_continuous_cov, self.n_cats_per_cov = check_covariates(
            n_continuous_cov, n_cats_per_cov
        )
        self.dispersion = check_option(dispersion, DISPERSIONS, "dispersion")
        self.reconstruction_loss = check_option(
            reconstruction_loss, RECONSTRUCTION_LOSSES, "reconstruction_loss"
        )
        self.latent_distribution = check_option(
            latent_distribution, LATENT_DISTRIBUTIONS, "latent_distribution"
        )
        self.n_input, self.n_batch, self.n_labels = n_input, n_batch, n_labels
        self.n_latent = n_latent
        self.log_variational = log_variational
        self.px_r = init_px_r(dispersion, n_input, n_batch, n_labels)
        n_encoded = n_input + self.n_continuous_cov * self.encode_covariates
        encoder_options = dict(
            n_cat_list=self._encoder_cat_list(),
            n_hidden=n_hidden,
            dropout_rate=dropout_rate,
            **norm_options(options, "encoder"),
        )
        self.z_encoder = Encoder(
            n_encoded,
            n_latent,
            n_layers=n_layers,
            distribution=latent_distribution,
            **encoder_options,
        )
        if not self.use_observed_lib_size:  # 0.6: an encoder of log library size
            self.l_encoder = Encoder(n_encoded, 1, n_layers=1, **encoder_options)
        self.decoder = DecoderSCVI(
            n_latent + self.n_continuous_cov,
            n_input,
            n_cat_list=self._decoder_cat_list(),
            n_layers=n_layers,
            n_hidden=n_hidden,
            **norm_options(options, "decoder"),
        )

    # ------------------------------------------------------------------ steps
    def _encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """``log(1 + x)`` when ``log_variational``, else ``x``."""
        return torch.log1p(x) if self.log_variational else x

    def _label_covariate(self, x: torch.Tensor, y: Optional[torch.Tensor]):
        """Labels fed to the networks (a hook: semi-supervised models fill gaps)."""
        return y

    def encode(
        self,
        x: torch.Tensor,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        *,
        batch_index: Optional[torch.Tensor] = None,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Parameters of ``q(z | x)`` and ``q(l | x)`` and samples of both.

        Parameters
        ----------
        x
            Counts, shape ``(batch, n_input)``.
        y
            Labels ``(batch, 1)`` (or one-hot ``(batch, n_labels)``), passed to
            the ``z`` encoder as a covariate when it has one.
        n_samples
            Number of posterior samples; above 1 every output gets a leading
            ``(n_samples,)`` axis.
        batch_index, cont_covs, cat_covs
            Covariates of the encoders (used with ``encode_covariates``): batch
            ``(batch, 1)``, continuous ``(batch, n_continuous_cov)`` and
            categorical codes ``(batch, len(n_cats_per_cov))``.

        Returns
        -------
        dict of torch.Tensor
            ``qz_m``, ``qz_v``, ``z``, ``untran_z`` (the Gaussian sample before
            the latent transformation; equal to ``z`` for ``"normal"``), each
            ``(batch, n_latent)``, and ``ql_m``, ``ql_v``, ``library`` (the log
            library size sample), each ``(batch, 1)``. With
            ``use_observed_lib_size``, ``library`` is the observed log total
            count and ``ql_m``, ``ql_v`` are None.
        """
        args = self._encoder_args(
            self._encoder_input(x), y, batch_index, cont_covs, cat_covs
        )
        qz_m, qz_v = self.z_encoder.gaussian(*args)
        if self.use_observed_lib_size:
            ql_m = ql_v = None
            library = observed_log_library(x)
            if n_samples > 1:
                qz_m, qz_v, library = expand_samples(n_samples, qz_m, qz_v, library)
        else:
            ql_m, ql_v = self.l_encoder.gaussian(*args)
            if n_samples > 1:
                qz_m, qz_v, ql_m, ql_v = expand_samples(
                    n_samples, qz_m, qz_v, ql_m, ql_v
                )
        # z is drawn before l: the random stream of scVI 0.6
        z, untran_z = self.z_encoder.reparameterize_transformation(qz_m, qz_v)
        if ql_m is not None:
            library, _ = self.l_encoder.reparameterize_transformation(ql_m, ql_v)
        return dict(
            qz_m=qz_m,
            qz_v=qz_v,
            z=z,
            untran_z=untran_z,
            ql_m=ql_m,
            ql_v=ql_v,
            library=library,
        )

    def inverse_dispersion(
        self,
        px_r: Optional[torch.Tensor],
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Inverse dispersion ``theta`` (positive) for the dispersion mode.

        Parameters
        ----------
        px_r
            Log inverse dispersion decoded per cell (``"gene-cell"`` only),
            shape ``(..., batch, n_input)``; ignored otherwise.
        batch_index
            Batch of each cell (``"gene-batch"``): integer indices ``(..., batch,
            1)`` or ``(batch,)``, or a floating one-hot ``(..., batch, n_batch)``.
        y
            Label of each cell (``"gene-label"``), integer indices or floating
            one-hot ``(..., batch, n_labels)``.

        Returns
        -------
        torch.Tensor
            ``(n_input,)`` for ``"gene"``; ``(..., batch, n_input)`` for
            ``"gene-batch"`` / ``"gene-label"``; the shape of ``px_r`` for
            ``"gene-cell"``.
        """
        if self.dispersion == "gene-cell":
            return torch.exp(px_r)
        if self.dispersion == "gene":
            return torch.exp(self.px_r)
        if self.dispersion == "gene-batch":
            return per_category_value(
                self.px_r, batch_index, self.n_batch, "batch_index"
            )
        return per_category_value(self.px_r, y, self.n_labels, "y")

    def generative(
        self,
        z: torch.Tensor,
        library: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Parameters of ``p(x | z, l, s)`` from latents and covariates.

        Parameters
        ----------
        z
            Latent samples, ``(batch, n_latent)`` or ``(n_samples, batch,
            n_latent)``.
        library
            Log library sizes, ``(batch, 1)`` or ``(n_samples, batch, 1)``.
        batch_index
            Batch indices ``(batch, 1)`` (None when ``n_batch <= 1``).
        y
            Labels ``(batch, 1)``, passed to the decoder as a covariate when it
            has one.
        cont_covs, cat_covs
            Extra covariates of the decoder, see :meth:`encode`.

        Returns
        -------
        dict of torch.Tensor
            ``px_scale`` (frequencies, rows sum to 1), ``px_r`` (inverse
            dispersion ``theta``, see :meth:`inverse_dispersion`), ``px_rate``
            (``exp(library) * px_scale``) and ``px_dropout`` (zero-inflation
            logits), of shape ``(..., batch, n_input)``.
        """
        z, *covariates = self._decoder_args(z, batch_index, y, cont_covs, cat_covs)
        px_scale, px_r, px_rate, px_dropout = self.decoder(
            self.dispersion, z, library, *covariates
        )
        return dict(
            px_scale=px_scale,
            px_r=self.inverse_dispersion(px_r, batch_index, y),
            px_rate=px_rate,
            px_dropout=px_dropout,
        )

    def inference(
        self,
        x: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        transform_batch: Optional[int] = None,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Helper function used in forward pass: encode, sample, decode.

        Parameters
        ----------
        x
            Counts, shape ``(batch, n_input)``.
        batch_index
            Batch of each cell, ``(batch, 1)`` or ``(batch,)``.
        y
            Labels of the cells, ``(batch, 1)`` or one-hot ``(batch, n_labels)``.
        n_samples
            Number of posterior samples (leading axis of the outputs when > 1).
        transform_batch
            If given, the decoder sees every cell as coming from this batch (the
            encoders are unchanged).
        cont_covs, cat_covs
            Extra covariates, see :meth:`encode`.

        Returns
        -------
        dict of torch.Tensor
            The outputs of :meth:`encode` and :meth:`generative`: ``qz_m``,
            ``qz_v``, ``z``, ``untran_z``, ``ql_m``, ``ql_v``, ``library``,
            ``px_scale``, ``px_r``, ``px_rate``, ``px_dropout``.
        """
        y = self._label_covariate(x, y)
        covs = dict(cont_covs=cont_covs, cat_covs=cat_covs)
        outputs = self.encode(
            x, y, n_samples=n_samples, batch_index=batch_index, **covs
        )
        batch_index = decoder_batch_index(x, batch_index, transform_batch)
        outputs.update(
            self.generative(outputs["z"], outputs["library"], batch_index, y, **covs)
        )
        return outputs

    def get_reconstruction_loss(
        self,
        x: torch.Tensor,
        px_rate: torch.Tensor,
        px_r: torch.Tensor,
        px_dropout: torch.Tensor,
        **kwargs,
    ) -> torch.Tensor:
        """Return the reconstruction loss (for a minibatch).

        Parameters
        ----------
        x
            Counts, shape ``(batch, n_input)``.
        px_rate
            Means, ``(..., batch, n_input)``.
        px_r
            Inverse dispersions ``theta`` broadcastable with ``px_rate`` (unused
            for ``"poisson"``).
        px_dropout
            Zero-inflation logits like ``px_rate`` (used for ``"zinb"`` only).
        **kwargs
            Ignored (subclasses take extra parameters).

        Returns
        -------
        torch.Tensor
            ``-log p(x | z, l)`` summed over genes, shape ``(..., batch)``.
        """
        log_px = count_log_likelihood(
            self.reconstruction_loss, x, px_rate, px_r, px_dropout
        )
        return -log_px.sum(dim=-1)

    def kl_divergences(
        self,
        outputs: Dict[str, torch.Tensor],
        local_l_mean: torch.Tensor,
        local_l_var: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """KL divergences of the latent posteriors from their priors, per cell.

        Parameters
        ----------
        outputs
            Output of :meth:`inference`.
        local_l_mean, local_l_var
            Mean and variance of the log library prior, ``(batch, 1)``.

        Returns
        -------
        kl_z : torch.Tensor
            ``KL(q(z | x) || N(0, I))`` (on the Gaussian before any latent
            transformation), shape ``(batch,)``.
        kl_l : torch.Tensor
            ``KL(q(l | x) || N(local_l_mean, local_l_var))``, shape ``(batch,)``;
            zeros with ``use_observed_lib_size`` (no library is inferred).
        """
        kl_z = gaussian_kl(outputs["qz_m"], outputs["qz_v"])
        if outputs["ql_m"] is None:
            return kl_z, torch.zeros_like(kl_z)
        kl_l = gaussian_kl(outputs["ql_m"], outputs["ql_v"], local_l_mean, local_l_var)
        return kl_z, kl_l

    def forward(
        self,
        x: torch.Tensor,
        local_l_mean: torch.Tensor,
        local_l_var: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        *,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, Union[torch.Tensor, float]]:
        """Returns the reconstruction loss and the KL divergences.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.
        local_l_mean
            Means of the prior of the log library size, ``(batch_size, 1)``.
        local_l_var
            Variances of the prior of the log library size, ``(batch_size, 1)``.
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.
        y
            Cell-type labels, ``(batch_size, 1)`` or one-hot
            ``(batch_size, n_labels)``.
        cont_covs, cat_covs
            Extra covariates, see :meth:`encode`.

        Returns
        -------
        tuple
            The return contract of every model of the scVI family (VAE, LDVAE,
            VAEC, SCANVI, AutoZIVAE), as in scVI 0.6.8: ``(reconst_loss + kl_l,
            kl_local, kl_global)``. The first two have shape ``(batch_size,)``: the
            negative log-likelihood plus the library KL (never annealed), and the
            KL divergence of ``z`` (the term a KL warm-up scales); ``kl_global``
            is the KL divergence of the parameters shared by all cells (a scalar
            tensor; the float 0.0 for a model without one). The negative ELBO of a
            dataset of ``n`` cells is ``n * mean(first + second) + kl_global``.
        """
        outputs = self.inference(
            x, batch_index, y, cont_covs=cont_covs, cat_covs=cat_covs
        )
        reconst_loss = self.get_reconstruction_loss(
            x, outputs["px_rate"], outputs["px_r"], outputs["px_dropout"]
        )
        kl_z, kl_l = self.kl_divergences(outputs, local_l_mean, local_l_var)
        return reconst_loss + kl_l, kl_z, 0.0
