"""Trainers of classifiers and of semi-supervised models (public path:
:mod:`scvi.inference.annotation`)."""

import logging
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..posterior.accuracy import class_probabilities, compute_predictions
from ..posterior.annotation import AnnotationPosterior
from .unsupervised import UnsupervisedTrainer
from .loop import Trainer

logger = logging.getLogger(__name__)

LABELLED_MONITOR = ["reconstruction_error", "accuracy"]


def log_probabilities(probs: torch.Tensor) -> torch.Tensor:
    """``log(probs)``, finite where a probability underflowed to zero."""
    return torch.log(probs.clamp(min=torch.finfo(probs.dtype).tiny))


def classification_loss(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of class probabilities ``(batch, n_labels)`` against
    labels ``(batch, 1)``."""
    return F.nll_loss(log_probabilities(probs), labels.view(-1).long())


def _check_number(value, name: str, minimum: float, integer: bool, strict=False):
    kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    bad = isinstance(value, bool) or not isinstance(value, kind)
    if bad or value < minimum or (strict and value == minimum):
        what = "an integer" if integer else "a number"
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"{name} must be {what} {bound}, got {value!r}")


class ClassifierTrainer(Trainer):
    """The ClassifierInference class for training a classifier either on the raw
    data or on top of the latent space of another model (VAE, VAEC, SCANVI).

    The classifier is trained by minimising the cross-entropy of its class
    probabilities on the cells of ``train_set``. With ``sampling_model`` it reads
    the posterior mean of ``z`` (and of ``l`` with ``sampling_zl``) of that model,
    which stays fixed; without, it reads the counts as they are.

    Parameters
    ----------
    model
        A classifier (:class:`~scvi.models.classifier.Classifier`), or a model with
        ``classify`` (VAEC, SCANVI), trained on the raw data.
    gene_dataset
        A :class:`~scvi.dataset.GeneExpressionDataset` with labels.
    train_size
        The train size, either a float between 0 and 1 or an integer for the number
        of training samples to use. Default: 0.8.
    test_size
        The test size, either a float between 0 and 1 or an integer for the number
        of test samples to use. Default: None (the cells not in the train set).
    sampling_model
        Model with ``z_encoder`` with which to first transform data.
    sampling_zl
        Transform data with ``sampling_model``'s ``z_encoder`` and ``l_encoder``
        and concatenate (the classifier then has ``n_latent + 1`` inputs).
    use_cuda
        Train on the GPU when one is available.
    **kwargs
        Other keywords arguments from the general :class:`~scvi.inference.Trainer`
        class.

    Examples
    --------
    >>> gene_dataset = CortexDataset()
    >>> vae = VAE(gene_dataset.nb_genes, n_batch=gene_dataset.n_batches * False,
    ... n_labels=gene_dataset.n_labels)
    >>> classifier = Classifier(vae.n_latent, n_labels=cortex_dataset.n_labels)
    >>> trainer = ClassifierTrainer(classifier, gene_dataset, sampling_model=vae,
    ... train_size=0.5)
    >>> trainer.train(n_epochs=20, lr=1e-3)
    >>> trainer.test_set.accuracy()
    """

    default_metrics_to_monitor = []

    def __init__(
        self,
        *args,
        train_size: Union[int, float] = 0.8,
        test_size: Optional[Union[int, float]] = None,
        sampling_model=None,
        sampling_zl: bool = False,
        use_cuda: bool = True,
        **kwargs,
    ):
        if sampling_zl and sampling_model is None:
            raise ValueError("sampling_zl=True needs a sampling_model")
        if sampling_model is not None:
            for encoder in ("z_encoder", "l_encoder"):
                if not hasattr(sampling_model, encoder):
                    raise ValueError(
                        f"sampling_model must have a {encoder} (VAE, LDVAE, SCANVI), "
                        f"got a {type(sampling_model).__name__}"
                    )
        self.sampling_model = sampling_model
        self.sampling_zl = bool(sampling_zl)
        self._sampling_model_was_training = False
        early_stopping_kwargs = dict(kwargs.pop("early_stopping_kwargs", None) or {})
        early_stopping_kwargs.setdefault("posterior_class", AnnotationPosterior)
        super().__init__(
            *args,
            use_cuda=use_cuda,
            early_stopping_kwargs=early_stopping_kwargs,
            **kwargs,
        )
        if self.use_cuda and sampling_model is not None:
            sampling_model.cuda()
        self.train_set, self.test_set, self.validation_set = self.train_test_validation(
            self.model,
            self.gene_dataset,
            train_size=train_size,
            test_size=test_size,
            type_class=AnnotationPosterior,
        )
        for posterior in (self.train_set, self.test_set, self.validation_set):
            posterior.to_monitor = ["accuracy"]

    @property
    def posteriors_loop(self):
        return ["train_set"]

    def register_posterior(self, name: str, value) -> None:
        """Register ``value`` as ``trainer.<name>``; a new ``train_set``,
        ``test_set`` or ``validation_set`` without metrics monitors the accuracy."""
        name = name.strip("_")
        if name in ("train_set", "test_set", "validation_set") and not value.to_monitor:
            value.to_monitor = ["accuracy"]
        super().register_posterior(name, value)

    def create_posterior(
        self,
        model=None,
        gene_dataset=None,
        shuffle: bool = False,
        indices=None,
        type_class=AnnotationPosterior,
    ):
        """A posterior (an :class:`AnnotationPosterior` by default) whose
        predictions are those of this trainer's classifier, on the latent space of
        ``sampling_model`` when there is one."""
        posterior = super().create_posterior(
            model, gene_dataset, shuffle=shuffle, indices=indices, type_class=type_class
        )
        if isinstance(posterior, AnnotationPosterior):
            posterior.sampling_model = self.sampling_model
            posterior.model_zl = self.sampling_zl
        return posterior

    def _probabilities(self, x: torch.Tensor) -> torch.Tensor:
        if self.sampling_model is None:
            return class_probabilities(self.model, x)
        return class_probabilities(
            self.sampling_model, x, classifier=self.model, model_zl=self.sampling_zl
        )

    def loss(self, tensors_labelled):
        """Cross-entropy of the classifier on a mini-batch of labelled cells."""
        x, labels = tensors_labelled[0], tensors_labelled[4]
        return classification_loss(self._probabilities(x), labels)

    def on_training_begin(self) -> None:
        """Keep ``sampling_model`` fixed, in evaluation mode, while training."""
        if self.sampling_model is not None:
            self._sampling_model_was_training = self.sampling_model.training

    def on_epoch_begin(self) -> None:
        """Evaluation mode for ``sampling_model``, training mode for the classifier
        (which may be a part of it)."""
        if self.sampling_model is not None:
            self.sampling_model.eval()
            self.model.train()

    def on_training_end(self) -> None:
        """Give ``sampling_model`` its mode back."""
        if self.sampling_model is not None:
            self.sampling_model.train(self._sampling_model_was_training)
            self.model.eval()

    @torch.no_grad()
    def compute_predictions(self, soft: bool = False):
        """True and predicted labels of every cell of the dataset, in its order.

        Parameters
        ----------
        soft
            Return the class probabilities instead of the most probable class.

        Returns
        -------
        tuple of numpy.ndarray
            ``(y, y_pred)``: the true labels ``(n_cells,)`` and the predicted labels
            ``(n_cells,)`` (probabilities ``(n_cells, n_labels)`` with ``soft``).
        """
        full_set = self.create_posterior(indices=np.arange(len(self.gene_dataset)))
        model, classifier = full_set._model_and_classifier()
        return compute_predictions(
            model, full_set, classifier, soft=soft, model_zl=self.sampling_zl
        )


def labelled_indices(
    labels: np.ndarray, n_per_class: int, seed: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Cells labelled for semi-supervised training: ``n_per_class`` cells of each
    label drawn at random (all of a label's cells when it has fewer).

    Returns
    -------
    tuple of numpy.ndarray
        ``(indices_labelled, indices_unlabelled)``, each in a random order.
    """
    labels = np.asarray(labels).ravel()
    permutation = np.random.RandomState(seed).permutation(labels.size)
    chosen = np.zeros(labels.size, dtype=bool)
    for label in np.unique(labels):
        cells = permutation[labels[permutation] == label]
        if cells.size < n_per_class:
            logger.warning(
                "label %s has %d cells, fewer than n_labelled_samples_per_class=%d: "
                "all of them are labelled",
                label,
                cells.size,
                n_per_class,
            )
        chosen[cells[:n_per_class]] = True
    return permutation[chosen[permutation]], permutation[~chosen[permutation]]


class SemiSupervisedTrainer(UnsupervisedTrainer):
    """The SemiSupervisedTrainer class for the semi-supervised training of an
    autoencoder. This parent class can be inherited to specify the different
    training schemes for semi-supervised learning.

    ``n_labelled_samples_per_class`` cells of each label, drawn at random, form
    ``labelled_set``; the other cells form ``unlabelled_set`` and all cells
    ``full_dataset`` (assign other posteriors to ``labelled_set`` and
    ``unlabelled_set`` to choose the labelled cells yourself). Each step minimises
    the negative ELBO of a mini-batch of ``full_dataset``, where the labels are
    summed out under the model's classifier, plus ``classification_ratio`` times the
    cross-entropy of the classifier on a mini-batch of ``labelled_set``. After each
    epoch, the classifier alone is trained for ``n_epochs_classifier`` epochs on
    ``labelled_set`` with learning rate ``lr_classification`` (the rest of the
    model fixed).

    As in scVI 0.6, the trainer's posteriors are ``full_dataset``,
    ``labelled_set`` and ``unlabelled_set`` (no train/test split): every
    ``frequency`` epochs, ``history`` receives the ELBO of each
    (``elbo_full_dataset``, ...) and the reconstruction error and accuracy of
    ``labelled_set`` and ``unlabelled_set``.

    Parameters
    ----------
    model
        A model instance from class VAEC or SCANVI.
    gene_dataset
        A :class:`~scvi.dataset.GeneExpressionDataset` with labels.
    n_labelled_samples_per_class
        Number of labelled cells per label.
    n_epochs_classifier
        Number of epochs of the classifier-only training after each epoch.
    lr_classification
        Learning rate of the classifier-only training.
    classification_ratio
        Weight of the classification loss.
    seed
        Random seed of the choice of the labelled cells.
    **kwargs
        Other keywords arguments of :class:`~scvi.inference.UnsupervisedTrainer`
        and :class:`~scvi.inference.Trainer`.

    Examples
    --------
    >>> gene_dataset = CortexDataset()
    >>> scanvi = SCANVI(gene_dataset.nb_genes, gene_dataset.n_batches,
    ... gene_dataset.n_labels)
    >>> trainer = SemiSupervisedTrainer(scanvi, gene_dataset,
    ... n_labelled_samples_per_class=50, frequency=5)
    >>> trainer.train(n_epochs=50)
    >>> trainer.unlabelled_set.accuracy()
    >>> trainer.history["accuracy_unlabelled_set"]
    """

    default_metrics_to_monitor = ["elbo"]
    splits_cells = False

    def __init__(
        self,
        model,
        gene_dataset,
        n_labelled_samples_per_class: int = 50,
        n_epochs_classifier: int = 1,
        lr_classification: float = 5e-3,
        classification_ratio: float = 50,
        seed: int = 0,
        **kwargs,
    ):
        if not hasattr(model, "classify"):
            raise ValueError(
                "model must classify cells (a VAEC or SCANVI), got a "
                f"{type(model).__name__}"
            )
        if gene_dataset.n_labels > model.n_labels:
            raise ValueError(
                f"gene_dataset has {gene_dataset.n_labels} labels, more than the "
                f"model's n_labels={model.n_labels}"
            )
        _check_number(
            n_labelled_samples_per_class, "n_labelled_samples_per_class", 1, True
        )
        _check_number(n_epochs_classifier, "n_epochs_classifier", 0, integer=True)
        _check_number(lr_classification, "lr_classification", 0, False, strict=True)
        _check_number(classification_ratio, "classification_ratio", 0, False)
        self.n_labelled_samples_per_class = int(n_labelled_samples_per_class)
        self.n_epochs_classifier = int(n_epochs_classifier)
        self.lr_classification = float(lr_classification)
        self.classification_ratio = float(classification_ratio)
        early_stopping_kwargs = dict(kwargs.pop("early_stopping_kwargs", None) or {})
        early_stopping_kwargs.setdefault("posterior_class", AnnotationPosterior)
        super().__init__(
            model,
            gene_dataset,
            seed=seed,
            early_stopping_kwargs=early_stopping_kwargs,
            **kwargs,
        )
        self.n_samples = max(len(gene_dataset), 1)

        self.classifier_trainer = ClassifierTrainer(
            self._classifiers(model),
            gene_dataset,
            metrics_to_monitor=[],
            show_progbar=False,
            frequency=None,
            sampling_model=model,
            use_cuda=self.use_cuda,
            data_loader_kwargs=self.data_loader_kwargs,
            weight_decay=self.weight_decay,
        )
        indices_labelled, indices_unlabelled = labelled_indices(
            gene_dataset.labels, self.n_labelled_samples_per_class, seed
        )
        self.full_dataset = self.create_posterior(shuffle=True)
        self.labelled_set = self.create_posterior(indices=indices_labelled)
        self.unlabelled_set = self.create_posterior(indices=indices_unlabelled)

    @staticmethod
    def _classifiers(model) -> nn.Module:
        """The model's classifier networks (``classifier``, and ``classifier_groups``
        of a hierarchical SCANVI), trained in the classifier-only phase."""
        modules = [m for name, m in model.named_children() if "classifier" in name]
        if not modules:
            raise ValueError(f"the {type(model).__name__} has no classifier")
        return modules[0] if len(modules) == 1 else nn.ModuleList(modules)

    def register_posterior(self, name: str, value) -> None:
        """Register ``value`` as ``trainer.<name>``; a new ``labelled_set`` is also
        the one the classifier-only phase trains on, and a new ``labelled_set`` or
        ``unlabelled_set`` without metrics monitors the reconstruction error and the
        accuracy."""
        name = name.strip("_")
        if name in ("labelled_set", "unlabelled_set") and not value.to_monitor:
            value.to_monitor = list(LABELLED_MONITOR)
        super().register_posterior(name, value)
        if name == "labelled_set" and "classifier_trainer" in self.__dict__:
            self.classifier_trainer.train_set = value

    @property
    def posteriors_loop(self):
        return ["full_dataset", "labelled_set"]

    def create_posterior(
        self,
        model=None,
        gene_dataset=None,
        shuffle: bool = False,
        indices=None,
        type_class=AnnotationPosterior,
    ):
        """A posterior of the trainer's model and dataset (by default), an
        :class:`AnnotationPosterior` unless ``type_class`` says otherwise."""
        return super().create_posterior(
            model, gene_dataset, shuffle=shuffle, indices=indices, type_class=type_class
        )

    def loss(self, tensors_all, tensors_labelled):
        """Negative ELBO of ``tensors_all`` (labels summed out) plus
        ``classification_ratio`` times the cross-entropy of the classifier on
        ``tensors_labelled``."""
        loss = self._elbo_loss(tensors_all, feed_labels=False)
        x, labels = tensors_labelled[0], tensors_labelled[4]
        if x.shape[0] < 2:  # batch normalisation needs two cells
            return loss
        probs = self.model.classify(x)
        return loss + self.classification_ratio * classification_loss(probs, labels)

    def on_epoch_end(self) -> bool:
        """Train the classifier alone for ``n_epochs_classifier`` epochs, then
        compute the metrics and apply early stopping."""
        if self.n_epochs_classifier > 0 and self.labelled_set.nb_cells > 0:
            self.model.eval()
            self.classifier_trainer.train(
                self.n_epochs_classifier, lr=self.lr_classification
            )
            self.model.train()
        return super().on_epoch_end()


class JointSemiSupervisedTrainer(SemiSupervisedTrainer):
    """Semi-supervised training without the classifier-only phase: the classifier
    learns only from the joint loss (ELBO plus weighted cross-entropy) of
    :class:`SemiSupervisedTrainer`, whose arguments it takes
    (``n_epochs_classifier`` is set to 0).

    Examples
    --------
    >>> trainer = JointSemiSupervisedTrainer(scanvi, gene_dataset,
    ... classification_ratio=100)
    >>> trainer.train(n_epochs=50)
    """

    def __init__(self, model, gene_dataset, **kwargs):
        kwargs["n_epochs_classifier"] = 0
        super().__init__(model, gene_dataset, **kwargs)


class AlternateSemiSupervisedTrainer(SemiSupervisedTrainer):
    """Semi-supervised training alternating two phases each epoch: the negative
    ELBO of ``full_dataset`` (labels summed out, no classification loss), then the
    classifier alone on ``labelled_set`` for ``n_epochs_classifier`` epochs. Takes
    the arguments of :class:`SemiSupervisedTrainer`.

    Examples
    --------
    >>> trainer = AlternateSemiSupervisedTrainer(scanvi, gene_dataset,
    ... n_epochs_classifier=5)
    >>> trainer.train(n_epochs=50)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    def loss(self, all_tensor):
        """Negative ELBO of a mini-batch of ``full_dataset``, labels summed out."""
        return self._elbo_loss(all_tensor, feed_labels=False)

    @property
    def posteriors_loop(self):
        return ["full_dataset"]
