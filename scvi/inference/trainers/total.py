"""TotalTrainer: training of totalVI (TOTALVI) on genes and proteins."""

import logging
from typing import Optional, Union

import torch
import torch.nn.functional as F

from ...models.classifier import Classifier
from ...models.modules.utils import one_hot
from ..posterior.total import TotalPosterior, check_protein_data, split_total_batch
from .adversarial import DiscriminatorExtras
from .unsupervised import UnsupervisedTrainer

logger = logging.getLogger(__name__)

#: the early stopping of ``early_stopping_kwargs="auto"`` (scVI 0.6's totalVI
#: defaults): the held-out ELBO, with learning rate reductions on plateaus
default_early_stopping_kwargs = {
    "early_stopping_metric": "elbo",
    "save_best_state_metric": "elbo",
    "patience": 45,
    "threshold": 0,
    "reduce_lr_on_plateau": True,
    "lr_patience": 30,
    "lr_factor": 0.6,
    "posterior_class": TotalPosterior,
}


class TotalTrainer(DiscriminatorExtras, UnsupervisedTrainer):
    """Unsupervised training for totalVI using variational inference.

    Each step minimises, on a mini-batch of ``train_set``, the mean over cells of
    ``reconst_gene + pro_recons_weight * reconst_protein + kl_weight * (kl_z +
    kl_background) + kl_library``, the KL weight rising from 0 to 1 over the
    warm-up. With ``use_adversarial_loss``, a batch classifier on the latent space
    (``discriminator``) is trained after each step, and the model is pushed to
    fool it with weight ``kappa``.

    Parameters
    ----------
    model
        A model instance from class TOTALVI.
    dataset
        A dataset with protein counts (attribute ``protein_expression``), like
        ``CbmcDataset()``.
    train_size
        The train size, a float between 0 and 1 or an integer number of cells.
    test_size
        The test size, likewise; cells in neither set form ``validation_set``.
    pro_recons_weight
        Scaling factor on the reconstruction loss of the proteins.
    n_epochs_kl_warmup
        Number of epochs of the KL warm-up (from 0 to 1) of ``z`` and of the
        protein background means. None: no warm-up by epochs.
    n_iter_kl_warmup
        Number of mini-batches of the warm-up, used when ``n_epochs_kl_warmup`` is
        None; ``"auto"``: 75% of the number of cells. None: no warm-up.
    discriminator
        Classifier of the batches on the latent space for the adversarial loss
        (default: two hidden layers of 32 units).
    use_adversarial_loss
        Whether to use the adversarial classifier to improve batch mixing (needs
        more than one batch).
    kappa
        Scaling factor of the adversarial loss. None: ``1 - kl_weight`` (the
        inverse of the KL warm-up).
    early_stopping_kwargs
        Keyword arguments of the early stopping; ``"auto"``:
        :data:`default_early_stopping_kwargs`; None: no early stopping.
    **kwargs
        Other keywords arguments of :class:`~scvi.inference.UnsupervisedTrainer`
        and :class:`~scvi.inference.Trainer` (``frequency``, ``use_cuda``,
        ``data_loader_kwargs``...).

    Examples
    --------
    >>> dataset = CbmcDataset()
    >>> totalvi = TOTALVI(dataset.nb_genes, len(dataset.protein_names))
    >>> trainer = TotalTrainer(totalvi, dataset, frequency=1)
    >>> trainer.train(n_epochs=400)
    >>> trainer.history["elbo_test_set"]
    """

    default_metrics_to_monitor = ["elbo"]
    posterior_class = TotalPosterior

    def __init__(
        self,
        model,
        dataset,
        train_size: Union[int, float] = 0.90,
        test_size: Union[int, float] = 0.10,
        pro_recons_weight: float = 1.0,
        n_epochs_kl_warmup: Optional[int] = None,
        n_iter_kl_warmup: Union[str, int, None] = "auto",
        discriminator: Optional[Classifier] = None,
        use_adversarial_loss: bool = False,
        kappa: Optional[float] = None,
        early_stopping_kwargs: Union[dict, str, None] = "auto",
        **kwargs,
    ):
        check_protein_data(model, dataset)
        if n_iter_kl_warmup == "auto":
            n_iter_kl_warmup = 0.75 * len(dataset)
        if early_stopping_kwargs == "auto":
            early_stopping_kwargs = dict(default_early_stopping_kwargs)
        elif isinstance(early_stopping_kwargs, str):
            raise ValueError(
                "early_stopping_kwargs must be a dict, 'auto' or None, got "
                f"{early_stopping_kwargs!r}"
            )
        early_stopping_kwargs = dict(early_stopping_kwargs or {})
        early_stopping_kwargs.setdefault("posterior_class", TotalPosterior)
        if use_adversarial_loss and model.n_batch < 2:
            raise ValueError(
                "use_adversarial_loss=True needs more than one batch: the "
                f"adversarial classifier predicts the batch (model.n_batch="
                f"{model.n_batch})"
            )
        if kappa is not None and kappa < 0:
            raise ValueError(f"kappa must be None or >= 0, got {kappa}")
        self.pro_recons_weight = float(pro_recons_weight)
        self.use_adversarial_loss = bool(use_adversarial_loss)
        self.kappa = kappa
        super().__init__(
            model,
            dataset,
            train_size=train_size,
            test_size=test_size,
            n_iter_kl_warmup=n_iter_kl_warmup,
            n_epochs_kl_warmup=n_epochs_kl_warmup,
            early_stopping_kwargs=early_stopping_kwargs,
            **kwargs,
        )
        if use_adversarial_loss and discriminator is None:
            discriminator = Classifier(
                n_input=model.n_latent,
                n_hidden=32,
                n_labels=model.n_batch,
                n_layers=2,
                logits=True,
            )
        self.discriminator = discriminator
        self.d_optimizer = None

    def create_posterior(
        self,
        model=None,
        gene_dataset=None,
        shuffle: bool = False,
        indices=None,
        type_class=TotalPosterior,
    ):
        """A posterior of the trainer's model and dataset (by default), a
        :class:`TotalPosterior` unless ``type_class`` says otherwise."""
        return super().create_posterior(
            model, gene_dataset, shuffle=shuffle, indices=indices, type_class=type_class
        )

    # ------------------------------------------------------------ losses
    def _loss_and_latent(self, tensors):
        """The loss of a mini-batch and the latent sample ``z`` it used."""
        (x, local_l_mean, local_l_var, batch_index, labels, y), covs = (
            split_total_batch(self.model, tensors)
        )
        out = self.model.inference(
            x,
            y,
            batch_index,
            labels,
            gene_dropout=self.model.loss_uses_gene_dropout,
            **covs,
        )
        reconst_gene, reconst_protein, kl_z, kl_l, kl_back = (
            self.model.negative_elbo_terms(
                out, x, y, local_l_mean, local_l_var, batch_index
            )
        )
        kl_weight = self._step_kl_weight()
        loss = torch.mean(
            reconst_gene
            + self.pro_recons_weight * reconst_protein
            + kl_weight * (kl_z + kl_back)
            + kl_l
        )
        return loss, out["z"]

    def loss(self, tensors):
        """Negative ELBO of a mini-batch, averaged over its cells (KL warm-up and
        protein weight applied)."""
        return self._loss_and_latent(tensors)[0]

    def loss_discriminator(
        self,
        z: torch.Tensor,
        batch_index: torch.Tensor,
        predict_true_class: bool = True,
        return_details: bool = True,
    ) -> torch.Tensor:
        """Cross-entropy of the batch classifier on the latent space.

        Parameters
        ----------
        z
            Latent samples, ``(batch_size, n_latent)``.
        batch_index
            Batch of each cell, ``(batch_size, 1)``.
        predict_true_class
            Target the true batch (training the classifier), else the other
            batches uniformly (the loss that pushes the encoder to fool it).
        return_details
            Accepted for scVI 0.6 compatibility; the mean loss is returned either
            way.

        Returns
        -------
        torch.Tensor
            The mean cross-entropy (a 0-d tensor).
        """
        n_classes = self.model.n_batch
        log_probs = F.log_softmax(self.discriminator(z), dim=1)
        target = one_hot(batch_index, n_classes, log_probs.dtype)
        if not predict_true_class:
            target = (1.0 - target) / (n_classes - 1)
        return -(log_probs * target).sum(dim=1).mean()

    def _step_kappa(self):
        """The adversarial weight of the step: ``kappa``, or ``1 - kl_weight``."""
        if self.kappa is not None:
            return self.kappa
        return 1.0 - self._step_kl_weight()

    # ------------------------------------------------------------ training
    def on_training_loop(self, tensors_list) -> None:
        """One step of the model and, with the adversarial loss, one step of the
        batch classifier (both without host synchronisation)."""
        if not self.use_adversarial_loss:
            super().on_training_loop(tensors_list)
            return
        self.current_loss, z = self._step_loss(*tensors_list)
        self.optimizer.zero_grad()
        self._nan_guard.step(self.current_loss, self.optimizer)
        batch_index = tensors_list[0][3]
        self.discriminator_step(
            self._step_kappa() * self.loss_discriminator(z.detach(), batch_index, True)
        )

    def _objective(self, *tensors_list):
        """The loss of a step; with the adversarial loss, plus ``kappa`` times the
        loss of fooling the batch classifier, and the latent sample ``z``."""
        if not self.use_adversarial_loss:
            return super()._objective(*tensors_list)
        tensors = tensors_list[0]
        loss, z = self._loss_and_latent(tensors)
        fool = self.loss_discriminator(z, tensors[3], predict_true_class=False)
        return loss + self._step_kappa() * fool, z

    def train(
        self,
        n_epochs: int = 500,
        lr: float = 4e-3,
        eps: float = 0.01,
        params=None,
        **extras_kwargs,
    ) -> None:
        """Train the model (Adam), with scVI 0.6's totalVI defaults.

        Parameters
        ----------
        n_epochs
            Number of passes over ``train_set``.
        lr
            Learning rate.
        eps
            Adam's ``eps``.
        params
            Parameters to optimise (default: every parameter of the model).
        **extras_kwargs
            Passed to :meth:`training_extras_init` (``lr_d``).
        """
        super().train(n_epochs=n_epochs, lr=lr, eps=eps, params=params, **extras_kwargs)
