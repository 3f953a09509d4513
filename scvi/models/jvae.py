"""gimVI: joint model of datasets measuring overlapping gene sets (Lopez et al.).

Each dataset ``i`` (e.g. scRNA-seq and a spatial smFISH panel) measures
``dim_input_list[i]`` of ``total_genes`` genes, at the positions
``indices_mappings[i]`` of the union. A shared latent space ``z ~ N(0, I)`` is
reached through one encoder head per dataset (:class:`MultiEncoder`); one decoder
(:class:`MultiDecoder`) gives the expression frequencies of all ``total_genes``
genes, of which dataset ``i`` observes its own, renormalised to sum to one::

    rho^i = rho[indices_mappings[i]] / sum(rho[indices_mappings[i]])
    x_g ~ ZINB / NB / Poisson(exp(l) rho^i_g, theta_g)

The log library ``l`` is either inferred (``q(l | x)`` with the usual log-normal
prior) or set to the log of the observed total count (``model_library_bools``).
Decoding the latents of a cell of one dataset with the genes of another imputes
the genes it did not measure.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._categories import init_px_r
from ._likelihoods import count_log_likelihood, gaussian_kl
from .modules import Encoder, MultiDecoder, MultiEncoder
from .modules.utils import check_option, one_hot
from ._vae import DISPERSIONS, RECONSTRUCTION_LOSSES


class JVAE(nn.Module):
    """Joint Variational auto-encoder for imputing missing genes in spatial data.

    Implementation of gimVI [Lopez19].

    Parameters
    ----------
    dim_input_list
        Number of genes of each dataset.
    total_genes
        Number of genes of the union of the datasets.
    indices_mappings
        For each dataset, the integer positions of its genes among the
        ``total_genes`` (length ``dim_input_list[i]``), or a slice of them
        (``slice(None)``: all genes, in order).
    reconstruction_losses
        For each dataset, ``"zinb"``, ``"nb"`` or ``"poisson"``.
    model_library_bools
        For each dataset, whether its library size is a latent variable inferred
        by an encoder (True) or the observed total count (False).
    n_latent
        Dimensionality of the latent space.
    n_layers_encoder_individual, n_layers_encoder_shared
        Number of layers of each encoder head and of the shared encoder layers.
    dim_hidden_encoder
        Width of the encoder layers.
    n_layers_decoder_individual
        Number of decoder layers conditioned on the batch (0: none).
    n_layers_decoder_shared
        Number of further decoder layers (0: none).
    dim_hidden_decoder_individual, dim_hidden_decoder_shared
        Widths of these decoder layers.
    dropout_rate_encoder, dropout_rate_decoder
        Dropout rates.
    n_batch
        Number of batches (a covariate of the conditioned decoder layers).
    n_labels
        Number of labels (used by the ``"gene-label"`` dispersion).
    dispersion
        ``"gene"``, ``"gene-batch"``, ``"gene-label"`` or ``"gene-cell"``, the
        inverse dispersion of each of the ``total_genes`` genes.
    log_variational
        Log(data+1) prior to encoding for numerical stability. Not normalization.
    """

    def __init__(
        self,
        dim_input_list: List[int],
        total_genes: int,
        indices_mappings: List[Sequence[int]],
        reconstruction_losses: List[str],
        model_library_bools: List[bool],
        n_latent: int = 10,
        n_layers_encoder_individual: int = 1,
        n_layers_encoder_shared: int = 1,
        dim_hidden_encoder: int = 128,
        n_layers_decoder_individual: int = 0,
        n_layers_decoder_shared: int = 0,
        dim_hidden_decoder_individual: int = 32,
        dim_hidden_decoder_shared: int = 128,
        dropout_rate_encoder: float = 0.1,
        dropout_rate_decoder: float = 0.3,
        n_batch: int = 0,
        n_labels: int = 0,
        dispersion: str = "gene-batch",
        log_variational: bool = True,
    ):
        super().__init__()
        self.n_input_list = [int(d) for d in dim_input_list]
        self.n_dataset = len(self.n_input_list)
        for name, value in (
            ("indices_mappings", indices_mappings),
            ("reconstruction_losses", reconstruction_losses),
            ("model_library_bools", model_library_bools),
        ):
            if len(value) != self.n_dataset:
                raise ValueError(
                    f"{name} has {len(value)} entries for {self.n_dataset} datasets"
                )
        for loss in reconstruction_losses:
            check_option(loss, RECONSTRUCTION_LOSSES, "reconstruction_losses")
        self.dispersion = check_option(dispersion, DISPERSIONS, "dispersion")
        self.total_genes, self.n_latent = total_genes, n_latent
        self.n_batch, self.n_labels = n_batch, n_labels
        self.reconstruction_losses = list(reconstruction_losses)
        self.model_library_bools = [bool(b) for b in model_library_bools]
        self.log_variational = log_variational
        self.indices_mappings = []
        for i, (mapping, n_genes) in enumerate(zip(indices_mappings, dim_input_list)):
            if isinstance(mapping, slice):  # e.g. slice(None) as in scVI 0.6
                mapping = np.arange(total_genes)[mapping]
            mapping = np.asarray(mapping, dtype=np.int64).reshape(-1)
            if len(mapping) != n_genes or (
                len(mapping) and (mapping.min() < 0 or mapping.max() >= total_genes)
            ):
                raise ValueError(
                    f"indices_mappings[{i}] must hold {n_genes} positions in "
                    f"[0, {total_genes})"
                )
            self.indices_mappings.append(mapping)
            self.register_buffer(f"_gene_index_{i}", torch.from_numpy(mapping), False)

        if dispersion == "gene-batch" and n_batch < 1:
            # scVI 0.6.8's defaults (gene-batch dispersion, n_batch=0): the model
            # is built, with no dispersion column, and refuses to decode (below)
            self.px_r = nn.Parameter(torch.randn(total_genes, 0))
        else:
            self.px_r = init_px_r(dispersion, total_genes, n_batch, n_labels)
        self.z_encoder = MultiEncoder(
            n_heads=self.n_dataset,
            n_input_list=self.n_input_list,
            n_output=n_latent,
            n_hidden=dim_hidden_encoder,
            n_layers_individual=n_layers_encoder_individual,
            n_layers_shared=n_layers_encoder_shared,
            dropout_rate=dropout_rate_encoder,
        )
        self.l_encoders = nn.ModuleList(
            (
                Encoder(
                    n_input,
                    1,
                    n_layers=1,
                    n_hidden=dim_hidden_encoder,
                    dropout_rate=dropout_rate_encoder,
                )
                if model_library
                else nn.Identity()
            )
            for n_input, model_library in zip(
                self.n_input_list, self.model_library_bools
            )
        )
        self.decoder = MultiDecoder(
            n_latent,
            total_genes,
            n_hidden_conditioned=dim_hidden_decoder_individual,
            n_hidden_shared=dim_hidden_decoder_shared,
            n_layers_conditioned=n_layers_decoder_individual,
            n_layers_shared=n_layers_decoder_shared,
            n_cat_list=[n_batch],
            dropout_rate=dropout_rate_decoder,
        )

    def _mode(self, mode: Optional[int]) -> int:
        """Validate a dataset index (None means dataset 0)."""
        mode = 0 if mode is None else int(mode)
        if not 0 <= mode < self.n_dataset:
            raise ValueError(f"mode must be in [0, {self.n_dataset}), got {mode}")
        return mode

    def gene_index(self, mode: int) -> torch.Tensor:
        """Positions of the genes of dataset ``mode`` among the ``total_genes``.

        Parameters
        ----------
        mode
            Dataset index.

        Returns
        -------
        torch.Tensor
            Integer tensor of shape ``(dim_input_list[mode],)``.
        """
        return getattr(self, f"_gene_index_{self._mode(mode)}")

    # ----------------------------------------------------------- encode/decode
    def encode(self, x: torch.Tensor, mode: int) -> Tuple[
        torch.Tensor,
        torch.Tensor,
        torch.Tensor,
        Optional[torch.Tensor],
        Optional[torch.Tensor],
        torch.Tensor,
    ]:
        """Posterior parameters and samples of the latent variables.

        Parameters
        ----------
        x
            Counts of dataset ``mode``, shape ``(batch_size, dim_input_list[mode])``.
        mode
            Dataset index (encoder head).

        Returns
        -------
        tuple
            ``(qz_m, qz_v, z)`` of shape ``(batch_size, n_latent)`` and ``(ql_m,
            ql_v, library)`` of shape ``(batch_size, 1)``; ``library`` is the log
            library size, and ``ql_m`` and ``ql_v`` are None when the library of
            this dataset is the observed one (``log(x.sum(1))``).
        """
        mode = self._mode(mode)
        x_ = torch.log1p(x) if self.log_variational else x
        qz_m, qz_v, z = self.z_encoder(x_, mode)
        if self.model_library_bools[mode]:
            ql_m, ql_v, library = self.l_encoders[mode](x_)
        else:
            ql_m = ql_v = None
            library = torch.log(x.sum(dim=1, keepdim=True))
        return qz_m, qz_v, z, ql_m, ql_v, library

    def decode(
        self,
        z: torch.Tensor,
        mode: int,
        library: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Parameters of the distribution of the genes of dataset ``mode``.

        Parameters
        ----------
        z
            Latent tensor, shape ``(batch_size, n_latent)``.
        mode
            Dataset whose genes are decoded.
        library
            Log library size, shape ``(batch_size, 1)``.
        batch_index
            Batch of each cell, ``(batch_size, 1)``.
        y
            Labels, ``(batch_size, 1)`` (``"gene-label"`` dispersion).

        Returns
        -------
        tuple of torch.Tensor
            ``(px_scale, px_r, px_rate, px_dropout)`` over the
            ``G_mode = dim_input_list[mode]`` genes of the dataset: frequencies
            renormalised over those genes ``(batch_size, G_mode)``, the inverse
            dispersion ``theta`` (``(G_mode,)`` for ``"gene"``, else ``(batch_size,
            G_mode)``), the means ``exp(library) * px_scale`` and the dropout
            logits, both ``(batch_size, G_mode)``.
        """
        index = self.gene_index(mode)
        px_scale, px_r, _, px_dropout = self.decoder(
            z, mode, library, self.dispersion, batch_index
        )
        px_scale = px_scale[..., index]
        px_scale = px_scale / px_scale.sum(dim=-1, keepdim=True)
        px_rate = torch.exp(library) * px_scale
        if self.dispersion == "gene-cell":
            px_r = torch.exp(px_r[..., index])
        elif self.dispersion == "gene":
            px_r = torch.exp(self.px_r[index])
        else:
            covariate = batch_index if self.dispersion == "gene-batch" else y
            if covariate is None:
                raise ValueError(f"dispersion={self.dispersion!r} needs its covariate")
            theta = self.px_r[index]
            if theta.shape[1] == 0:
                raise ValueError(
                    "dispersion='gene-batch' needs n_batch >= 1 to decode counts; "
                    "build the JVAE with n_batch or dispersion='gene'"
                )
            px_r = torch.exp(
                F.linear(one_hot(covariate, theta.shape[1], z.dtype), theta)
            )
        return px_scale, px_r, px_rate, px_dropout[..., index]

    def reconstruction_loss(
        self,
        x: torch.Tensor,
        px_rate: torch.Tensor,
        px_r: torch.Tensor,
        px_dropout: torch.Tensor,
        mode: int,
    ) -> torch.Tensor:
        """``-log p(x | z, l)`` of cells of dataset ``mode``.

        Parameters
        ----------
        x
            Counts, shape ``(batch_size, dim_input_list[mode])``.
        px_rate, px_r, px_dropout
            Output of :meth:`decode` for this dataset.
        mode
            Dataset index, selecting ``reconstruction_losses[mode]``.

        Returns
        -------
        torch.Tensor
            Negative log-likelihood summed over genes, shape ``(batch_size,)``.
        """
        loss = self.reconstruction_losses[self._mode(mode)]
        return -count_log_likelihood(loss, x, px_rate, px_r, px_dropout).sum(dim=-1)

    def forward(
        self,
        x: torch.Tensor,
        local_l_mean: torch.Tensor,
        local_l_var: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        mode: Optional[int] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, float]:
        """Return the reconstruction loss and the Kullback divergences.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)`` or
            ``(batch_size, n_input_fish)`` depending on the mode.
        local_l_mean, local_l_var
            Mean and variance of the prior of the log library, ``(batch_size,
            1)`` (unused when the dataset's library is observed).
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.
        y
            Cell-type labels, shape ``(batch_size, 1)``.
        mode
            Which head/tail (dataset) to use in the joint network; None means 0.

        Returns
        -------
        tuple
            ``(reconst_loss, kl_divergence, 0.0)`` (the contract of
            :meth:`scvi.models.VAE.forward`; no global KL), the first two
            ``(batch_size,)``: the negative log-likelihood and ``KL(q(z) || N(0,
            I))`` plus, when the library is inferred, ``KL(q(l) || N(local_l_mean,
            local_l_var))``.
        """
        mode = self._mode(mode)
        qz_m, qz_v, z, ql_m, ql_v, library = self.encode(x, mode)
        px_scale, px_r, px_rate, px_dropout = self.decode(
            z, mode, library, batch_index, y
        )
        reconst_loss = self.reconstruction_loss(x, px_rate, px_r, px_dropout, mode)
        kl_divergence = gaussian_kl(qz_m, qz_v)
        if ql_m is not None:
            kl_divergence = kl_divergence + gaussian_kl(
                ql_m, ql_v, local_l_mean, local_l_var
            )
        return reconst_loss, kl_divergence, 0.0

    # --------------------------------------------------------------- public API
    def sample_from_posterior_z(
        self, x: torch.Tensor, mode: Optional[int] = None, deterministic: bool = False
    ) -> torch.Tensor:
        """Sample tensor of latent values from the posterior.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, dim_input_list[mode])``.
        mode
            Head id to use in the encoder (None means 0).
        deterministic
            Return the posterior mean ``qz_m`` instead of a sample.

        Returns
        -------
        torch.Tensor
            Tensor of shape ``(batch_size, n_latent)``.
        """
        qz_m, _, z, _, _, _ = self.encode(x, self._mode(mode))
        return qz_m if deterministic else z

    def sample_from_posterior_l(
        self, x: torch.Tensor, mode: Optional[int] = None, deterministic: bool = False
    ) -> torch.Tensor:
        """Sample the tensor of library sizes from the posterior.

        Parameters
        ----------
        x, mode
            As in :meth:`sample_from_posterior_z`.
        deterministic
            Return the posterior mean ``ql_m`` instead of a sample.

        Returns
        -------
        torch.Tensor
            Log library sizes, shape ``(batch_size, 1)`` (the log observed total
            count for datasets whose library is not modelled).
        """
        _, _, _, ql_m, _, library = self.encode(x, self._mode(mode))
        return ql_m if deterministic and ql_m is not None else library

    def _decoded(self, x, mode, batch_index, y, deterministic, decode_mode):
        """Decode cells of dataset ``mode`` with the genes of ``decode_mode``."""
        mode = self._mode(mode)
        decode_mode = mode if decode_mode is None else self._mode(decode_mode)
        qz_m, _, z, ql_m, _, library = self.encode(x, mode)
        if deterministic:
            z = qz_m
            library = library if ql_m is None else ql_m
        return self.decode(z, decode_mode, library, batch_index, y)

    def sample_scale(
        self,
        x: torch.Tensor,
        mode: int,
        batch_index: torch.Tensor,
        y: Optional[torch.Tensor] = None,
        deterministic: bool = False,
        decode_mode: Optional[int] = None,
    ) -> torch.Tensor:
        """Return the tensor of predicted frequencies of expression.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, dim_input_list[mode])``.
        mode
            Encode mode (which input head to use in the model).
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.
        y
            Cell-type labels, shape ``(batch_size, 1)``.
        deterministic
            Decode the posterior means instead of samples.
        decode_mode
            Dataset whose genes are decoded, if different from ``mode``.

        Returns
        -------
        torch.Tensor
            Frequencies of the genes of ``decode_mode`` (rows sum to 1), shape
            ``(batch_size, dim_input_list[decode_mode])``.
        """
        return self._decoded(x, mode, batch_index, y, deterministic, decode_mode)[0]

    def sample_rate(
        self,
        x: torch.Tensor,
        mode: int,
        batch_index: torch.Tensor,
        y: Optional[torch.Tensor] = None,
        deterministic: bool = False,
        decode_mode: Optional[int] = None,
    ) -> torch.Tensor:
        """Returns the tensor of scaled frequencies of expression.

        Parameters
        ----------
        x, mode, batch_index, y, deterministic, decode_mode
            As in :meth:`sample_scale`.

        Returns
        -------
        torch.Tensor
            ``exp(library) * px_scale`` with the library of the encoded cells,
            shape ``(batch_size, dim_input_list[decode_mode])``.
        """
        return self._decoded(x, mode, batch_index, y, deterministic, decode_mode)[2]

    def get_sample_rate(self, x: torch.Tensor, batch_index: torch.Tensor, *_, **__):
        """Means of the genes of dataset 0 for cells of dataset 0.

        The interface of the generic posterior; extra arguments are ignored.

        Parameters
        ----------
        x
            Counts of dataset 0, shape ``(batch_size, dim_input_list[0])``.
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.

        Returns
        -------
        torch.Tensor
            Shape ``(batch_size, dim_input_list[0])``, see :meth:`sample_rate`.
        """
        return self.sample_rate(x, 0, batch_index)
