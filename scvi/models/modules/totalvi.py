"""Encoder and decoder of totalVI (joint RNA and protein counts)."""

from typing import Iterable, Optional

import torch
from torch import nn

from .encoders import LatentSamplingMixin, gaussian_parameters
from .fc_layers import FCLayers, hidden_layers
from .utils import reparameterize_gaussian

# Upper bound of the sampled log library size before exponentiation.
MAX_LOG_LIBRARY = 15.0


def _hidden_block(
    n_hidden: int,
    dropout_rate: float,
    use_batch_norm: bool = True,
    use_layer_norm: bool = False,
) -> nn.Sequential:
    """Linear layer, batch normalisation (torch's defaults), layer normalisation
    (no affine parameters, as in :class:`FCLayers`), ReLU and dropout; the two
    normalisations optional (scVI 0.6: batch norm only)."""
    layers = [nn.Linear(n_hidden, n_hidden)]
    if use_batch_norm:
        layers.append(nn.BatchNorm1d(n_hidden))
    if use_layer_norm:
        layers.append(nn.LayerNorm(n_hidden, elementwise_affine=False))
    return nn.Sequential(*layers, nn.ReLU(), nn.Dropout(p=dropout_rate))


def _head(n_in: int, n_out: int, n_cat_list, use_relu: bool = False) -> FCLayers:
    """One linear layer that also sees the covariates (one-hot), no batch
    normalisation, no dropout."""
    return FCLayers(
        n_in,
        n_out,
        n_cat_list,
        n_layers=1,
        dropout_rate=0,
        use_batch_norm=False,
        use_relu=use_relu,
    )


class EncoderTOTALVI(LatentSamplingMixin, nn.Module):
    """Encodes data of ``n_input`` dimensions into a latent space of ``n_output``
    dimensions using a fully-connected neural network of ``n_hidden`` layers,
    together with the log-normal gene library size.

    The shared layers (``encoder``) feed two more hidden layers, ``z_encoder`` and
    ``l_gene_encoder``, whose outputs give the Gaussian parameters of ``z`` and of
    the log library (scVI 0.6.8's layout, so that its state dicts load).
    Without a library encoder (``encode_library=False``) there is no
    ``l_gene_encoder`` and the library outputs are None.

    Parameters
    ----------
    n_input
        The dimensionality of the input (genes and proteins).
    n_output
        The dimensionality of the latent space.
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    n_layers
        The number of fully-connected hidden layers.
    n_hidden
        The number of nodes per hidden layer.
    dropout_rate
        Dropout rate to apply to each of the hidden layers.
    distribution
        Distribution of the latent space: ``"normal"`` or ``"ln"`` (logistic normal,
        the softmax of a Gaussian sample).
    encode_library
        Keyword-only (like all that follow). Whether to encode the log gene
        library (False: the model observes it, see
        ``TOTALVI(use_observed_lib_size=True)``).
    use_batch_norm, use_layer_norm
        Whether every hidden layer has batch / layer normalisation (scVI 0.6:
        batch norm only).
    inject_covariates
        Whether the covariates enter every layer of the shared layers (scVI 0.6)
        or only the first.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        n_cat_list: Optional[Iterable[int]] = None,
        n_layers: int = 2,
        n_hidden: int = 256,
        dropout_rate: float = 0.1,
        distribution: str = "ln",
        *,
        encode_library: bool = True,
        use_batch_norm: bool = True,
        use_layer_norm: bool = False,
        inject_covariates: bool = True,
    ):
        super().__init__()
        self._init_latent(distribution)
        self.encode_library = encode_library
        norms = dict(use_batch_norm=use_batch_norm, use_layer_norm=use_layer_norm)
        self.encoder = hidden_layers(
            n_input,
            n_hidden,
            n_cat_list,
            n_layers,
            dropout_rate,
            inject_covariates=inject_covariates,
            **norms,
        )
        # one more hidden layer for z and one for the library, on the shared
        # layers' output, each followed by its mean and variance heads
        self.z_encoder = _hidden_block(n_hidden, dropout_rate, **norms)
        self.z_mean_encoder = nn.Linear(n_hidden, n_output)
        self.z_var_encoder = nn.Linear(n_hidden, n_output)
        if encode_library:
            self.l_gene_encoder = _hidden_block(n_hidden, dropout_rate, **norms)
            self.l_gene_mean_encoder = nn.Linear(n_hidden, 1)
            self.l_gene_var_encoder = nn.Linear(n_hidden, 1)

    def forward(self, data: torch.Tensor, *cat_list):
        """The forward computation for a single sample.

        Parameters
        ----------
        data
            Tensor of shape ``(batch, n_input)``.
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.

        Returns
        -------
        tuple
            ``(qz_m, qz_v, ql_m, ql_v, latent, untran_latent)``: Gaussian parameters
            of ``z`` (``(batch, n_output)``) and of the log library (``(batch, 1)``),
            then the dicts ``latent = {"z", "l"}`` of samples (``l`` is the library
            size itself, ``exp`` of the log sample clamped at 15) and
            ``untran_latent = {"z", "l"}`` of the untransformed Gaussian samples.
            Without a library encoder, ``ql_m``, ``ql_v`` and both ``"l"`` are
            None.
        """
        q = self.encoder(data, *cat_list)
        qz = self.z_encoder(q)
        qz_m, qz_v = gaussian_parameters(qz, self.z_mean_encoder, self.z_var_encoder)
        z, untran_z = self.reparameterize_transformation(qz_m, qz_v)
        if not self.encode_library:
            return (
                qz_m,
                qz_v,
                None,
                None,
                {"z": z, "l": None},
                {"z": untran_z, "l": None},
            )
        ql = self.l_gene_encoder(q)
        ql_m, ql_v = gaussian_parameters(
            ql, self.l_gene_mean_encoder, self.l_gene_var_encoder
        )
        log_library = reparameterize_gaussian(ql_m, ql_v).clamp(max=MAX_LOG_LIBRARY)
        latent = {"z": z, "l": torch.exp(log_library)}
        untran_latent = {"z": untran_z, "l": log_library}
        return qz_m, qz_v, ql_m, ql_v, latent, untran_latent


class DecoderTOTALVI(nn.Module):
    """Decodes the latent space into the parameters of the gene (NB / ZINB) and the
    protein (mixture of a background and a foreground NB) distributions.

    Every head is one linear layer that sees the output of its hidden layers
    concatenated with ``z``, and the covariates (one-hot).

    Parameters
    ----------
    n_input
        The dimensionality of the latent space.
    n_output_genes
        The number of genes.
    n_output_proteins
        The number of proteins.
    n_cat_list
        Number of categories of each categorical covariate, injected one-hot.
    n_layers
        The number of fully-connected layers of the gene decoder.
    n_hidden
        The number of nodes per hidden layer.
    dropout_rate
        Dropout rate of the hidden layers.
    use_batch_norm, use_layer_norm
        Keyword-only (like the next). Whether the hidden layers have batch /
        layer normalisation (scVI 0.6: batch norm only); the heads have neither.
    inject_covariates
        Whether the covariates enter every hidden layer (scVI 0.6) or only the
        first of each stack; the heads always see them.
    """

    def __init__(
        self,
        n_input: int,
        n_output_genes: int,
        n_output_proteins: int,
        n_cat_list: Optional[Iterable[int]] = None,
        n_layers: int = 1,
        n_hidden: int = 256,
        dropout_rate: float = 0,
        *,
        use_batch_norm: bool = True,
        use_layer_norm: bool = False,
        inject_covariates: bool = True,
    ):
        super().__init__()
        options = dict(
            use_batch_norm=use_batch_norm,
            use_layer_norm=use_layer_norm,
            inject_covariates=inject_covariates,
        )

        def hidden(n_layers_: int) -> FCLayers:
            return hidden_layers(
                n_input, n_hidden, n_cat_list, n_layers_, dropout_rate, **options
            )

        n_cat_z = n_hidden + n_input
        genes, proteins = n_output_genes, n_output_proteins
        self.px_decoder = hidden(n_layers)
        self.px_scale_decoder = _head(n_cat_z, genes, n_cat_list)
        self.py_back_decoder = hidden(1)
        self.py_back_mean_log_alpha = _head(n_cat_z, proteins, n_cat_list)
        self.py_back_mean_log_beta = _head(n_cat_z, proteins, n_cat_list)
        self.py_fore_decoder = hidden(1)
        self.py_fore_scale_decoder = _head(n_cat_z, proteins, n_cat_list, True)
        self.sigmoid_decoder = hidden(1)
        self.px_dropout_decoder_gene = _head(n_cat_z, genes, n_cat_list)
        self.py_background_decoder = _head(n_cat_z, proteins, n_cat_list)

    def forward(
        self,
        z: torch.Tensor,
        library_gene: torch.Tensor,
        *cat_list,
        gene_dropout: bool = True,
    ):
        """The forward computation for a single sample.

        Parameters
        ----------
        z
            Latent tensor of shape ``(batch, n_input)``.
        library_gene
            Gene library size (not its log), shape ``(batch, 1)``.
        *cat_list
            Category membership(s) of the cells, see :class:`FCLayers`.
        gene_dropout
            Whether to compute the genes' zero-inflation logits; if False,
            ``px_["dropout"]`` is None (a negative binomial loss does not use
            them, and their head is as large as the gene scale's).

        Returns
        -------
        px_ : dict
            Gene parameters, each ``(batch, n_output_genes)``: ``scale`` (softmax
            frequencies), ``rate = library_gene * scale`` and ``dropout`` (logits).
        py_ : dict
            Protein parameters, each ``(batch, n_output_proteins)``: ``back_alpha``
            and ``back_beta`` (mean and standard deviation of the log background
            rate), ``rate_back`` (sampled background mean), ``fore_scale`` (>= 1),
            ``rate_fore = rate_back * fore_scale``, ``mixing`` (logits of the
            background probability) and ``scale`` (foreground mean weighted by the
            foreground probability, normalised to sum to one).
        log_pro_back_mean : torch.Tensor
            The Gaussian sample ``log(rate_back)``.
        """

        def with_z(hidden_layers: FCLayers) -> torch.Tensor:
            return torch.cat([hidden_layers(z, *cat_list), z], dim=-1)

        px_ = {}
        scale = self.px_scale_decoder(with_z(self.px_decoder), *cat_list)
        px_["scale"] = torch.softmax(scale, -1)
        px_["rate"] = library_gene * px_["scale"]

        py_ = {}
        back = with_z(self.py_back_decoder)
        py_["back_alpha"] = self.py_back_mean_log_alpha(back, *cat_list)
        py_["back_beta"] = torch.exp(self.py_back_mean_log_beta(back, *cat_list))
        # reparameterised draw (torch.distributions.Normal would validate its
        # arguments, a read on the host at every step)
        noise = torch.randn_like(py_["back_alpha"])
        log_pro_back_mean = torch.addcmul(py_["back_alpha"], py_["back_beta"], noise)
        py_["rate_back"] = torch.exp(log_pro_back_mean)
        fore = with_z(self.py_fore_decoder)
        py_["fore_scale"] = self.py_fore_scale_decoder(fore, *cat_list) + 1.0
        py_["rate_fore"] = py_["rate_back"] * py_["fore_scale"]

        mixing = with_z(self.sigmoid_decoder)
        px_["dropout"] = (
            self.px_dropout_decoder_gene(mixing, *cat_list) if gene_dropout else None
        )
        py_["mixing"] = self.py_background_decoder(mixing, *cat_list)
        foreground = torch.sigmoid(-py_["mixing"]) * py_["rate_fore"]
        py_["scale"] = foreground / foreground.sum(dim=-1, keepdim=True)
        return px_, py_, log_pro_back_mean
