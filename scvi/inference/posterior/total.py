"""TotalPosterior: the Posterior of a TOTALVI model on CITE-seq data (genes and
proteins measured in the same cells).

Mini-batches carry the protein counts after the usual tensors: ``(x,
local_l_mean, local_l_var, batch_index, labels, y)``, then the extra covariates
of a model that has them (:func:`split_total_batch`). The likelihood scores and
the latent space are defined here; the expression queries come from
:class:`~scvi.inference.posterior.total_expression.TotalExpressionMixin`, and
everything else (data plumbing, differential expression over genes and proteins
together, clustering scores on the latent space) from
:class:`~scvi.inference.Posterior`.
"""

import logging
from typing import List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp_sparse
import torch

from ...dataset._derived import counts_properties
from .core import Posterior
from .sampling import _numpy, eval_mode
from .scores import metric_mode
from .total_expression import TotalExpressionMixin, split_total_batch

logger = logging.getLogger(__name__)

RECONSTRUCTION_MODES = ("total", "gene", "protein")


def check_protein_data(model, gene_dataset) -> None:
    """Raise a ValueError naming the problem when ``gene_dataset`` cannot feed the
    TOTALVI ``model``: no protein counts, negative or NaN ones, or another number
    of proteins or genes than the model's."""
    proteins = getattr(gene_dataset, "protein_expression", None)
    if proteins is None:
        raise ValueError(
            "gene_dataset has no protein_expression: totalVI needs protein counts "
            "(a CellMeasurement named 'protein_expression', e.g. from "
            "CiteSeqDataset, Dataset10X antibody capture or "
            "AnnDatasetFromAnnData with obsm['protein_expression'])"
        )
    values = proteins.data if sp_sparse.issparse(proteins) else np.asarray(proteins)
    if np.ndim(proteins) != 2 or proteins.shape[0] != len(gene_dataset):
        raise ValueError(
            "protein_expression must have one row per cell "
            f"({len(gene_dataset)}), got shape {np.shape(proteins)}"
        )
    if np.isnan(values).any():
        raise ValueError("protein_expression holds NaN values; counts are needed")
    if (values < 0).any():
        raise ValueError("protein_expression holds negative values; counts are needed")
    for attribute, found, name in (
        ("n_input_proteins", proteins.shape[1], "proteins (protein_expression)"),
        ("n_input_genes", gene_dataset.nb_genes, "genes"),
    ):
        expected = getattr(model, attribute, None)
        if expected is None:
            raise ValueError(
                f"model must be a TOTALVI (it has no {attribute}), got a "
                f"{type(model).__name__}"
            )
        if expected != found:
            raise ValueError(
                f"the model has {attribute}={expected} but the dataset has "
                f"{found} {name}"
            )


class TotalPosterior(TotalExpressionMixin, Posterior):
    """The functional data unit for totalVI.

    A ``TotalPosterior`` is instantiated with a TOTALVI model and a
    ``gene_dataset`` with protein counts (attribute ``protein_expression``), and
    the arguments of its mini-batch loader. A subset of indices can be given, for
    instance for the train/test/validation split of
    :class:`~scvi.inference.TotalTrainer`. Queries cover the ELBO and marginal
    likelihood of genes and proteins, the latent space, denoised gene and protein
    expression, background and foreground probabilities of proteins, posterior
    predictive samples and differential expression over genes and proteins
    (rows named by the genes, then the proteins).

    Parameters
    ----------
    model
        A model instance from class TOTALVI.
    gene_dataset
        A dataset with the attribute ``protein_expression`` (e.g.
        ``CbmcDataset()``).
    shuffle
        Whether a RandomSampler or a SequentialSampler should be used.
    indices
        The cells of this posterior (train/test split, ...).
    use_cuda
        Use the GPU when one is available.
    data_loader_kwargs
        Keyword arguments of the mini-batch loader.

    Examples
    --------
    >>> gene_dataset = CbmcDataset()
    >>> totalvi = TOTALVI(gene_dataset.nb_genes, len(gene_dataset.protein_names),
    ... n_batch=gene_dataset.n_batches)
    >>> trainer = TotalTrainer(totalvi, gene_dataset)
    >>> trainer.train(n_epochs=400)
    >>> latent, batches, labels, library = trainer.test_set.get_latent()
    """

    extra_attributes = {"protein_expression": np.float32}

    def __init__(
        self,
        model,
        gene_dataset,
        shuffle: bool = False,
        indices: Optional[Union[List[int], np.ndarray]] = None,
        use_cuda: bool = True,
        data_loader_kwargs: Optional[dict] = None,
    ):
        check_protein_data(model, gene_dataset)
        super().__init__(
            model,
            gene_dataset,
            shuffle=shuffle,
            indices=indices,
            use_cuda=use_cuda,
            data_loader_kwargs=data_loader_kwargs,
        )

    def _total_batches(self, batch_size: Optional[int] = None):
        """Mini-batches ``(x, l_mean, l_var, batch_index, labels, y, *covariates)``
        in the order of :attr:`indices` (see :func:`split_total_batch`)."""
        return self._ordered(batch_size)

    def _sample_rate(self, tensors, n_samples: int) -> torch.Tensor:
        (x, _, _, batch_index, labels, y), covs = split_total_batch(self.model, tensors)
        return self.model.get_sample_rate(x, y, batch_index, labels, n_samples, **covs)

    # ------------------------------------------------------------ likelihoods
    def _negative_elbo_terms(self, vae, batch_size: Optional[int] = None):
        """Per mini-batch, the five per-cell terms of ``vae.forward``."""
        with eval_mode(vae):
            for tensors in self._total_batches(batch_size):
                (x, l_mean, l_var, batch_index, labels, y), covs = split_total_batch(
                    vae, tensors
                )
                yield vae(x, y, l_mean, l_var, batch_index, labels, **covs)

    def compute_elbo(self, vae, **kwargs) -> float:
        """Computes the ELBO: the reconstruction error of genes and proteins plus
        the KL divergences of ``z``, of the gene library and of the protein
        background means, per cell.

        Parameters
        ----------
        vae
            A TOTALVI model.
        **kwargs
            Unused (scVI 0.6 signature).

        Returns
        -------
        float
            The negative ELBO per cell (lower is better).
        """
        total = sum(
            float(sum(term.sum() for term in terms))
            for terms in self._negative_elbo_terms(vae)
        )
        return total / max(self.nb_cells, 1)

    def compute_reconstruction_error(self, vae, **kwargs) -> Tuple[float, float]:
        """Computes ``-log p(x, y | z)``, the reconstruction error of genes and of
        proteins (one posterior draw), per cell.

        Parameters
        ----------
        vae
            A TOTALVI model.
        **kwargs
            Unused (scVI 0.6 signature).

        Returns
        -------
        tuple of float
            ``(genes, proteins)``.
        """
        genes = proteins = 0.0
        for terms in self._negative_elbo_terms(vae):
            genes += float(terms[0].sum())
            proteins += float(terms[1].sum())
        n_cells = max(self.nb_cells, 1)
        return genes / n_cells, proteins / n_cells

    def compute_marginal_log_likelihood(
        self, n_samples_mc: int = 100, batch_size: int = 96
    ) -> float:
        """Computes a biased estimator for ``log p(x, y)``, the marginal log
        likelihood, by importance sampling with the variational posterior.

        Despite its bias, the estimator converges to ``log p(x, y)`` when
        ``n_samples_mc`` goes to infinity. The weights are those of
        :meth:`scvi.models.TOTALVI.log_importance_weight`: a model with
        ``use_observed_lib_size`` integrates no library term.

        Parameters
        ----------
        n_samples_mc
            Number of importance samples per cell.
        batch_size
            Cells per mini-batch.

        Returns
        -------
        float
            ``-log p(x, y)`` per cell (lower is better).
        """
        if n_samples_mc < 1:
            raise ValueError(f"n_samples_mc must be at least 1, got {n_samples_mc}")
        total = 0.0
        with eval_mode(self.model):
            for tensors in self._total_batches(batch_size):
                (x, l_mean, l_var, batch_index, labels, y), covs = split_total_batch(
                    self.model, tensors
                )
                log_w = torch.stack(
                    [
                        self.model.log_importance_weight(
                            x, y, l_mean, l_var, batch_index, labels, **covs
                        )
                        for _ in range(n_samples_mc)
                    ]
                )
                log_p = torch.logsumexp(log_w, dim=0) - np.log(n_samples_mc)
                total += float(log_p.sum())
        return -total / max(self.nb_cells, 1)

    @metric_mode("min")
    def elbo(self) -> float:
        """Returns the Evidence Lower Bound associated to the object.

        Returns
        -------
        float
            The negative ELBO per cell (lower is better).
        """
        elbo = self.compute_elbo(self.model)
        logger.debug("ELBO : %.4f", elbo)
        return elbo

    @metric_mode("min")
    def reconstruction_error(self, mode: str = "total") -> float:
        """Returns the reconstruction error associated to the object.

        Parameters
        ----------
        mode
            ``"total"`` (genes and proteins), ``"gene"`` or ``"protein"``.

        Returns
        -------
        float
            Per cell (lower is better).
        """
        if mode not in RECONSTRUCTION_MODES:
            raise ValueError(
                f"mode must be one of {list(RECONSTRUCTION_MODES)}, got {mode!r}"
            )
        genes, proteins = self.compute_reconstruction_error(self.model)
        return {"total": genes + proteins, "gene": genes, "protein": proteins}[mode]

    @metric_mode("min")
    def marginal_ll(self, n_mc_samples: int = 1000) -> float:
        """Estimates the marginal likelihood of the object's data (genes and
        proteins), see :meth:`compute_marginal_log_likelihood`.

        Parameters
        ----------
        n_mc_samples
            Number of importance samples per cell.

        Returns
        -------
        float
            ``-log p(x, y)`` per cell (lower is better).
        """
        ll = self.compute_marginal_log_likelihood(n_samples_mc=n_mc_samples)
        logger.debug("True LL : %.4f", ll)
        return ll

    # ------------------------------------------------------------ latent space
    def get_latent(
        self, sample: bool = False
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Output posterior z mean or sample, batch index, and label.

        Parameters
        ----------
        sample
            A draw of ``z`` (and of the library) instead of the posterior mean
            (for a logistic normal latent space, a Monte Carlo mean).

        Returns
        -------
        latent : np.ndarray
            ``(n_cells, n_latent)``.
        batch_indices : np.ndarray
            ``(n_cells, 1)``.
        labels : np.ndarray
            ``(n_cells,)``.
        library_gene : np.ndarray
            ``(n_cells,)`` gene library sizes (``exp`` of the mean of the log
            library, or a draw).
        """
        latent, batches, labels, library = [], [], [], []
        with eval_mode(self.model):
            for tensors in self._total_batches():
                model = self.model
                (x, _, _, batch_index, label, y), covs = split_total_batch(
                    model, tensors
                )
                z = model.sample_from_posterior_z(
                    x, y, batch_index, give_mean=not sample, **covs
                )
                size = model.sample_from_posterior_l(
                    x, y, batch_index, give_mean=not sample, **covs
                )
                latent.append(_numpy(z))
                batches.append(_numpy(batch_index))
                labels.append(_numpy(label))
                library.append(_numpy(size))
        return (
            np.concatenate(latent),
            np.concatenate(batches).reshape(-1, 1),
            np.concatenate(labels).ravel(),
            np.concatenate(library).ravel(),
        )

    # ------------------------------------------------------------ DE over features
    def _feature_names(self) -> np.ndarray:
        """Genes, then proteins: the rows of differential expression."""
        proteins = getattr(self.gene_dataset, "protein_names", None)
        if proteins is None:
            proteins = [f"protein_{i}" for i in range(self.model.n_input_proteins)]
        return np.concatenate(
            [np.asarray(self.gene_dataset.gene_names), np.asarray(proteins)]
        )

    def _raw_counts_properties(self, idx1, idx2) -> Tuple[np.ndarray, ...]:
        """The raw statistics of the genes followed by those of the proteins."""
        genes = self.gene_dataset.raw_counts_properties(idx1, idx2)
        proteins = counts_properties(self.gene_dataset.protein_expression, idx1, idx2)
        return tuple(np.concatenate([g, p]) for g, p in zip(genes, proteins))
