"""Posterior sampling methods shared by the scVI family of models.

:class:`VAESamplingMixin` gives :class:`scvi.models.vae.VAE` (and its subclasses)
the public sampling methods of the scVI 0.6 API. It relies on the model's
``z_encoder``, ``l_encoder``, ``decoder`` (with a ``scale`` method),
``_encoder_input``, ``_label_covariate`` and ``inference``.
"""

from typing import List, Optional

import torch

from ._categories import decoder_batch_index
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

        Returns
        -------
        torch.Tensor
            Tensor of shape ``(batch_size, n_latent)``.
        """
        y = self._label_covariate(x, y)
        qz_m, qz_v, z = self.z_encoder(self._encoder_input(x), y)
        if not give_mean:
            return z
        return self.z_encoder.transformed_mean(qz_m, qz_v, n_samples)

    def sample_from_posterior_l(self, x: torch.Tensor) -> torch.Tensor:
        """Samples the tensor of (log) library sizes from the posterior.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.

        Returns
        -------
        torch.Tensor
            A sample of ``q(l | x)``, the log library size, shape
            ``(batch_size, 1)``.
        """
        return self.l_encoder(self._encoder_input(x))[2]

    def get_sample_scale(
        self,
        x: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        transform_batch: Optional[int] = None,
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

        Returns
        -------
        torch.Tensor
            Frequencies (rows sum to 1), shape ``(batch_size, n_input)``, with a
            leading ``(n_samples,)`` axis when ``n_samples > 1``.
        """
        # only q(z | x) and the frequency head are needed: the library encoder and
        # the dispersion / dropout heads are skipped (half the work of inference)
        qz_m, qz_v, y = self.encode_scale(x, y)
        if n_samples > 1:
            qz_m, qz_v = expand_samples(n_samples, qz_m, qz_v)
        batch_index = decoder_batch_index(x, batch_index, transform_batch)
        return self.decode_scale(qz_m, qz_v, batch_index, y)

    def encode_scale(self, x: torch.Tensor, y: Optional[torch.Tensor] = None):
        """What :meth:`decode_scale` needs of a cell: ``q(z | x)`` and its labels.

        Splitting :meth:`get_sample_scale` in two lets a caller that draws many
        samples of few cells (differential expression) encode each cell once.

        Parameters
        ----------
        x, y
            As in :meth:`get_sample_scale`.

        Returns
        -------
        tuple of torch.Tensor
            ``(qz_m, qz_v, y)``: mean and variance of ``q(z | x)``, each
            ``(batch_size, n_latent)``, and the label covariate of the networks
            (``y`` itself, or the predicted labels of semi-supervised models).
        """
        y = self._label_covariate(x, y)
        qz_m, qz_v = self.z_encoder.gaussian(self._encoder_input(x), y)
        return qz_m, qz_v, y

    def decode_scale(
        self,
        qz_m: torch.Tensor,
        qz_v: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
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

        Returns
        -------
        torch.Tensor
            Frequencies, ``(..., batch_size, n_input)``, rows summing to 1.
        """
        z, _ = self.z_encoder.reparameterize_transformation(qz_m, qz_v)
        return self.decoder.scale(z, batch_index, y)

    def get_sample_rate(
        self,
        x: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
        n_samples: int = 1,
        transform_batch: Optional[int] = None,
    ) -> torch.Tensor:
        """Returns the tensor of means of the negative binomial distribution.

        Parameters
        ----------
        x, batch_index, y, n_samples, transform_batch
            As in :meth:`get_sample_scale`.

        Returns
        -------
        torch.Tensor
            ``exp(library) * px_scale``, shape ``(batch_size, n_input)``, with a
            leading ``(n_samples,)`` axis when ``n_samples > 1``.
        """
        return self._inference_output(
            "px_rate", x, batch_index, y, n_samples, transform_batch
        )

    def _inference_output(self, key, x, batch_index, y, n_samples, transform_batch):
        """One output of :meth:`inference`; ``n_samples`` and ``transform_batch``
        are passed by keyword, as subclasses may take other arguments between."""
        outputs = self.inference(
            x, batch_index, y, n_samples=n_samples, transform_batch=transform_batch
        )
        return outputs[key]
