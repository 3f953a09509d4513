"""AutoZI: gene-specific zero-inflation of scRNA-seq counts (Clivio et al.).

AutoZI extends scVI (:class:`~scvi.models.vae.VAE`) with, for each gene ``g``
(or gene and batch, gene and label), a probability ``delta_g`` that the gene is
*not* zero-inflated::

    delta_g ~ Beta(alpha, beta)                        (prior, alpha, beta in (0, 1))
    x_ng | z, l, delta ~ delta_g NB(mu, theta) + (1 - delta_g) ZINB(mu, theta, p)

where the zero-inflation probability ``p = tau + (1 - tau) sigmoid(pi)`` of the
ZINB component is bounded below by ``tau = minimal_dropout``. The variational
posterior is ``q(delta_g) = Beta(alpha_g, beta_g)`` with ``alpha_g, beta_g`` in
``(0, 1)``; the prior parameters are fixed or, when given as None, learned
(empirical Bayes). With ``zero_inflation="gene-cell"`` each gene of each cell
has its own ``delta``, whose posterior parameters are per gene affine functions
of the decoder's dropout logits (a local variable, whose KL is per cell).

The mixture is itself a ZINB with dropout probability ``(1 - delta) p``, which
is how it is evaluated. The posterior probabilities of zero-inflation ``q(delta <
0.5)`` and the calls made from them are computed by
:func:`zero_inflation_probabilities` and :func:`zero_inflation_table` (also
methods of :class:`AutoZIVAE`).
"""

from typing import Dict, Optional, Union

import numpy as np
import torch
from torch import nn
from torch.distributions import Beta, Gamma, kl_divergence

from ._autozi_calls import (
    ZeroInflationCallsMixin,
    zero_inflation_probabilities,
    zero_inflation_table,
)
from ._categories import per_category_shape
from ._compat import fill_missing_entries
from .log_likelihood import log_zinb_positive
from .modules.utils import check_option, expand_samples, one_hot
from .vae import VAE

ZERO_INFLATIONS = ("gene", "gene-batch", "gene-label", "gene-cell")

__all__ = ["AutoZIVAE", "zero_inflation_probabilities", "zero_inflation_table"]


def _fixed_priors(model) -> dict:
    """The fixed prior parameters of an :class:`AutoZIVAE` (buffers here)."""
    names = ("alpha_prior_value", "beta_prior_value")
    return {n: getattr(model, n) for n in names if getattr(model, n) is not None}


class AutoZIVAE(ZeroInflationCallsMixin, VAE):
    """AutoZI: scVI with a Bayesian, gene-specific choice of zero-inflation.

    Parameters
    ----------
    n_input
        Number of input genes.
    alpha_prior, beta_prior
        Parameters in ``(0, 1)`` of the ``Beta`` prior of every ``delta``; None
        learns them (a single value each, empirical Bayes).
    minimal_dropout
        Lower bound ``tau`` of the zero-inflation probability of the ZINB
        component.
    zero_inflation
        Granularity of ``delta``: ``"gene"``, ``"gene-batch"`` (needs
        ``n_batch``), ``"gene-label"`` (needs ``n_labels``) or ``"gene-cell"``.
    **args
        Passed to :class:`~scvi.models.vae.VAE` (``n_batch``, ``n_labels``,
        ``dispersion``, ...) except ``reconstruction_loss``: the likelihood is
        ``"autozinb"`` (the ``reconstruction_loss`` attribute, as in scVI 0.6).

    Examples
    --------
    >>> autozivae = AutoZIVAE(n_input=pbmc.nb_genes, alpha_prior=0.5,
    ... beta_prior=0.5, minimal_dropout=0.01)
    >>> UnsupervisedTrainer(autozivae, pbmc).train(n_epochs=200, lr=1e-2)
    >>> zi_probs = autozivae.get_zero_inflation_probabilities()  # q(delta_g < 0.5)
    >>> is_zi_pred = autozivae.zero_inflation_calls(threshold=0.5)
    """

    def __init__(
        self,
        n_input: int,
        alpha_prior: Optional[float] = 0.5,
        beta_prior: Optional[float] = 0.5,
        minimal_dropout: float = 0.01,
        zero_inflation: str = "gene",
        **args,
    ):
        if "reconstruction_loss" in args:
            raise ValueError(
                "reconstruction_loss must not be given to AutoZIVAE: its likelihood "
                "is 'autozinb' (a mixture of NB and ZINB components), got "
                f"reconstruction_loss={args['reconstruction_loss']!r}"
            )
        super().__init__(n_input, **args)
        self.reconstruction_loss = "autozinb"  # scVI 0.6's name of the mixture
        self.zero_inflation = check_option(
            zero_inflation, ZERO_INFLATIONS, "zero_inflation"
        )
        if not 0.0 <= minimal_dropout < 1.0:
            raise ValueError(
                f"minimal_dropout must be in [0, 1), got {minimal_dropout}"
            )
        self.minimal_dropout = minimal_dropout
        shape = per_category_shape(
            zero_inflation, n_input, self.n_batch, self.n_labels, "zero_inflation"
        )
        # posterior parameters in (0, 1) through a sigmoid; for "gene-cell" these
        # are the intercepts of affine maps of the decoder's dropout logits
        self.alpha_posterior_logit = nn.Parameter(torch.randn(shape))
        self.beta_posterior_logit = nn.Parameter(torch.randn(shape))
        if zero_inflation == "gene-cell":
            self.alpha_posterior_slope = nn.Parameter(torch.zeros(shape))
            self.beta_posterior_slope = nn.Parameter(torch.zeros(shape))
        self._init_prior("alpha", alpha_prior)
        self._init_prior("beta", beta_prior)
        # scVI 0.6.8 kept fixed priors out of the state dict
        fill_missing_entries(self, _fixed_priors)

    def _init_prior(self, name: str, value: Optional[float]) -> None:
        """A learned logit (value None) or a fixed buffer for a prior parameter."""
        if value is None:
            setattr(self, f"{name}_prior_logit", nn.Parameter(torch.randn(())))
            self.register_buffer(f"{name}_prior_value", None)
            return
        if not 0.0 < value:
            raise ValueError(f"{name}_prior must be positive or None, got {value}")
        self.register_parameter(f"{name}_prior_logit", None)
        self.register_buffer(f"{name}_prior_value", torch.tensor(float(value)))

    def _prior(self, name: str) -> torch.Tensor:
        value = getattr(self, f"{name}_prior_value")
        if value is None:
            return torch.sigmoid(getattr(self, f"{name}_prior_logit"))
        return value

    def cuda(self, device: Optional[Union[int, str]] = None) -> nn.Module:
        """Moves all model parameters and also fixed prior alpha and beta values,
        when relevant, to the GPU.

        Parameters
        ----------
        device
            GPU device on which parameters and prior values are copied.

        Returns
        -------
        torch.nn.Module
            The model itself (the fixed prior values are buffers and move along).
        """
        return super().cuda(device)

    # -------------------------------------------------------- Beta variables
    def get_alphas_betas(
        self, as_numpy: bool = True
    ) -> Dict[str, Union[torch.Tensor, np.ndarray]]:
        """Parameters of the prior and of the variational posterior of ``delta``.

        Parameters
        ----------
        as_numpy
            Return detached numpy arrays instead of tensors.

        Returns
        -------
        dict
            ``alpha_prior`` and ``beta_prior`` (scalars) and ``alpha_posterior``,
            ``beta_posterior`` of shape ``(n_input,)`` (``"gene"``), ``(n_input,
            n_batch)`` (``"gene-batch"``) or ``(n_input, n_labels)``
            (``"gene-label"``). For ``"gene-cell"`` the posterior depends on the
            cell and only the prior is returned.
        """
        out = {"alpha_prior": self._prior("alpha"), "beta_prior": self._prior("beta")}
        if self.zero_inflation != "gene-cell":
            out["alpha_posterior"] = torch.sigmoid(self.alpha_posterior_logit)
            out["beta_posterior"] = torch.sigmoid(self.beta_posterior_logit)
        if as_numpy:
            out = {k: v.detach().cpu().numpy() for k, v in out.items()}
        return out

    def sample_from_beta_distribution(
        self,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        eps_gamma: float = 1e-30,
        eps_sample: float = 1e-7,
    ) -> torch.Tensor:
        """Reparameterised sample of ``Beta(alpha, beta)``.

        Drawn as ``g_a / (g_a + g_b)`` with ``g_a ~ Gamma(alpha, 1)`` and ``g_b
        ~ Gamma(beta, 1)`` (differentiable samples), which stays defined for the
        small shape parameters AutoZI uses.

        Parameters
        ----------
        alpha, beta
            Positive shape parameters of the same shape.
        eps_gamma
            Added to the Gamma samples, which underflow to 0 for small shapes.
        eps_sample
            The sample is clamped to ``[eps_sample, 1 - eps_sample]``.

        Returns
        -------
        torch.Tensor
            Sample in ``(0, 1)`` with the shape of ``alpha``.
        """
        one = torch.ones((), dtype=alpha.dtype, device=alpha.device)
        sample_a = Gamma(alpha, one, validate_args=False).rsample() + eps_gamma
        sample_b = Gamma(beta, one, validate_args=False).rsample() + eps_gamma
        sample = sample_a / (sample_a + sample_b)
        return sample.clamp(eps_sample, 1.0 - eps_sample)

    def reshape_bernoulli(
        self,
        bernoulli_params: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Give every cell the ``delta`` of its gene (and batch or label).

        Parameters
        ----------
        bernoulli_params
            Samples of ``delta``: ``(..., n_input)`` for ``"gene"``, ``(...,
            n_input, n_cat)`` for ``"gene-batch"`` / ``"gene-label"``, already
            per cell ``(..., batch, n_input)`` for ``"gene-cell"``; ``...`` is an
            optional sample axis.
        batch_index
            Batch of each cell, ``(batch, 1)`` (``"gene-batch"``).
        y
            Labels, ``(batch, 1)`` (``"gene-label"``).

        Returns
        -------
        torch.Tensor
            Tensor broadcastable with the counts: ``(n_input,)`` (or ``(n_samples,
            1, n_input)``) for ``"gene"``, ``(..., batch, n_input)`` otherwise.
        """
        if self.zero_inflation == "gene-cell":
            return bernoulli_params
        if self.zero_inflation == "gene":
            if bernoulli_params.dim() > 1:  # (n_samples, n_input): one row per draw
                return bernoulli_params.unsqueeze(-2)
            return bernoulli_params
        index = batch_index if self.zero_inflation == "gene-batch" else y
        if index is None:
            name = "batch_index" if self.zero_inflation == "gene-batch" else "y"
            raise ValueError(f"zero_inflation={self.zero_inflation!r} needs {name}")
        one_hot_index = one_hot(
            index, bernoulli_params.shape[-1], bernoulli_params.dtype
        )
        return one_hot_index @ bernoulli_params.transpose(-1, -2)

    def sample_bernoulli_params(
        self,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
    ) -> torch.Tensor:
        """Sample the global ``delta`` from ``q`` and give it to every cell.

        Parameters
        ----------
        batch_index
            Batch of each cell, ``(batch, 1)``.
        y
            Labels, ``(batch, 1)``.
        n_samples
            Number of samples (a leading axis when above 1).

        Returns
        -------
        torch.Tensor
            See :meth:`reshape_bernoulli`.
        """
        if self.zero_inflation == "gene-cell":
            raise ValueError(
                "with zero_inflation='gene-cell' delta depends on the decoder "
                "output: use inference()"
            )
        params = self.get_alphas_betas(as_numpy=False)
        alpha, beta = params["alpha_posterior"], params["beta_posterior"]
        if n_samples > 1:
            alpha, beta = expand_samples(n_samples, alpha, beta)
        delta = self.sample_from_beta_distribution(alpha, beta)
        return self.reshape_bernoulli(delta, batch_index, y)

    def _gene_cell_posterior(self, px_dropout: torch.Tensor):
        """``(alpha, beta)`` of ``q(delta | z)`` per gene and cell (gene-cell)."""
        alpha = self.alpha_posterior_logit + self.alpha_posterior_slope * px_dropout
        beta = self.beta_posterior_logit + self.beta_posterior_slope * px_dropout
        return torch.sigmoid(alpha), torch.sigmoid(beta)

    def compute_global_kl_divergence(self) -> torch.Tensor:
        """``sum KL(q(delta) || p(delta))`` over the global ``delta`` variables.

        Returns
        -------
        torch.Tensor
            Scalar; zero for ``"gene-cell"`` (whose KL is local, per cell).
        """
        if self.zero_inflation == "gene-cell":
            return self.alpha_posterior_logit.new_zeros(())
        params = self.get_alphas_betas(as_numpy=False)
        # no argument validation: it reads values back on the host at every step
        prior = Beta(params["alpha_prior"], params["beta_prior"], validate_args=False)
        posterior = Beta(
            params["alpha_posterior"], params["beta_posterior"], validate_args=False
        )
        return kl_divergence(posterior, prior).sum()

    # ------------------------------------------------------------- likelihood
    def rescale_dropout(
        self, px_dropout: torch.Tensor, eps_log: float = 1e-8
    ) -> torch.Tensor:
        """Logits of ``tau + (1 - tau) sigmoid(px_dropout)``, at least ``tau``.

        Parameters
        ----------
        px_dropout
            Dropout logits decoded by the network, any shape.
        eps_log
            Added to the probabilities inside the logarithms.

        Returns
        -------
        torch.Tensor
            Logits of the bounded zero-inflation probability, same shape.
        """
        tau = self.minimal_dropout
        drop = tau + (1.0 - tau) * torch.sigmoid(px_dropout)
        keep = (1.0 - tau) * torch.sigmoid(-px_dropout)
        return torch.log(drop + eps_log) - torch.log(keep + eps_log)

    def get_reconstruction_loss(
        self,
        x: torch.Tensor,
        px_rate: torch.Tensor,
        px_r: torch.Tensor,
        px_dropout: torch.Tensor,
        bernoulli_params: torch.Tensor,
        eps_log: float = 1e-8,
        **kwargs,
    ) -> torch.Tensor:
        """Return the reconstruction loss (for a minibatch).

        ``-log(delta NB(x; mu, theta) + (1 - delta) ZINB(x; mu, theta, p))``
        summed over genes, evaluated as a ZINB with dropout ``(1 - delta) p``.

        Parameters
        ----------
        x
            Counts, shape ``(batch, n_input)``.
        px_rate, px_r
            NB means ``(..., batch, n_input)`` and inverse dispersions.
        px_dropout
            Logits of the ZINB zero-inflation probability ``p`` (already bounded
            by :meth:`rescale_dropout`, as returned by :meth:`inference`).
        bernoulli_params
            ``delta``, broadcastable with ``x`` (see :meth:`reshape_bernoulli`);
            global samples of shape ``(n_input, n_cat)`` are spread over the
            cells when ``batch_index`` or ``y`` is passed as a keyword.
        eps_log
            Added to the probabilities inside the logarithms.
        **kwargs
            ``batch_index`` and ``y`` (optional, see above); others are ignored.

        Returns
        -------
        torch.Tensor
            Shape ``(..., batch)``.
        """
        batch_index, y = kwargs.get("batch_index"), kwargs.get("y")
        needs_cells = self.zero_inflation in ("gene-batch", "gene-label")
        if needs_cells and (batch_index is not None or y is not None):
            bernoulli_params = self.reshape_bernoulli(bernoulli_params, batch_index, y)
        drop = (1.0 - bernoulli_params) * torch.sigmoid(px_dropout)
        keep = bernoulli_params + (1.0 - bernoulli_params) * torch.sigmoid(-px_dropout)
        logits = torch.log(drop + eps_log) - torch.log(keep + eps_log)
        return -log_zinb_positive(x, px_rate, px_r, logits).sum(dim=-1)

    # -------------------------------------------------------------- inference
    def inference(
        self,
        x: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        eps_log: float = 1e-8,
        transform_batch: Optional[int] = None,
    ) -> Dict[str, torch.Tensor]:
        """Helper function used in forward pass.

        Parameters
        ----------
        x
            Counts, shape ``(batch, n_input)``.
        batch_index
            Batch of each cell, ``(batch, 1)``.
        y
            Labels, ``(batch, 1)``.
        n_samples
            Number of posterior samples (leading axis when above 1).
        eps_log
            See :meth:`rescale_dropout`.
        transform_batch
            If given, the decoder sees every cell as coming from this batch.

        Returns
        -------
        dict of torch.Tensor
            The outputs of :meth:`VAE.inference` with ``px_dropout`` replaced by
            the bounded logits of :meth:`rescale_dropout`, plus
            ``bernoulli_params`` (a sample of ``delta`` per cell, see
            :meth:`reshape_bernoulli`) and, for ``"gene-cell"``,
            ``alpha_posterior`` and ``beta_posterior`` of shape ``(..., batch,
            n_input)``.
        """
        outputs = super().inference(x, batch_index, y, n_samples, transform_batch)
        if self.zero_inflation == "gene-cell":
            alpha, beta = self._gene_cell_posterior(outputs["px_dropout"])
            outputs["alpha_posterior"], outputs["beta_posterior"] = alpha, beta
            delta = self.sample_from_beta_distribution(alpha, beta)
        else:
            y_ = self._label_covariate(x, y)
            delta = self.sample_bernoulli_params(batch_index, y_, n_samples)
        outputs["bernoulli_params"] = delta
        outputs["px_dropout"] = self.rescale_dropout(outputs["px_dropout"], eps_log)
        return outputs

    def forward(
        self,
        x: torch.Tensor,
        local_l_mean: torch.Tensor,
        local_l_var: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
    ):
        """Returns the reconstruction loss and the Kullback divergences.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.
        local_l_mean, local_l_var
            Mean and variance of the prior of the log library, ``(batch_size, 1)``.
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.
        y
            Cell-type labels, shape ``(batch_size, 1)``.

        Returns
        -------
        tuple of torch.Tensor
            ``(reconst_loss + kl_l, kl_local, kl_global)``: the negative
            log-likelihood plus the library KL ``(batch_size,)``; the KL of ``z``
            (plus, for ``"gene-cell"``, the KL of ``delta`` summed over genes)
            ``(batch_size,)``; and the scalar :meth:`compute_global_kl_divergence`.
        """
        outputs = self.inference(x, batch_index, y)
        reconst_loss = self.get_reconstruction_loss(
            x,
            outputs["px_rate"],
            outputs["px_r"],
            outputs["px_dropout"],
            outputs["bernoulli_params"],
        )
        kl_z, kl_l = self.kl_divergences(outputs, local_l_mean, local_l_var)
        if self.zero_inflation == "gene-cell":
            prior = Beta(self._prior("alpha"), self._prior("beta"), validate_args=False)
            posterior = Beta(
                outputs["alpha_posterior"],
                outputs["beta_posterior"],
                validate_args=False,
            )
            kl_z = kl_z + kl_divergence(posterior, prior).sum(dim=-1)
        return reconst_loss + kl_l, kl_z, self.compute_global_kl_divergence()
