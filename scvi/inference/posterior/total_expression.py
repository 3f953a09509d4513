"""Expression queries of :class:`~scvi.inference.TotalPosterior`: denoised genes
and proteins, background and mixing probabilities, posterior predictive samples.

Every method visits the posterior's cells in the order of ``posterior.indices``.
Arrays of samples put the samples on the last axis, ``(n_cells, n_features,
n_samples)``, as scVI 0.6 does for totalVI; ``give_mean`` averages them away.
"""

from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ...models._totalvi_sampling import protein_expression
from ...models._vae_covariates import covariate_kwargs
from ...models.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from .sampling import (
    TransformBatch,
    _numpy,
    batches_to_average,
    eval_mode,
    feature_correlation,
)


def split_total_batch(
    model, tensors: Sequence[torch.Tensor]
) -> Tuple[Tuple[torch.Tensor, ...], Dict[str, torch.Tensor]]:
    """The six tensors of a TotalPosterior mini-batch and the model's covariates.

    A mini-batch is ``(x, local_l_mean, local_l_var, batch_index, labels, y,
    *covariates)``: the protein counts ``y`` (the posterior's extra attribute)
    come before the covariate attributes of the model (``cont_covs`` /
    ``cat_covs``, see :func:`~scvi.models._vae_covariates.covariate_dtypes`),
    which :func:`~scvi.models._vae_covariates.covariate_kwargs` reads from the
    end.

    Parameters
    ----------
    model
        The TOTALVI of the posterior.
    tensors
        A mini-batch.

    Returns
    -------
    tuple
        ``((x, local_l_mean, local_l_var, batch_index, labels, y), covariates)``,
        ``covariates`` the keyword arguments of the model's methods (empty for a
        model without extra covariates).
    """
    return tuple(tensors[:6]), covariate_kwargs(model, tensors)


def _samples_last(value: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``(n_samples, cells, features)`` (or ``(cells, features)`` for one sample)
    as ``(cells, features, n_samples)``."""
    if n_samples == 1:
        value = value.unsqueeze(0)
    return value.permute(1, 2, 0)


class TotalExpressionMixin:
    """Queries of gene and protein expression under a fitted TOTALVI (mixed into
    :class:`~scvi.inference.TotalPosterior`, which supplies ``_total_batches``)."""

    def _per_cell(
        self,
        compute: Callable,
        n_samples: int = 1,
        give_mean: bool = True,
        transform_batch: TransformBatch = None,
        batch_size: Optional[int] = None,
    ):
        """``compute(outputs, tensors)`` over the cells, from the model's
        ``inference`` with ``n_samples`` draws, averaged over the batches of
        ``transform_batch``; a tensor or a tuple of tensors per mini-batch.

        Returns arrays ``(n_cells, features)``, or ``(n_cells, features,
        n_samples)`` when ``n_samples > 1`` and not ``give_mean``.
        """
        batches = batches_to_average(transform_batch)
        self._check_transform_batch(batches)
        parts = []
        with eval_mode(self.model):
            for tensors in self._total_batches(batch_size):
                (x, _, _, batch_index, labels, y), covs = split_total_batch(
                    self.model, tensors
                )
                total = None
                for b in batches:
                    out = self.model.inference(
                        x, y, batch_index, labels, n_samples, transform_batch=b, **covs
                    )
                    values = compute(out, tensors)
                    values = values if isinstance(values, tuple) else (values,)
                    total = (
                        values
                        if total is None
                        else tuple(t + v for t, v in zip(total, values))
                    )
                values = [_samples_last(v / len(batches), n_samples) for v in total]
                if give_mean:
                    values = [v.mean(dim=-1) for v in values]
                elif n_samples == 1:
                    values = [v[..., 0] for v in values]
                parts.append([_numpy(v) for v in values])
        arrays = tuple(np.concatenate(column) for column in zip(*parts))
        return arrays if len(arrays) > 1 else arrays[0]

    # ------------------------------------------------------------ expression
    def get_protein_background_mean(self) -> np.ndarray:
        """One posterior draw of the background mean of each protein in each cell.

        Returns
        -------
        np.ndarray
            ``(n_cells, n_proteins)``: the background rate ``exp(beta)``, with
            ``beta`` drawn from its variational posterior (as scVI 0.6 does).
        """
        return self._per_cell(lambda out, _: out["py_"]["rate_back"])

    def get_sample_dropout(
        self, n_samples: int = 1, give_mean: bool = True
    ) -> np.ndarray:
        """Zero-inflation mixing component for genes: the dropout probability.

        Parameters
        ----------
        n_samples
            Number of samples from the posterior distribution.
        give_mean
            Average over the samples, else return them on the last axis.

        Returns
        -------
        np.ndarray
            ``(n_cells, n_genes)`` probabilities (``(..., n_samples)`` when not
            ``give_mean``).
        """
        return self._per_cell(
            lambda out, _: torch.sigmoid(out["px_"]["dropout"]), n_samples, give_mean
        )

    def get_sample_mixing(
        self,
        n_samples: int = 1,
        give_mean: bool = True,
        transform_batch: TransformBatch = None,
    ) -> np.ndarray:
        """Returns mixing bernoulli parameter for protein negative binomial mixtures
        (probability background).

        Parameters
        ----------
        n_samples
            Number of samples from the posterior distribution.
        give_mean
            Average over the samples, else return them on the last axis.
        transform_batch
            Batches to condition on: None (observed), an int, or a list averaged
            over.

        Returns
        -------
        np.ndarray
            ``(n_cells, n_proteins)`` probabilities that a count is background.
        """
        return self._per_cell(
            lambda out, _: torch.sigmoid(out["py_"]["mixing"]),
            n_samples,
            give_mean,
            transform_batch,
        )

    def get_sample_scale(
        self,
        transform_batch: TransformBatch = None,
        eps: float = 0.5,
        normalize_pro: bool = False,
        sample_bern: bool = True,
        include_bg: bool = False,
    ) -> np.ndarray:
        """Helper function to provide normalized expression for DE testing: the
        gene frequencies and the protein expression of one posterior draw,
        concatenated.

        For normalized, denoised expression, please use
        :meth:`get_normalized_denoised_expression`.

        Parameters
        ----------
        transform_batch
            Batches to condition on: None (observed), an int, or a list averaged
            over.
        eps
            Prior count added to the protein expression.
        normalize_pro
            Make the protein expression of a cell sum to one (before ``eps``).
        sample_bern
            Draw the background indicator instead of using its probability.
        include_bg
            Include the background component of protein expression.

        Returns
        -------
        np.ndarray
            ``(n_cells, n_genes + n_proteins)``.
        """

        def scales(out, tensors):
            protein = protein_expression(
                out["py_"], sample_bern, include_bg, normalize_pro, eps
            )
            return torch.cat([out["px_"]["scale"], protein], dim=-1)

        return self._per_cell(scales, transform_batch=transform_batch)

    def get_normalized_denoised_expression(
        self,
        n_samples: int = 1,
        give_mean: bool = True,
        transform_batch: TransformBatch = None,
        sample_protein_mixing: bool = True,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Returns the tensors of denoised normalized gene and protein expression.

        Parameters
        ----------
        n_samples
            Number of samples from the posterior distribution.
        give_mean
            Average over the samples, else return them on the last axis.
        transform_batch
            Batches to condition on: None (observed), an int, or a list averaged
            over.
        sample_protein_mixing
            Draw the background indicator (a background count becomes 0) instead
            of weighting the foreground by its probability.

        Returns
        -------
        genes : np.ndarray
            ``(n_cells, n_genes)`` frequencies (rows sum to one).
        proteins : np.ndarray
            ``(n_cells, n_proteins)`` foreground expression.
        """

        def denoised(out, tensors):
            protein = protein_expression(out["py_"], sample_protein_mixing)
            return out["px_"]["scale"], protein

        return self._per_cell(denoised, n_samples, give_mean, transform_batch)

    def get_protein_mean(
        self,
        n_samples: int = 1,
        give_mean: bool = True,
        transform_batch: TransformBatch = None,
    ) -> np.ndarray:
        """Returns the tensors of protein mean (with foreground and background).

        Parameters
        ----------
        n_samples
            Number of samples from the posterior distribution.
        give_mean
            Average over the samples, else return them on the last axis.
        transform_batch
            Batches to condition on: None (observed), an int, or a list averaged
            over.

        Returns
        -------
        np.ndarray
            ``(n_cells, n_proteins)``: ``pi rate_back + (1 - pi) rate_fore``, with
            ``pi`` the background probability.
        """

        def mean(out, tensors):
            return protein_expression(out["py_"], sample_bern=False, include_bg=True)

        return self._per_cell(mean, n_samples, give_mean, transform_batch)

    def imputation(self, n_samples: int = 1) -> np.ndarray:
        """Gene imputation: the means of the gene counts.

        Parameters
        ----------
        n_samples
            Number of posterior samples.

        Returns
        -------
        np.ndarray
            ``(n_cells, n_genes)``; ``(n_samples, n_cells, n_genes)`` when
            ``n_samples > 1`` (as :meth:`scvi.inference.Posterior.imputation`).
        """
        rates = self._per_cell(
            lambda out, _: out["px_"]["rate"], n_samples, give_mean=False
        )
        return rates if n_samples == 1 else np.moveaxis(rates, -1, 0)

    def generate_parameters(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimates the gene counts' dropout logits, means and dispersions (one
        posterior draw; proteins have a mixture, see :meth:`get_protein_mean`).

        Returns
        -------
        tuple of np.ndarray
            ``(dropout_logits, means, dispersions)``, each ``(n_cells, n_genes)``;
            ``dispersions`` is the inverse dispersion ``theta``.
        """

        def parameters(out, tensors):
            px_ = out["px_"]
            rate = px_["rate"]
            return px_["dropout"], rate, px_["r"].expand_as(rate)

        return self._per_cell(parameters)

    # ------------------------------------------------------------ samples
    def generate(
        self, n_samples: int = 100, batch_size: int = 64
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Sample from posterior predictive. Proteins are concatenated to genes.

        Parameters
        ----------
        n_samples
            Number of posterior predictive samples per cell.
        batch_size
            Mini-batch size for sampling.

        Returns
        -------
        x_new : np.ndarray
            ``(n_cells, n_genes + n_proteins, n_samples)`` samples.
        x_old : np.ndarray
            ``(n_cells, n_genes + n_proteins)`` observed counts.
        """

        def draw(out, tensors):
            px_, py_ = out["px_"], out["py_"]
            rate = px_["rate"]
            theta = px_["r"].expand_as(rate)
            if self.model.reconstruction_loss_gene == "zinb":
                genes = ZeroInflatedNegativeBinomial(
                    mu=rate, theta=theta, zi_logits=px_["dropout"]
                ).sample()
            else:
                genes = NegativeBinomial(mu=rate, theta=theta).sample()
            # the background where the drawn indicator is 1, else the foreground
            protein_rate = protein_expression(py_, sample_bern=True, include_bg=True)
            proteins = NegativeBinomial(
                mu=protein_rate, theta=py_["r"].expand_as(protein_rate)
            ).sample()
            return torch.cat([genes, proteins], dim=-1)

        x_new = self._per_cell(draw, n_samples, False, batch_size=batch_size)
        if n_samples == 1:
            x_new = x_new[..., None]
        x_old = np.concatenate(
            [
                np.concatenate([_numpy(t[0]), _numpy(t[5])], axis=1)
                for t in self._total_batches(batch_size)
            ]
        )
        return x_new, x_old

    def generate_denoised_samples(
        self,
        n_samples: int = 25,
        batch_size: int = 64,
        rna_size_factor: int = 1,
        transform_batch: Optional[int] = None,
    ) -> np.ndarray:
        """Samples from an adjusted posterior predictive. Proteins are concatenated
        to genes.

        Genes: gamma-Poisson draws at ``rna_size_factor`` times the frequencies
        (no zero-inflation); proteins: gamma-Poisson draws of the foreground
        (a drawn background indicator sets a protein to 0).

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
            ``(n_cells, n_genes + n_proteins, n_samples)``.
        """

        def draw(out, tensors):
            px_, py_ = out["px_"], out["py_"]
            gene_rate = rna_size_factor * px_["scale"]
            protein_rate = protein_expression(py_, sample_bern=True)
            rate = torch.cat([gene_rate, protein_rate], dim=-1)
            theta = torch.cat(
                [px_["r"].expand_as(gene_rate), py_["r"].expand_as(protein_rate)],
                dim=-1,
            )
            gamma = torch.distributions.Gamma(theta, theta / rate.clamp(min=1e-8))
            return torch.poisson(gamma.sample().clamp(max=1e8))

        samples = self._per_cell(
            draw, n_samples, False, transform_batch, batch_size=batch_size
        )
        return samples[..., None] if n_samples == 1 else samples

    def generate_feature_correlation_matrix(
        self,
        n_samples: int = 25,
        batch_size: int = 64,
        rna_size_factor: int = 1000,
        transform_batch: TransformBatch = None,
        correlation_mode: str = "pearson",
        log_transform: bool = False,
    ) -> np.ndarray:
        """Create a gene-protein gene-protein correlation matrix.

        Wraps :meth:`generate_denoised_samples`.

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
        correlation_mode
            ``"pearson"`` or ``"spearman"``.
        log_transform
            Correlate ``log(1 + samples)``.

        Returns
        -------
        np.ndarray
            ``(n_genes + n_proteins, n_genes + n_proteins)``.
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
        if log_transform:
            pooled = [np.log1p(samples) for samples in pooled]
        return feature_correlation(pooled, correlation_mode, "correlation_mode")
