"""The Posterior class: the query parts assembled on the data plumbing."""

import logging

import numpy as np

from .de_clusters import ClusterDifferentialExpressionMixin
from .loadings import LatentFactorsMixin
from ...models._vae_covariates import covariate_kwargs
from .sampling import eval_mode
from .scores import ScoresMixin
from ..metrics import unsupervised_clustering_accuracy

__all__ = ["Posterior", "unsupervised_clustering_accuracy"]

logger = logging.getLogger(__name__)


class Posterior(ClusterDifferentialExpressionMixin, ScoresMixin, LatentFactorsMixin):
    """The functional data unit.

    A ``Posterior`` is instantiated with a model and a ``gene_dataset``, and
    arguments of its mini-batch loader. A subset of indices can be specified, for
    purposes such as splitting the data into train/test or labelled/unlabelled (for
    semi-supervised learning). Each trainer holds several posteriors
    (``train_set``, ``test_set``, ...) to train a model, and each comes with the
    queries of its cells: latent space, imputation, normalized expression,
    likelihoods and latent-space scores (and, for LDVAE, the gene loadings).

    Iteration (``for tensors in posterior``) yields mini-batch tuples
    ``(x, local_l_mean, local_l_var, batch_index, labels)``; with ``indices`` or
    ``shuffle=True`` the order is random and changes at every pass (training), else
    sequential. Queries returning one row per cell (:meth:`get_latent`,
    :meth:`imputation`, ...) always follow the order of :attr:`indices`.

    Parameters
    ----------
    model
        A model instance from class VAE, VAEC, SCANVI, AutoZIVAE.
    gene_dataset
        A :class:`~scvi.dataset.GeneExpressionDataset`.
    shuffle
        Visit all cells in a random order (without ``indices``).
    indices
        Cell positions (or a boolean mask) of the subset of cells.
    use_cuda
        Put the mini-batches on the GPU when one is available (the model must be
        there too); falls back to the CPU quietly.
    data_loader_kwargs
        Arguments of the mini-batch loader: ``batch_size`` (128), ``collate_fn``,
        ``pin_memory``, ``drop_last``.

    Examples
    --------
    >>> gene_dataset = CortexDataset()
    >>> vae = VAE(gene_dataset.nb_genes, n_batch=gene_dataset.n_batches * False,
    ...           n_labels=gene_dataset.n_labels)
    >>> trainer = UnsupervisedTrainer(vae, gene_dataset)
    >>> trainer.train(n_epochs=50)
    >>> trainer.train_set.reconstruction_error()
    >>> trainer.train_set.entropy_batch_mixing()
    >>> trainer.train_set.show_t_sne(n_samples=1000, color_by="labels")
    """

    def get_stats(self) -> np.ndarray:
        """Posterior samples of the log library size of each cell.

        Returns
        -------
        np.ndarray
            ``(n_cells,)``, one draw of ``q(l | x)`` per cell.
        """
        libraries = []
        with eval_mode(self.model):
            for tensors in self._ordered():
                x, _, _, batch_index, labels = tensors[:5]
                covs = covariate_kwargs(self.model, tensors)
                library = self.model.inference(
                    x, batch_index=batch_index, y=labels, **covs
                )["library"]
                libraries.append(library.cpu().numpy())
        return np.concatenate(libraries).ravel()

    def accuracy(self) -> None:
        """Classification accuracy, defined by
        :class:`~scvi.inference.annotation.AnnotationPosterior`, whose models
        classify cells. A plain Posterior has no classifier: as in scVI 0.6, it
        returns None (so that a trainer monitoring ``"accuracy"`` records None).

        Returns
        -------
        None
        """
        logger.debug("accuracy() of a plain Posterior: None (no classifier)")
        return None
