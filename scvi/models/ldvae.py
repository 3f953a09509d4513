"""LDVAE: scVI with a linear decoder, for interpretable factors (Svensson 2020)."""

import numpy as np

from .modules import LinearDecoderSCVI
from ._vae import VAE


class LDVAE(VAE):
    """Linear-decoded Variational auto-encoder model.

    Implementation of [Svensson20]. The decoder maps the latent representation
    to gene expression frequencies linearly (``softmax(W z)``, optionally batch
    normalised), while the encoder remains a deep neural network. Less flexible
    than :class:`~scvi.models.vae.VAE`, but :meth:`get_loadings` shows which
    genes drive each latent dimension. Every scVI task (differential expression,
    batch correction, imputation) still applies.

    Parameters
    ----------
    n_input
        Number of input genes.
    n_batch
        Number of batches.
    n_labels
        Number of labels.
    n_hidden
        Number of nodes per hidden layer (for encoder).
    n_latent
        Dimensionality of the latent space.
    n_layers_encoder
        Number of hidden layers used for encoder NNs.
    dropout_rate
        Dropout rate for neural networks.
    dispersion
        ``"gene"``, ``"gene-batch"``, ``"gene-label"`` or ``"gene-cell"``, see
        :class:`~scvi.models.vae.VAE`.
    log_variational
        Log(data+1) prior to encoding for numerical stability. Not normalization.
    reconstruction_loss
        ``"nb"`` (negative binomial), ``"zinb"`` (zero-inflated negative binomial)
        or ``"poisson"``.
    use_batch_norm
        Whether to use batch norm in decoder.
    bias
        Whether to have bias term in linear decoder.
    latent_distribution
        ``"normal"`` or ``"ln"`` (logistic normal).
    **model_options
        Keyword-only opt-in options of :class:`~scvi.models.vae.VAE`
        (``use_observed_lib_size``, ``encode_covariates``,
        ``deeply_inject_covariates``, ``use_layer_norm`` for the encoders,
        ``n_continuous_cov``, ``n_cats_per_cov``, ``preset``); the linear
        decoder's batch norm stays ``use_batch_norm``.

    Examples
    --------
    >>> vae = LDVAE(cortex_dataset.nb_genes, n_latent=10)
    >>> loadings = vae.get_loadings()  # (n_genes, 10)
    """

    def __init__(
        self,
        n_input: int,
        n_batch: int = 0,
        n_labels: int = 0,
        n_hidden: int = 128,
        n_latent: int = 10,
        n_layers_encoder: int = 1,
        dropout_rate: float = 0.1,
        dispersion: str = "gene",
        log_variational: bool = True,
        reconstruction_loss: str = "nb",
        use_batch_norm: bool = True,
        bias: bool = False,
        latent_distribution: str = "normal",
        **model_options,
    ):
        super().__init__(
            n_input,
            n_batch=n_batch,
            n_labels=n_labels,
            n_hidden=n_hidden,
            n_latent=n_latent,
            n_layers=n_layers_encoder,
            dropout_rate=dropout_rate,
            dispersion=dispersion,
            log_variational=log_variational,
            reconstruction_loss=reconstruction_loss,
            latent_distribution=latent_distribution,
            **model_options,
        )
        self.use_batch_norm = use_batch_norm
        self.decoder = LinearDecoderSCVI(
            n_latent + self.n_continuous_cov,
            n_input,
            n_cat_list=self._decoder_cat_list(),
            use_batch_norm=use_batch_norm,
            bias=bias,
        )

    def get_loadings(self) -> np.ndarray:
        """Extract per-gene weights (for each Z, shape is genes by dim(Z)) in the
        linear decoder.

        With batch normalisation, its evaluation-mode scaling
        ``gamma / sqrt(running_var + eps)`` is folded into the weights; the
        columns of the batch covariates are left out.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``(n_input, n_latent)``.
        """
        # columns past n_latent are continuous covariates (n_continuous_cov)
        return self.decoder.get_loadings()[:, : self.n_latent].cpu().numpy()
