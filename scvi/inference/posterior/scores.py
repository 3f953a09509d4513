"""Scores of a Posterior: likelihood bounds, latent-space metrics, imputation.

The likelihoods come from :mod:`scvi.models.log_likelihood` and the metrics from
:mod:`scvi.inference.metrics`; this module only feeds them the posterior's data.
"""

import logging
import os
from typing import List, Optional, Tuple

import numpy as np
import torch

from ...models.log_likelihood import (
    compute_elbo,
    compute_marginal_log_likelihood_autozi,
    compute_marginal_log_likelihood_scvi,
    compute_reconstruction_error,
)
from .. import metrics
from .plots import plot_t_sne
from .sampling import SamplingMixin, eval_mode

logger = logging.getLogger(__name__)


def metric_mode(mode: str):
    """Mark a posterior method as a metric where ``"min"`` or ``"max"`` is better.

    Early stopping reads the mark to know in which direction to look.
    """

    def mark(method):
        method.mode = mode
        return method

    return mark


class ScoresMixin(SamplingMixin):
    """Queries of :class:`~scvi.inference.Posterior` that return scores (built on
    the latent spaces and imputations of :class:`SamplingMixin`)."""

    # ------------------------------------------------------------ likelihoods
    def _is_autozi(self) -> bool:
        return hasattr(self.model, "get_alphas_betas")

    @metric_mode("min")
    def elbo(self) -> float:
        """Returns the Evidence Lower Bound associated to the object.

        Returns
        -------
        float
            The negative ELBO per cell (lower is better).
        """
        with eval_mode(self.model):
            elbo = compute_elbo(self.model, self)
        logger.debug("ELBO : %.4f", elbo)
        return elbo

    @metric_mode("min")
    def reconstruction_error(self) -> float:
        """Returns the reconstruction error associated to the object.

        Returns
        -------
        float
            ``-log p(x | z, l)`` per cell, one posterior sample (lower is better).
        """
        with eval_mode(self.model):
            error = compute_reconstruction_error(self.model, self)
        logger.debug("Reconstruction Error : %.4f", error)
        return error

    @metric_mode("min")
    def marginal_ll(self, n_mc_samples: Optional[int] = 1000) -> float:
        """Estimates the marginal likelihood of the object's data.

        Parameters
        ----------
        n_mc_samples
            Number of importance samples per cell.

        Returns
        -------
        float
            The negative marginal log-likelihood per cell (lower is better).
        """
        with eval_mode(self.model):
            if self._is_autozi():
                ll = compute_marginal_log_likelihood_autozi(
                    self.model, self, n_mc_samples
                )
            else:
                ll = compute_marginal_log_likelihood_scvi(
                    self.model, self, n_mc_samples
                )
        logger.debug("True LL : %.4f", ll)
        return ll

    # ------------------------------------------------------------ latent space
    def _latent_batches_labels(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latent means, batches and labels (1-d) of the cells, from
        :meth:`get_latent` (whose results may hold more, e.g. for totalVI)."""
        latent, batches, labels = self.get_latent()[:3]
        return latent, np.ravel(batches), np.ravel(labels)

    def _batches_for_mixing(self) -> Tuple[np.ndarray, np.ndarray]:
        latent, batch_indices, _ = self._latent_batches_labels()
        if len(np.unique(batch_indices)) < 2:
            raise ValueError(
                "entropy_batch_mixing needs cells from at least 2 batches, the "
                "posterior has one"
            )
        return latent, batch_indices

    @metric_mode("max")
    def entropy_batch_mixing(self, **kwargs) -> float:
        """Returns the object's entropy batch mixing (Lopez 2018).

        Parameters
        ----------
        **kwargs
            Passed to :func:`scvi.inference.posterior_utils.entropy_batch_mixing`
            (``n_neighbors``, ``n_pools``, ``n_samples_per_pool``).

        Returns
        -------
        float
            Mean entropy of the batch frequencies among the nearest neighbours
            of cells in the latent space: ``ln 2`` for two perfectly mixed
            batches, 0 for separated ones.
        """
        latent, batch_indices = self._batches_for_mixing()
        score = metrics.entropy_batch_mixing(latent, batch_indices, **kwargs)
        logger.debug("Entropy batch mixing : %.4f", score)
        return score

    @metric_mode("max")
    def knn_purity(self) -> float:
        """Computes kNN purity as described in Lopez et al. (2018).

        Returns
        -------
        float
            Mean over labels of the fraction of a cell's nearest neighbours in the
            latent space that share its label.
        """
        latent, _, labels = self._latent_batches_labels()
        score = metrics.knn_purity(latent, labels)
        logger.debug("KNN purity score : %.4f", score)
        return score

    def clustering_scores(self, prediction_algorithm: str = "knn") -> Tuple:
        """Clustering of the latent space compared with the labels.

        Parameters
        ----------
        prediction_algorithm
            ``"knn"`` (k-means) or ``"gmm"`` (Gaussian mixture) with as many
            clusters as labels.

        Returns
        -------
        tuple of float
            ``(asw, nmi, ari, uca)``: average silhouette width of the labels,
            normalized mutual information, adjusted Rand index and unsupervised
            clustering accuracy of the clusters against the labels.
        """
        n_labels = self.gene_dataset.n_labels
        if n_labels is None or n_labels < 2:
            raise ValueError("clustering_scores needs a dataset with at least 2 labels")
        latent, _, labels = self._latent_batches_labels()
        scores = metrics.clustering_scores(
            latent, labels, prediction_algorithm=prediction_algorithm, n_labels=n_labels
        )
        logger.debug(
            "Clustering Scores:\nSilhouette: %.4f\nNMI: %.4f\nARI: %.4f\nUCA: %.4f",
            *scores,
        )
        return scores

    def nn_overlap_score(self, **kwargs) -> Tuple[float, float]:
        """Quantify how much the similarity between cells in the mRNA latent space
        resembles their similarity at the protein level.

        Compute the overlap fold enrichment between the protein and mRNA-based cell
        100-nearest neighbor graph and the Spearman correlation of the adjacency
        matrices.

        Parameters
        ----------
        **kwargs
            Passed to :func:`scvi.inference.posterior_utils.nn_overlap` (``k``).

        Returns
        -------
        tuple of float
            ``(spearman_correlation, fold_enrichment)``.
        """
        proteins = getattr(self.gene_dataset, "protein_expression", None)
        if proteins is None:
            raise ValueError(
                "nn_overlap_score needs a dataset with a 'protein_expression' "
                "cell measurement"
            )
        latent = self._latent_batches_labels()[0]
        protein_data = np.asarray(proteins)[self.indices]
        spearman, fold = metrics.nn_overlap(latent, protein_data, **kwargs)
        logger.debug("Overlap Scores:\nSpearman: %.4f\nFold: %.4f", spearman, fold)
        return spearman, fold

    @staticmethod
    def apply_t_sne(latent: np.ndarray, n_samples: int = 1000) -> Tuple:
        """Embed up to ``n_samples`` random rows of ``latent`` in 2-d with t-SNE.

        Returns
        -------
        tuple
            ``(latent_tsne, idx_t_sne)``: ``(n, 2)`` coordinates and the rows
            chosen.
        """
        return metrics.apply_t_sne(latent, n_samples=n_samples)

    def show_t_sne(
        self,
        n_samples: int = 1000,
        color_by: str = "",
        save_name: str = "",
        latent: Optional[np.ndarray] = None,
        batch_indices: Optional[np.ndarray] = None,
        labels: Optional[np.ndarray] = None,
        n_batch: Optional[int] = None,
    ):
        """Scatter plot of a t-SNE of the latent space.

        Parameters
        ----------
        n_samples
            Number of cells shown (a random subset).
        color_by
            ``""`` (one colour), ``"batches"``, ``"labels"`` or
            ``"batches and labels"`` (two panels).
        save_name
            Write the figure to this file when given.
        latent, batch_indices, labels
            Use these instead of :meth:`get_latent`.
        n_batch
            Number of batches for the colour map (default: the dataset's).

        Returns
        -------
        matplotlib.figure.Figure
        """
        valid = ("", "batches", "labels", "batches and labels")
        if color_by not in valid:
            raise ValueError(f"color_by must be one of {list(valid)}, got {color_by!r}")
        if latent is None:
            latent, batch_indices, labels = self.get_latent(give_mean=False)
        coords, idx = self.apply_t_sne(latent, n_samples)
        colourings = []
        if color_by in ("batches", "batches and labels"):
            colourings.append(("batches", np.asarray(batch_indices).ravel()[idx]))
        if color_by in ("labels", "batches and labels"):
            colourings.append(("labels", np.asarray(labels).ravel()[idx]))
        return plot_t_sne(coords, colourings, save_name=save_name)

    # ------------------------------------------------------------ imputation
    def _sample_rate(self, tensors, n_samples: int) -> torch.Tensor:
        """The model's count means for a mini-batch of this posterior."""
        x, _, _, batch_index, labels = tensors[:5]
        return self.model.get_sample_rate(
            x, batch_index=batch_index, y=labels, n_samples=n_samples
        )

    def imputation_list(self, n_samples: int = 1) -> Tuple[List, List]:
        """Imputes data's gene counts from corrupted data.

        The dataset must have been corrupted first (``gene_dataset.corrupt()`` or
        ``trainer.corrupt_posteriors()``); the model, run on the corrupted counts,
        imputes the entries the corruption changed.

        Parameters
        ----------
        n_samples
            Number of posterior samples of the imputed means.

        Returns
        -------
        tuple of lists
            ``(original_list, imputed_list)``: for each cell, the original counts
            of its corrupted entries and their imputed means (``n_samples`` values
            per entry).
        """
        original_list, imputed_list = [], []
        batch_size = self.data_loader.batch_size
        pairs = zip(
            self.uncorrupted().sequential(batch_size),
            self.corrupted().sequential(batch_size),
        )
        with eval_mode(self.model):
            for tensors, corrupted_tensors in pairs:
                x, x_corrupted = tensors[0], corrupted_tensors[0]
                rate = self._sample_rate(corrupted_tensors, n_samples)
                rate = rate.reshape((n_samples,) + x.shape)
                cells, genes = torch.nonzero(x != x_corrupted, as_tuple=True)
                original = x[cells, genes].cpu().numpy()
                imputed = rate[:, cells, genes].T.cpu().numpy()  # entries x samples
                bounds = np.searchsorted(cells.cpu().numpy(), np.arange(1, x.shape[0]))
                original_list.extend(np.split(original, bounds))
                imputed_list.extend(a.ravel() for a in np.split(imputed, bounds))
        # original values repeated once per sample, to pair with the imputations
        original_list = [np.repeat(o, n_samples) for o in original_list]
        return original_list, imputed_list

    def imputation_score(
        self,
        original_list: Optional[List] = None,
        imputed_list: Optional[List] = None,
        n_samples: int = 1,
    ) -> float:
        """Computes median absolute imputation error.

        Parameters
        ----------
        original_list, imputed_list
            Output of :meth:`imputation_list` (computed when not given).
        n_samples
            Passed to :meth:`imputation_list`.

        Returns
        -------
        float
            Median of ``|original - imputed|`` over all corrupted entries.
        """
        if original_list is None or imputed_list is None:
            original_list, imputed_list = self.imputation_list(n_samples=n_samples)
        return metrics.imputation_error(
            np.concatenate(original_list), np.concatenate(imputed_list)
        )

    def imputation_benchmark(
        self,
        n_samples: int = 8,
        show_plot: bool = True,
        title_plot: str = "imputation",
        save_path: str = "",
    ) -> Tuple:
        """Visualizes the model imputation performance.

        Parameters
        ----------
        n_samples
            Number of posterior samples of the imputed means.
        show_plot
            Show the plot (``plt.show``).
        title_plot
            Title of the plot, also its file name.
        save_path
            Folder where ``<title_plot>.png`` is written when given.

        Returns
        -------
        tuple
            ``(original_list, imputed_list)`` as :meth:`imputation_list`.
        """
        original_list, imputed_list = self.imputation_list(n_samples=n_samples)
        per_cell = [
            np.median(np.abs(o - i))
            for o, i in zip(original_list, imputed_list)
            if len(o)
        ]
        logger.info(
            "Imputation Scores [corruption:%s - rate:%s] on %s after %s:"
            "\nMedian of Median: %.4f\nMean of Median for each cell: %.4f",
            getattr(self.gene_dataset, "corruption", None),
            getattr(self.gene_dataset, "corruption_rate", None),
            self.posterior_type,
            n_samples,
            self.imputation_score(original_list, imputed_list),
            float(np.mean(per_cell)) if per_cell else float("nan"),
        )
        figure = metrics.plot_imputation(
            np.concatenate(original_list),
            np.concatenate(imputed_list),
            show_plot=show_plot,
            title=title_plot,
        )
        if save_path:
            figure.savefig(os.path.join(save_path, title_plot + ".png"))
        return original_list, imputed_list
