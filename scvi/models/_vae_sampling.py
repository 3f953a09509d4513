"""Posterior sampling methods shared by the scVI family of models.

:class:`VAESamplingMixin` gives :class:`scvi.models.vae.VAE` (and its subclasses)
the public sampling methods of the scVI 0.6 API. It relies on the model's
``z_encoder``, ``l_encoder``, ``decoder`` (with a ``scale`` method),
``_encoder_input``, ``_label_covariate``, ``_encoder_args``, ``_decoder_args``
and ``inference``.

Every method also takes the keyword-only covariates of the opt-in options
(``batch_index`` for the encoders where the 0.6 signature has none,
``cont_covs``, ``cat_covs``; see :class:`scvi.models.vae.VAE`).
"""

from typing import List, Optional

import torch

from ._categories import decoder_batch_index
from ._vae_options import observed_log_library
from .modules.utils import expand_samples


class VAESamplingMixin:
    """Latent and expression samples of a fitted scVI-like model."""

    def get_latents(
        self, x: torch.Tensor, y: Optional[torch.Tensor] = None
    ) -> List[torch.Tensor]:
        """Returns the result of ``sample_from_posterior_z`` inside a list.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.
        y
            Cell-type labels, ``(batch_size, 1)``.

        Returns
        -------
        list of torch.Tensor
            One element list of a tensor of shape ``(batch_size, n_latent)``.
        """
        return [self.sample_from_posterior_z(x, y)]

    def sample_from_posterior_z(
        self,
        x: torch.Tensor,
        y: Optional[torch.Tensor] = None,
        give_mean: bool = False,
        n_samples: int = 5000,
        **covariates,
    ) -> torch.Tensor:
        """Samples the tensor of latent values from the posterior.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.
        y
            Cell-type labels, ``(batch_size, 1)``.
        give_mean
            Return the posterior mean instead of a sample: ``qz_m`` for
            ``"normal"``, the average of the softmax of ``n_samples`` Gaussian
            draws for ``"ln"``.
        n_samples
            How many Monte Carlo samples to average for the transformed mean.
        **covariates
            ``batch_index``, ``cont_covs``, ``cat_covs`` for a model with
            ``encode_covariates``.

        Returns
        -------
        torch.Tensor
            Tensor of shape ``(batch_size, n_latent)``.
        """
        y = self._label_covariate(x, y)
        qz_m, qz_v, z = self.z_encoder(*self._encoder_args_of(x, y, covariates))
        if not give_mean:
            return z
        return self.z_encoder.transformed_mean(qz_m, qz_v, n_samples)

    def _encoder_args_of(self, x, y, covariates: dict) -> tuple:
        """``_encoder_args`` from keyword covariates (unknown names rejected)."""
        unknown = set(covariates) - {"batch_index", "cont_covs", "cat_covs"}
        if unknown:
            raise ValueError(f"unexpected covariates {sorted(unknown)}")
        return self._encoder_args(
            self._encoder_input(x),
            y,
            covariates.get("batch_index"),
            covariates.get("cont_covs"),
            covariates.get("cat_covs"),
        )

    def sample_from_posterior_l(self, x: torch.Tensor, **covariates) -> torch.Tensor:
        """Samples the tensor of (log) library sizes from the posterior.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.
        **covariates
            As in :meth:`sample_from_posterior_z`.

        Returns
        -------
        torch.Tensor
            A sample of ``q(l | x)``, the log library size, shape
            ``(batch_size, 1)``; the observed log total count with
            ``use_observed_lib_size``.
        """
        if getattr(self, "use_observed_lib_size", False):
            return observed_log_library(x)
        return self.l_encoder(*self._encoder_args_of(x, None, covariates))[2]

    def get_sample_scale(
        self,
        x: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        transform_batch: Optional[int] = None,
        **covariates,
    ) -> torch.Tensor:
        """Returns the tensor of predicted frequencies of expression.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.
        batch_index
            Batch of each cell, shape ``(batch_size, 1)``.
        y
            Cell-type labels, ``(batch_size, 1)``.
        n_samples
            Number of posterior samples.
        transform_batch
            Batch to transform the samples into (decoder covariate).
        **covariates
            ``cont_covs``, ``cat_covs`` of a model with extra covariates.

        Returns
        -------
        torch.Tensor
            Frequencies (rows sum to 1), shape ``(batch_size, n_input)``, with a
            leading ``(n_samples,)`` axis when ``n_samples > 1``.
        """
        # only q(z | x) and the frequency head are needed: the library encoder and
        # the dispersion / dropout heads are skipped (half the work of inference)
        qz_m, qz_v, y = self.encode_scale(x, y, batch_index=batch_index, **covariates)
        if n_samples > 1:
            qz_m, qz_v = expand_samples(n_samples, qz_m, qz_v)
        batch_index = decoder_batch_index(x, batch_index, transform_batch)
        return self.decode_scale(qz_m, qz_v, batch_index, y, **covariates)

    def encode_scale(
        self, x: torch.Tensor, y: Optional[torch.Tensor] = None, **covariates
    ):
        """What :meth:`decode_scale` needs of a cell: ``q(z | x)`` and its labels.

        Splitting :meth:`get_sample_scale` in two lets a caller that draws many
        samples of few cells (differential expression) encode each cell once.

        Parameters
        ----------
        x, y
            As in :meth:`get_sample_scale`.
        **covariates
            As in :meth:`sample_from_posterior_z`.

        Returns
        -------
        tuple of torch.Tensor
            ``(qz_m, qz_v, y)``: mean and variance of ``q(z | x)``, each
            ``(batch_size, n_latent)``, and the label covariate of the networks
            (``y`` itself, or the predicted labels of semi-supervised models).
        """
        y = self._label_covariate(x, y)
        qz_m, qz_v = self.z_encoder.gaussian(*self._encoder_args_of(x, y, covariates))
        return qz_m, qz_v, y

    def decode_scale(
        self,
        qz_m: torch.Tensor,
        qz_v: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        cont_covs: Optional[torch.Tensor] = None,
        cat_covs: Optional[torch.Tensor] = None,
        **_,
    ) -> torch.Tensor:
        """One draw of ``z ~ q(z | x)`` per row, decoded into frequencies.

        Parameters
        ----------
        qz_m, qz_v
            Outputs of :meth:`encode_scale`, shape ``(..., batch_size, n_latent)``.
        batch_index
            Batch covariate of the decoder, ``(batch_size, 1)``.
        y
            Label covariate from :meth:`encode_scale`, ``(batch_size, 1)``.
        cont_covs, cat_covs
            Extra decoder covariates of the cells; other keywords are ignored.

        Returns
        -------
        torch.Tensor
            Frequencies, ``(..., batch_size, n_input)``, rows summing to 1.
        """
        z, _ = self.z_encoder.reparameterize_transformation(qz_m, qz_v)
        z, *covs = self._decoder_args(z, batch_index, y, cont_covs, cat_covs)
        return self.decoder.scale(z, *covs)

    def get_sample_rate(
        self,
        x: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        transform_batch: Optional[int] = None,
        **covariates,
    ) -> torch.Tensor:
        """Returns the tensor of means of the negative binomial distribution.

        Parameters
        ----------
        x, batch_index, y, n_samples, transform_batch, **covariates
            As in :meth:`get_sample_scale`.

        Returns
        -------
        torch.Tensor
            ``exp(library) * px_scale``, shape ``(batch_size, n_input)``, with a
            leading ``(n_samples,)`` axis when ``n_samples > 1``.
        """
        return self._inference_output(
            "px_rate", x, batch_index, y, n_samples, transform_batch, **covariates
        )

    def _inference_output(
        self, key, x, batch_index, y, n_samples, transform_batch, **covariates
    ):
        """One output of :meth:`inference`; ``n_samples`` and ``transform_batch``
        are passed by keyword, as subclasses may take other arguments between."""
        outputs = self.inference(
            x,
            batch_index,
            y,
            n_samples=n_samples,
            transform_batch=transform_batch,
            **covariates,
        )
        return outputs[key]
