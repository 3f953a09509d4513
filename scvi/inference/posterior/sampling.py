"""Latent space, normalized expression and posterior predictive samples.

Every method visits the posterior's cells in the order of ``posterior.indices`` (row
``i`` of a result is cell ``indices[i]``), without gradients and with the model in
evaluation mode.
"""

import contextlib
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from scipy.stats import rankdata

from ...models._vae_covariates import covariate_kwargs
from ...models.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from .base import PosteriorBase

TransformBatch = Optional[Union[int, Sequence[int]]]


@contextlib.contextmanager
def eval_mode(model):
    """Evaluation mode and no gradients inside; the previous mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def batches_to_average(transform_batch: TransformBatch) -> List[Optional[int]]:
    """``None`` -> ``[None]`` (observed batches); an int or a list -> a list."""
    if transform_batch is None:
        return [None]
    if isinstance(transform_batch, (int, np.integer)):
        return [int(transform_batch)]
    batches = [int(b) for b in transform_batch]
    if not batches:
        raise ValueError("transform_batch must not be an empty list")
    return batches


def feature_correlation(
    pooled: List[np.ndarray], kind: str, name: str = "correlation_type"
) -> np.ndarray:
    """Feature-feature correlation of samples pooled over cells and draws.

    Parameters
    ----------
    pooled
        Arrays ``(n_cells, n_features, n_samples)``.
    kind
        ``"pearson"`` or ``"spearman"`` (Pearson correlation of the ranks).
    name
        The caller's name of ``kind``, for the error message.

    Returns
    -------
    np.ndarray
        ``(n_features, n_features)``.
    """
    if kind not in ("pearson", "spearman"):
        raise ValueError(f"{name} must be one of ['pearson', 'spearman'], got {kind!r}")
    # (cells, features, samples) -> (cells * samples, features)
    data = np.concatenate(
        [a.transpose(0, 2, 1).reshape(-1, a.shape[1]) for a in pooled]
    )
    if kind == "spearman":
        data = rankdata(data, axis=0)
    return np.corrcoef(data, rowvar=False)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


class SamplingMixin(PosteriorBase):
    """Queries of :class:`~scvi.inference.Posterior` that return per-cell arrays
    (built on the cell iteration of :class:`PosteriorBase`)."""

    def _check_transform_batch(self, batches: List[Optional[int]]) -> None:
        n_batch = getattr(self.model, "n_batch", 0)
        for b in batches:
            if b is not None and not 0 <= b < max(n_batch, 1):
                raise ValueError(
                    f"transform_batch must be a batch index in [0, {max(n_batch, 1)})"
                    f", got {b}"
                )

    def _averaged_over_batches(self, method, transform_batch, n_samples):
        """Concatenate ``model.<method>`` over mini-batches, averaged over batches."""
        batches = batches_to_average(transform_batch)
        self._check_transform_batch(batches)
        compute = getattr(self.model, method)
        out, start = None, 0
        with eval_mode(self.model):
            for tensors in self._ordered():
                x, _, _, batch_index, labels = tensors[:5]
                values = None
                for b in batches:
                    one = compute(
                        x,
                        batch_index=batch_index,
                        y=labels,
                        n_samples=n_samples,
                        transform_batch=b,
                        **covariate_kwargs(self.model, tensors),
                    )
                    values = one if values is None else values + one
                if len(batches) > 1:
                    values = values / len(batches)
                values = _numpy(values)
                if out is None:  # rows are cells (axis -2), written in place
                    shape = list(values.shape)
                    shape[-2] = self.nb_cells
                    out = np.empty(shape, dtype=values.dtype)
                stop = start + values.shape[-2]
                out[..., start:stop, :] = values
                start = stop
        if out is None:
            raise ValueError("the posterior holds no cell")
        return out[..., :start, :]  # shorter only with drop_last

    def _latent_z(self, x: torch.Tensor, give_mean: bool, **covariates) -> torch.Tensor:
        """The latent mean or sample of the cells ``x`` (of :meth:`get_latent`)."""
        return self.model.sample_from_posterior_z(x, give_mean=give_mean, **covariates)

    def get_latent(
        self, give_mean: bool = True
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Output posterior z mean or sample, batch index, and label.

        Parameters
        ----------
        give_mean
            The mean of ``q(z | x)`` if True, else one sample of it.

        Returns
        -------
        latent : np.ndarray
            ``(n_cells, n_latent)``.
        batch_indices : np.ndarray
            ``(n_cells,)``.
        labels : np.ndarray
            ``(n_cells,)``.
        """
        latent, batch_indices, labels = [], [], []
        with eval_mode(self.model):
            for tensors in self._ordered():
                x, _, _, batch_index, label = tensors[:5]
                covs = covariate_kwargs(self.model, tensors, encoder=True)
                latent.append(_numpy(self._latent_z(x, give_mean, **covs)))
                batch_indices.append(_numpy(batch_index))
                labels.append(_numpy(label))
        return (
            np.concatenate(latent),
            np.concatenate(batch_indices).ravel(),
            np.concatenate(labels).ravel(),
        )

    def get_sample_scale(self, transform_batch: TransformBatch = None) -> np.ndarray:
        """Computes data's scales: the normalized expression ``rho`` of each cell.

        Parameters
        ----------
        transform_batch
            None to decode each cell in its own batch, an int to decode every cell
            in that batch, a list of ints to average over those batches.

        Returns
        -------
        np.ndarray
            ``(n_cells, n_genes)``, rows summing to 1.
        """
        return self._averaged_over_batches("get_sample_scale", transform_batch, 1)

    def imputation(
        self, n_samples: int = 1, transform_batch: TransformBatch = None
    ) -> np.ndarray:
        """Imputes ``px_rate`` (the mean count ``l * rho``) over self cells.

        Parameters
        ----------
        n_samples
            Number of posterior samples per cell.
        transform_batch
            As in :meth:`get_sample_scale`.

        Returns
        -------
        np.ndarray
            ``(n_samples, n_cells, n_genes)`` squeezed: ``(n_cells, n_genes)`` when
            ``n_samples == 1``.
        """
        return self._averaged_over_batches(
            "get_sample_rate", transform_batch, n_samples
        ).squeeze()

    def _count_distribution(self, outputs):
        loss = getattr(self.model, "reconstruction_loss", "zinb")
        if loss == "poisson":
            return torch.distributions.Poisson(outputs["px_rate"])
        theta = outputs["px_r"].expand_as(outputs["px_rate"])
        if loss == "nb":
            return NegativeBinomial(mu=outputs["px_rate"], theta=theta)
        return ZeroInflatedNegativeBinomial(
            mu=outputs["px_rate"], theta=theta, zi_logits=outputs["px_dropout"]
        )

    def generate(
        self,
        n_samples: int = 100,
        genes: Optional[Union[list, np.ndarray]] = None,
        batch_size: int = 128,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Create observation samples from the Posterior Predictive distribution.

        Parameters
        ----------
        n_samples
            Number of required samples for each cell.
        genes
            Indices of genes of interest (default: all).
        batch_size
            Desired batch size to generate data.

        Returns
        -------
        x_new : np.ndarray
            ``(n_cells, n_genes, n_samples)`` samples of ``p(x_new | x)``.
        x_old : np.ndarray
            ``(n_cells, n_genes)`` observed counts.
        """
        x_new, x_old = [], []
        with eval_mode(self.model):
            for tensors in self._ordered(batch_size):
                x, _, _, batch_index, labels = tensors[:5]
                outputs = self.model.inference(
                    x,
                    batch_index=batch_index,
                    y=labels,
                    n_samples=n_samples,
                    **covariate_kwargs(self.model, tensors),
                )
                samples = self._count_distribution(outputs).sample()
                if n_samples == 1:
                    samples = samples.unsqueeze(0)
                samples = samples.permute(1, 2, 0)  # cells, genes, samples
                if genes is not None:
                    samples, x = samples[:, genes], x[:, genes]
                x_new.append(_numpy(samples))
                x_old.append(_numpy(x))
        return np.concatenate(x_new), np.concatenate(x_old)

    def generate_parameters(
        self, n_samples: int = 1, give_mean: bool = False
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimates data's count means, dispersions and dropout logits.

        Parameters
        ----------
        n_samples
            Number of posterior samples per cell.
        give_mean
            Average over the samples (when ``n_samples > 1``).

        Returns
        -------
        tuple of np.ndarray
            ``(dropout_logits, means, dispersions)``, each ``(n_cells, n_genes)``,
            or ``(n_samples, n_cells, n_genes)`` when ``n_samples > 1`` and not
            ``give_mean``. ``dispersions`` is the inverse dispersion ``theta``.
        """
        dropout, means, dispersions = [], [], []
        with eval_mode(self.model):
            for tensors in self._ordered():
                x, _, _, batch_index, labels = tensors[:5]
                outputs = self.model.inference(
                    x,
                    batch_index=batch_index,
                    y=labels,
                    n_samples=n_samples,
                    **covariate_kwargs(self.model, tensors),
                )
                rate = outputs["px_rate"]
                values = (
                    outputs["px_dropout"].expand_as(rate),
                    rate,
                    outputs["px_r"].expand_as(rate),
                )
                if n_samples > 1 and give_mean:
                    values = tuple(v.mean(dim=0) for v in values)
                for store, value in zip((dropout, means, dispersions), values):
                    store.append(_numpy(value))
        return tuple(
            np.concatenate(store, axis=-2) for store in (dropout, means, dispersions)
        )

    def generate_denoised_samples(
        self,
        n_samples: int = 25,
        batch_size: int = 64,
        rna_size_factor: int = 1000,
        transform_batch: Optional[int] = None,
    ) -> np.ndarray:
        """Return samples from an adjusted posterior predictive.

        Each cell's normalized expression ``rho`` is scaled to ``rna_size_factor``
        counts and counts are drawn from the gamma-Poisson mixture with the
        model's inverse dispersion, without zero-inflation: denoised samples at a
        common library size.

        Parameters
        ----------
        n_samples
            How many samples per cell.
        batch_size
            Mini-batch size for sampling. Lower means less GPU memory footprint.
        rna_size_factor
            Size factor for RNA prior to sampling gamma distribution.
        transform_batch
            Batch to condition on for all cells (None: observed batches).

        Returns
        -------
        np.ndarray
            ``(n_cells, n_genes, n_samples)``.
        """
        samples = []
        with eval_mode(self.model):
            for tensors in self._ordered(batch_size):
                x, _, _, batch_index, labels = tensors[:5]
                outputs = self.model.inference(
                    x,
                    batch_index=batch_index,
                    y=labels,
                    n_samples=n_samples,
                    transform_batch=transform_batch,
                    **covariate_kwargs(self.model, tensors),
                )
                rate = rna_size_factor * outputs["px_scale"]
                if n_samples == 1:
                    rate = rate.unsqueeze(0)
                theta = outputs["px_r"].expand_as(rate)
                gamma = torch.distributions.Gamma(theta, theta / rate).sample()
                draws = torch.poisson(gamma.clamp(max=1e8))
                samples.append(_numpy(draws.permute(1, 2, 0)))
        return np.concatenate(samples)

    def generate_feature_correlation_matrix(
        self,
        n_samples: int = 10,
        batch_size: int = 64,
        rna_size_factor: int = 1000,
        transform_batch: TransformBatch = None,
        correlation_type: str = "spearman",
    ) -> np.ndarray:
        """Wrapper of :meth:`generate_denoised_samples`: a gene-gene corr matrix.

        Parameters
        ----------
        n_samples
            How many samples per cell.
        batch_size
            Mini-batch size for sampling.
        rna_size_factor
            Size factor for RNA prior to sampling gamma distribution.
        transform_batch
            None: observed batches; an int: that batch; a list of ints: the
            samples of every listed batch are pooled.
        correlation_type
            One of ``"pearson"``, ``"spearman"``.

        Returns
        -------
        np.ndarray
            ``(n_genes, n_genes)`` correlation matrix.
        """
        pooled = [
            self.generate_denoised_samples(
                n_samples=n_samples,
                batch_size=batch_size,
                rna_size_factor=rna_size_factor,
                transform_batch=b,
            )
            for b in batches_to_average(transform_batch)
        ]
        return feature_correlation(pooled, correlation_type, "correlation_type")
