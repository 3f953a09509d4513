"""AnnotationPosterior: a Posterior whose model classifies cells (public path:
:mod:`scvi.inference.annotation`)."""

import logging
from typing import List, Optional, Tuple, Union

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from .accuracy import compute_predictions
from .scores import metric_mode
from ..metrics import unsupervised_clustering_accuracy
from .core import Posterior

logger = logging.getLogger(__name__)


class AnnotationPosterior(Posterior):
    """A posterior for cell annotation: the accuracies and predictions of a
    classifier on the posterior's cells.

    The classifier is the model's own (``model.classify`` of a VAEC or SCANVI), a
    classifier of raw counts (``model`` is a
    :class:`~scvi.models.classifier.Classifier`), or, with ``sampling_model``, a
    classifier (``model``) of the latent space of ``sampling_model``.

    Parameters
    ----------
    model
        A model instance from class VAEC, SCANVI, or a Classifier.
    gene_dataset
        A :class:`~scvi.dataset.GeneExpressionDataset`.
    shuffle, indices, use_cuda, data_loader_kwargs
        See :class:`~scvi.inference.Posterior`.
    model_zl
        With ``sampling_model``: the classifier reads the means of ``q(z | x)`` and
        ``q(l | x)`` concatenated, not ``z`` alone.
    sampling_model
        A trained model (VAE, SCANVI, ...) whose latent space ``model`` classifies;
        None when ``model`` reads the counts or classifies by itself.

    Examples
    --------
    >>> trainer = SemiSupervisedTrainer(scanvi, gene_dataset)
    >>> trainer.train(n_epochs=50)
    >>> trainer.unlabelled_set.accuracy()
    >>> y, y_pred = trainer.unlabelled_set.compute_predictions()
    """

    def __init__(
        self,
        model,
        gene_dataset,
        shuffle: bool = False,
        indices: Optional[Union[List[int], np.ndarray]] = None,
        use_cuda: bool = True,
        data_loader_kwargs: Optional[dict] = None,
        model_zl: bool = False,
        sampling_model=None,
    ):
        super().__init__(
            model,
            gene_dataset,
            shuffle=shuffle,
            indices=indices,
            use_cuda=use_cuda,
            data_loader_kwargs=data_loader_kwargs,
        )
        self.model_zl = bool(model_zl)
        self.sampling_model = sampling_model

    def _model_and_classifier(self):
        if self.sampling_model is None:
            return self.model, None
        return self.sampling_model, self.model

    def compute_predictions(self, soft: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """True and predicted labels of the cells, in the order of :attr:`indices`.

        Parameters
        ----------
        soft
            Return the class probabilities instead of the most probable class.

        Returns
        -------
        y : numpy.ndarray
            True labels, ``(n_cells,)``.
        y_pred : numpy.ndarray
            Predicted labels ``(n_cells,)``, or with ``soft`` the probabilities
            ``(n_cells, n_labels)`` whose rows sum to one.
        """
        model, classifier = self._model_and_classifier()
        return compute_predictions(
            model, self, classifier=classifier, soft=soft, model_zl=self.model_zl
        )

    def _checked_predictions(self) -> Tuple[np.ndarray, np.ndarray]:
        y, y_pred = self.compute_predictions()
        if y.size == 0:
            raise ValueError("the posterior holds no cell: its accuracy is undefined")
        return y, y_pred

    @metric_mode("max")
    def accuracy(self) -> float:
        """Fraction of the cells whose predicted label is their label.

        Returns
        -------
        float
            In ``[0, 1]`` (higher is better).
        """
        y, y_pred = self._checked_predictions()
        accuracy = float(np.mean(y == y_pred))
        logger.debug("Acc: %.4f", accuracy)
        return accuracy

    def _labels_groups(self) -> np.ndarray:
        for model in (self.sampling_model, self.model):
            groups = getattr(model, "labels_groups", None)
            if groups is not None:
                return np.asarray(groups).ravel()
        raise ValueError(
            "hierarchical_accuracy needs a model with labels_groups (a SCANVI built "
            "with labels_groups=...)"
        )

    @metric_mode("max")
    def hierarchical_accuracy(self) -> float:
        """Accuracy at the level of the label groups: the fraction of cells whose
        predicted label lies in the group of their true label (the groups are the
        model's ``labels_groups``).

        Returns
        -------
        float
            In ``[0, 1]``, at least :meth:`accuracy`.

        Raises
        ------
        ValueError
            If the model has no ``labels_groups``.
        """
        groups = self._labels_groups()
        y, y_pred = self._checked_predictions()
        accuracy = float(np.mean(groups[y] == groups[y_pred]))
        logger.debug("Hierarchical Acc : %.4f", accuracy)
        return accuracy

    @metric_mode("max")
    def unsupervised_classification_accuracy(self) -> float:
        """Accuracy of the predictions after the best one-to-one relabelling of the
        predicted classes (see
        :func:`~scvi.inference.metrics.unsupervised_clustering_accuracy`): how well
        the predictions separate the cell types, whatever their names."""
        y, y_pred = self._checked_predictions()
        return unsupervised_clustering_accuracy(y, y_pred)[0]

    @metric_mode("max")
    def nn_latentspace(self, posterior: Posterior) -> float:
        """Accuracy of a 5-nearest-neighbour classifier of the latent space, fitted
        on this posterior's cells and scored on ``posterior``'s.

        Parameters
        ----------
        posterior
            The posterior of the cells to classify (e.g. ``unlabelled_set`` when
            this is ``labelled_set``).

        Returns
        -------
        float
            Fraction of ``posterior``'s cells whose label the neighbours predict.
        """
        latent_train, _, labels_train = self.get_latent()
        latent_test, _, labels_test = posterior.get_latent()
        if len(latent_test) == 0:
            raise ValueError("posterior holds no cell to classify")
        n_neighbors = min(5, len(latent_train))
        if n_neighbors < 1:
            raise ValueError("this posterior holds no cell to learn from")
        knn = KNeighborsClassifier(n_neighbors=n_neighbors)
        knn.fit(latent_train, labels_train)
        return float(knn.score(latent_test, labels_test))

    def get_latent(self, give_mean: bool = True):
        """Latent space of the model, or of ``sampling_model`` when there is one
        (a classifier has no latent space); see
        :meth:`~scvi.inference.Posterior.get_latent`."""
        if self.sampling_model is None:
            return super().get_latent(give_mean=give_mean)
        latent_posterior = self.update({})
        latent_posterior.model = self.sampling_model
        latent_posterior.sampling_model = None
        return latent_posterior.get_latent(give_mean=give_mean)
