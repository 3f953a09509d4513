"""Unsupervised training of the scVI family by variational inference."""

import copy
import logging
from typing import Optional, Union

import numpy as np
import torch

from ...models._vae_covariates import covariate_kwargs
from ..posterior import Posterior
from .step import parameters_device
from .loop import Trainer

logger = logging.getLogger(__name__)

#: early stopping on the held-out ELBO (``early_stopping=True``), with the
#: weights of the best epoch restored at the end
HELD_OUT_EARLY_STOPPING = dict(
    early_stopping_metric="elbo",
    save_best_state_metric="elbo",
    on="test_set",
    patience=45,
    threshold=0,
)


def auto_n_epochs(n_cells: int) -> int:
    """scvi-tools' epoch rule: ``min(round(20000 / n_cells * 400), 400)``.

    Parameters
    ----------
    n_cells
        Number of cells of the dataset (>= 1).

    Returns
    -------
    int
        400 epochs up to 20,000 cells, fewer (at least 1) beyond.
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, int) or n_cells < 1:
        raise ValueError(f"n_cells must be a positive int, got {n_cells!r}")
    return max(1, min(round(20000 / n_cells * 400), 400))


#: the longest KL warm-up of ``n_epochs_kl_warmup="auto"`` (scVI 0.6's default)
MAX_AUTO_KL_WARMUP = 400


def auto_kl_warmup_epochs(n_epochs: int) -> int:
    """The KL warm-up of ``n_epochs_kl_warmup="auto"``: ``min(n_epochs, 400)``.

    The warm-up then ends with training when training is shorter than scVI
    0.6's 400-epoch warm-up (a large dataset under :func:`auto_n_epochs`), so
    that the last epochs optimise the ELBO itself (KL weight ``(n_epochs - 1) /
    n_epochs`` at the last one) instead of a loss whose KL weight never passed
    ``n_epochs / 400``.

    Parameters
    ----------
    n_epochs
        Number of epochs of the training run (>= 0).

    Returns
    -------
    int
        Epochs of the linear warm-up.
    """
    return min(int(n_epochs), MAX_AUTO_KL_WARMUP)


def model_terms(model, tensors, feed_labels: bool = True):
    """``(reconst_loss, kl_local, kl_global)`` of a model on one mini-batch: the
    return contract of the models' ``forward`` (see :meth:`scvi.models.VAE.forward`).

    ``kl_local`` is the term the KL warm-up scales. Without ``feed_labels`` the
    model gets no labels (a semi-supervised model then sums them out under its
    classifier).
    """
    x, local_l_mean, local_l_var, batch_index, labels = tensors[:5]
    labels = labels if feed_labels else None
    covariates = covariate_kwargs(model, tensors)  # opt-in model covariates
    return model(
        x, local_l_mean, local_l_var, batch_index=batch_index, y=labels, **covariates
    )


class UnsupervisedTrainer(Trainer):
    """The VariationalInference class for the unsupervised training of an
    autoencoder.

    Parameters
    ----------
    model
        A model instance from class VAE, VAEC, SCANVI, AutoZIVAE.
    gene_dataset
        A :class:`~scvi.dataset.GeneExpressionDataset`.
    train_size
        The train size, either a float between 0 and 1 or an integer for the number
        of training samples to use. Default: 0.8.
    test_size
        The test size, either a float between 0 and 1 or an integer for the number
        of test samples to use. Default: None, the cells not in the train set. If
        ``train_size`` and ``test_size`` do not add to 1 or the number of cells,
        the remaining cells form a ``validation_set``.
    n_iter_kl_warmup
        Number of iterations for a linear warm-up of the weight of
        ``KL(q(z|x) || p(z))`` (useful for bigger datasets;
        ``int(128 * 5000 / 400)`` is a good value). Used only when
        ``n_epochs_kl_warmup`` is None.
    n_epochs_kl_warmup
        Number of epochs for the linear warm-up of the KL term. After it, the
        training objective is the ELBO. If not None, it overrides
        ``n_iter_kl_warmup``. If your applications rely on the posterior
        quality (differential expression, batch effect removal), train for more
        epochs (or iterations) than the warm-up. ``"auto"`` (an addition to scVI
        0.6): each :meth:`train` call warms up over
        :func:`auto_kl_warmup_epochs` of its epoch count, ``min(n_epochs,
        400)``.
    normalize_loss
        Divide the loss by the number of training cells. Default: None, which is
        False for an AutoZIVAE and True otherwise.
    early_stopping
        Keyword-only. Stop when the ELBO of ``test_set`` has not improved for 45
        epochs and restore the best epoch's weights
        (:data:`HELD_OUT_EARLY_STOPPING`); ``early_stopping_kwargs`` given too
        override these entries. Default False (scVI 0.6).
    **kwargs
        Other keywords arguments from the general :class:`Trainer` class.

    Examples
    --------
    >>> gene_dataset = CortexDataset()
    >>> vae = VAE(gene_dataset.nb_genes, n_batch=gene_dataset.n_batches * False,
    ...           n_labels=gene_dataset.n_labels)
    >>> trainer = UnsupervisedTrainer(vae, gene_dataset, train_size=0.5)
    >>> trainer.train(n_epochs=20, lr=1e-3)
    """

    default_metrics_to_monitor = ["elbo"]
    #: whether ``__init__`` splits the cells into ``train_set``, ``test_set`` and
    #: ``validation_set`` (the semi-supervised trainers have their own posteriors)
    splits_cells = True
    #: the class of ``train_set``, ``test_set`` and ``validation_set``
    posterior_class = Posterior

    def __init__(
        self,
        model,
        gene_dataset,
        train_size: Union[int, float] = 0.8,
        test_size: Optional[Union[int, float]] = None,
        n_iter_kl_warmup: Optional[int] = None,
        n_epochs_kl_warmup: Union[int, str, None] = 400,
        normalize_loss: Optional[bool] = None,
        *,
        early_stopping: bool = False,
        **kwargs,
    ):
        if not isinstance(early_stopping, bool):
            raise ValueError(f"early_stopping must be a bool, got {early_stopping!r}")
        if early_stopping:
            stopping = dict(HELD_OUT_EARLY_STOPPING)
            stopping.update(kwargs.get("early_stopping_kwargs") or {})
            kwargs["early_stopping_kwargs"] = stopping
        super().__init__(model, gene_dataset, **kwargs)
        #: ``n_epochs_kl_warmup="auto"``: set by each :meth:`train` call
        self.auto_kl_warmup = isinstance(n_epochs_kl_warmup, str)
        if self.auto_kl_warmup:
            if n_epochs_kl_warmup != "auto":
                raise ValueError(
                    "n_epochs_kl_warmup must be None, a number >= 0 or 'auto', "
                    f"got {n_epochs_kl_warmup!r}"
                )
            n_epochs_kl_warmup = MAX_AUTO_KL_WARMUP
        for name, value in (
            ("n_iter_kl_warmup", n_iter_kl_warmup),
            ("n_epochs_kl_warmup", n_epochs_kl_warmup),
        ):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not value >= 0
            ):
                raise ValueError(f"{name} must be None or a number >= 0, got {value!r}")
        self.n_iter_kl_warmup = n_iter_kl_warmup
        self.n_epochs_kl_warmup = n_epochs_kl_warmup
        if normalize_loss is None:
            normalize_loss = not hasattr(model, "get_alphas_betas")  # AutoZI
        self.normalize_loss = normalize_loss
        if self.splits_cells:
            sets = self.train_test_validation(
                model, gene_dataset, train_size, test_size, self.posterior_class
            )
            self.train_set, self.test_set, self.validation_set = sets
            for posterior in sets:
                posterior.to_monitor = ["elbo"]
            self.n_samples = max(len(self.train_set.indices), 1)

    @property
    def posteriors_loop(self):
        return ["train_set"]

    def train(
        self,
        n_epochs: Union[int, str] = 400,
        lr: float = 1e-3,
        eps: float = 0.01,
        params=None,
        **extras_kwargs,
    ) -> None:
        """Train the model (see :meth:`Trainer.train`).

        Parameters
        ----------
        n_epochs
            Number of epochs, or ``"auto"`` for :func:`auto_n_epochs` of the
            dataset's cell count (scvi-tools' rule, recommended with the
            models' ``preset="modern"``). With ``n_epochs_kl_warmup="auto"``
            the warm-up lasts :func:`auto_kl_warmup_epochs` of it.
        lr, eps, params, **extras_kwargs
            As in :meth:`Trainer.train`.
        """
        if isinstance(n_epochs, str):
            if n_epochs != "auto":
                raise ValueError(f"n_epochs must be an int or 'auto', got {n_epochs!r}")
            n_epochs = auto_n_epochs(len(self.gene_dataset))
            logger.info("training for %d epochs (epoch rule by dataset size)", n_epochs)
        if self.auto_kl_warmup and isinstance(n_epochs, (int, np.integer)):
            # (a bad n_epochs is refused by Trainer.train)
            self.n_epochs_kl_warmup = auto_kl_warmup_epochs(max(n_epochs, 0))
        return super().train(n_epochs, lr=lr, eps=eps, params=params, **extras_kwargs)

    @property
    def kl_weight(self) -> float:
        """Weight of the local KL term: rises linearly from 0 to 1 over the warm-up
        (epochs when ``n_epochs_kl_warmup`` is set, else iterations)."""
        if self.n_epochs_kl_warmup is not None:
            if self.n_epochs_kl_warmup == 0:
                return 1.0
            return min(1.0, self.epoch / self.n_epochs_kl_warmup)
        if self.n_iter_kl_warmup is not None:
            if self.n_iter_kl_warmup == 0:
                return 1.0
            return min(1.0, self.n_iter / self.n_iter_kl_warmup)
        return 1.0

    def loss(self, tensors):
        """Negative ELBO of a mini-batch, scaled to the training set.

        ``n_samples * mean(reconst + kl_weight * kl_local) + kl_global``, divided
        by ``n_samples`` when ``normalize_loss``.
        """
        return self._elbo_loss(tensors)

    def _elbo_loss(self, tensors, feed_labels: bool = True):
        """:meth:`loss`, with or without the cells' labels (see
        :func:`model_terms`)."""
        reconst_loss, kl_local, kl_global = model_terms(
            self.model, tensors, feed_labels=feed_labels
        )
        loss = torch.mean(reconst_loss + self._step_kl_weight() * kl_local)
        no_global = isinstance(kl_global, float) and kl_global == 0.0
        if self.normalize_loss:  # (n_samples * mean + kl_global) / n_samples
            return loss if no_global else loss + kl_global / self.n_samples
        loss = loss * self.n_samples
        return loss if no_global else loss + kl_global

    def _step_kl_weight(self):
        """:attr:`kl_weight`; during training, a 0-d tensor on the device filled
        before each step (:meth:`on_iteration_begin`), so that a compiled loss
        does not depend on the epoch or iteration number."""
        buffer = self.__dict__.get("_kl_weight_buffer")
        return self.kl_weight if buffer is None else buffer

    def on_iteration_begin(self) -> None:
        """Set the KL weight of the coming step."""
        super().on_iteration_begin()
        self._kl_weight_buffer.fill_(self.kl_weight)

    def _warmup_unfinished(self) -> bool:
        if self.n_epochs_kl_warmup is not None:
            return self.n_epochs_kl_warmup > self.n_epochs
        if self.n_iter_kl_warmup is not None:
            return self.n_iter_kl_warmup > self.n_iter
        return False

    def on_training_begin(self) -> None:
        """Say how long the KL warm-up lasts, and warn when it outlasts training."""
        self._kl_weight_buffer = torch.zeros(
            (), device=parameters_device(self.optimizer)
        )
        if self.n_epochs_kl_warmup is not None:
            logger.info("KL warmup phase: %d epochs", self.n_epochs_kl_warmup)
        elif self.n_iter_kl_warmup is not None:
            logger.info("KL warmup phase: %g iterations", self.n_iter_kl_warmup)
        if self.n_epochs_kl_warmup is not None and self._warmup_unfinished():
            logger.info(
                "KL warmup phase exceeds overall training phase. If your "
                "applications rely on the posterior quality, consider training for "
                "more epochs or reducing the kl warmup."
            )

    def on_training_end(self) -> None:
        """Warn when training ended before the KL warm-up did."""
        self._kl_weight_buffer = None
        if self._warmup_unfinished():
            logger.info(
                "Training is still in warming up phase. If your applications rely "
                "on the posterior quality, consider training for more epochs or "
                "reducing the kl warmup."
            )


class AdapterTrainer(UnsupervisedTrainer):
    """Trains only the encoders of a fitted model on new cells (``posterior_test``),
    the decoder staying fixed: a way to place new data in a trained latent space.

    Parameters
    ----------
    model
        A trained model with ``z_encoder`` and ``l_encoder``.
    gene_dataset
        The dataset of ``posterior_test``.
    posterior_test
        The posterior of the new cells.
    frequency
        Compute the ELBO of ``posterior_test`` every ``frequency`` epochs.
    """

    def __init__(self, model, gene_dataset, posterior_test, frequency: int = 5):
        super().__init__(model, gene_dataset, frequency=frequency)
        self.test_set = posterior_test
        self.test_set.to_monitor = ["elbo"]
        # no library encoder with an observed library size
        self.encoders = [
            getattr(model, name)
            for name in ("z_encoder", "l_encoder")
            if getattr(model, name, None) is not None
        ]
        self.params = [p for encoder in self.encoders for p in encoder.parameters()]
        self.encoder_states = [copy.deepcopy(e.state_dict()) for e in self.encoders]

    @property
    def posteriors_loop(self):
        return ["test_set"]

    def on_epoch_begin(self) -> None:
        """Keep every part of the model but the encoders in evaluation mode, so
        that the decoder's batch-norm statistics stay those of the training data."""
        for module in self.model.children():
            if not any(module is encoder for encoder in self.encoders):
                module.eval()

    def train(self, n_path: int = 10, n_epochs: int = 50, **kwargs) -> float:
        """Adapt the encoders ``n_path`` times, each from the encoders' state at
        construction, for ``n_epochs`` epochs.

        Returns
        -------
        float
            The best (lowest) negative ELBO of ``posterior_test`` over all paths.
        """
        for _ in range(n_path):
            for encoder, state in zip(self.encoders, self.encoder_states):
                encoder.load_state_dict(state)
            super().train(n_epochs, params=self.params, **kwargs)
        return min(self.history["elbo_test_set"])
