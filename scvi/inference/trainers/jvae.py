"""JVAETrainer: training of gimVI (JVAE) on datasets of overlapping gene sets."""

import functools
import numbers
import logging
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ...models._likelihoods import gaussian_kl
from ..posterior.jvae import JPosterior, class_log_probs
from .jvae_checks import check_jvae_datasets
from .adversarial import DiscriminatorExtras
from .unsupervised import UnsupervisedTrainer

logger = logging.getLogger(__name__)


def _repeat(posterior):
    """Mini-batches of ``posterior`` without end, in a new order at every pass."""
    while True:
        yield from posterior


class JVAETrainer(DiscriminatorExtras, UnsupervisedTrainer):
    """The trainer class for the unsupervised training of JVAE.

    Each step takes a mini-batch of the training cells of every dataset and
    minimises the sum over the datasets of their negative ELBO per cell (the KL
    weight rising from 0 to 1 over ``n_epochs_kl_warmup`` epochs), plus ``kappa``
    times the cross-entropy of the ``discriminator`` (a classifier of the
    datasets on the latent samples) against uniform targets over the other
    datasets, which pushes the encoders to mix the datasets. The discriminator
    then takes a step (its own Adam) on ``kappa`` times its cross-entropy on the
    true datasets. An epoch goes once through the largest training set; the
    smaller ones are gone through again as needed.

    Parameters
    ----------
    model
        A model instance from class JVAE.
    discriminator
        A classifier of the datasets on the latent space, with logit outputs
        (``Classifier(n_latent, 32, len(gene_dataset_list), 3, logits=True)``);
        None (or ``kappa=0``) trains without the adversarial loss.
    gene_dataset_list
        List of datasets like ``[CortexDataset(), SmfishDataset()]``, in the
        order of the model's datasets (see :func:`check_jvae_datasets`).
    train_size
        Train-test split ratio in (0, 1] of the cells of each dataset (or a
        number of cells).
    use_cuda
        Train on the GPU when one is available.
    kappa
        Weight of the discriminator loss.
    n_epochs_kl_warmup
        Number of epochs for the linear warm-up of the KL term (None or 0: no
        warm-up). After it, the training objective is the ELBO.
    **kwargs
        Other keywords arguments of :class:`~scvi.inference.Trainer`
        (``frequency``, ``batch_size``, ``show_progbar``, ``seed``...).

    Attributes
    ----------
    all_dataset : list of JPosterior
        All the cells of each dataset, in order.
    all_train, all_test : list of JPosterior
        The training and test cells of each dataset, also registered as
        ``train_<i>`` and ``test_<i>`` (history ``elbo_train_<i>``...).

    Examples
    --------
    >>> model = JVAE([d.nb_genes for d in datasets], total_genes, mappings,
    ...              ["zinb", "nb"], [True, False], n_batch=2)
    >>> discriminator = Classifier(model.n_latent, 32, 2, 3, logits=True)
    >>> trainer = JVAETrainer(model, discriminator, datasets, 0.95, frequency=1)
    >>> trainer.train(n_epochs=200)
    >>> imputed_spatial = trainer.get_imputed_values(normalized=True)[1]
    """

    default_metrics_to_monitor = ["elbo"]
    splits_cells = False
    posterior_class = JPosterior

    def __init__(
        self,
        model,
        discriminator,
        gene_dataset_list: List,
        train_size: Union[int, float] = 0.8,
        use_cuda: bool = True,
        kappa: float = 1.0,
        n_epochs_kl_warmup: Optional[int] = 400,
        **kwargs,
    ):
        check_jvae_datasets(model, gene_dataset_list)
        if isinstance(kappa, bool) or not isinstance(kappa, numbers.Real):
            raise ValueError(f"kappa must be a number >= 0, got {kappa!r}")
        if not kappa >= 0:
            raise ValueError(f"kappa must be a number >= 0, got {kappa}")
        adversarial = discriminator is not None and kappa > 0
        if adversarial and model.n_dataset < 2:
            raise ValueError("the discriminator needs at least 2 datasets")
        n_classes = getattr(discriminator, "n_labels", model.n_dataset)
        if discriminator is not None and n_classes != model.n_dataset:
            raise ValueError(
                f"the discriminator predicts {n_classes} classes, one per dataset "
                f"is needed ({model.n_dataset})"
            )
        super().__init__(
            model,
            gene_dataset_list[0],
            n_iter_kl_warmup=None,
            n_epochs_kl_warmup=n_epochs_kl_warmup,
            use_cuda=use_cuda,
            **kwargs,
        )
        self.n_dataset = model.n_dataset
        self.gene_dataset_list = list(gene_dataset_list)
        self.kappa = float(kappa)
        self.discriminator = discriminator
        self.d_optimizer = None
        if discriminator is not None:
            discriminator.to(next(model.parameters()).device)
        self.all_dataset, self.all_train, self.all_test = [], [], []
        for i, dataset in enumerate(self.gene_dataset_list):
            posterior_class = functools.partial(JPosterior, mode=i)
            self.all_dataset.append(
                self.create_posterior(model, dataset, type_class=posterior_class)
            )
            train, test, _ = self.train_test_validation(
                model, dataset, train_size, None, type_class=posterior_class
            )
            if train.nb_cells < 3:  # a mini-batch needs 3 cells (batch norm)
                raise ValueError(
                    f"train_size={train_size!r} leaves {train.nb_cells} training "
                    f"cells in gene_dataset_list[{i}] ({len(dataset)} cells); at "
                    "least 3 are needed"
                )
            self.all_train.append(train)
            self.all_test.append(test)
        # registered as scVI 0.6.8 orders them: the training sets, then the tests
        for name, posteriors in (("train", self.all_train), ("test", self.all_test)):
            for i, posterior in enumerate(posteriors):
                self.register_posterior(f"{name}_{i}", posterior)

    @property
    def posteriors_loop(self) -> List[str]:
        """The training posteriors of the datasets, ``train_0``, ``train_1``..."""
        return [f"train_{i}" for i in range(self.n_dataset)]

    def data_loaders_loop(self):
        """Returns an zipped iterable corresponding to loss signature: one
        mini-batch of each dataset's training cells per step.

        The training set with the most mini-batches sets the length of the epoch;
        the others start again (in a new order) when they run out. Steps where a
        mini-batch holds fewer than 3 cells (too few for batch normalisation) are
        skipped.
        """
        posteriors = [self._posteriors[name] for name in self.posteriors_loop]
        longest = max(
            range(len(posteriors)), key=lambda i: len(posteriors[i].data_loader)
        )
        streams = [
            iter(p) if i == longest else _repeat(p) for i, p in enumerate(posteriors)
        ]
        for tensors_list in zip(*streams):
            if min(tensors[0].shape[0] for tensors in tensors_list) >= 3:
                yield tensors_list

    # ------------------------------------------------------------ losses
    def _terms(self, tensors_list) -> Tuple[List, List, List]:
        """Per-cell reconstruction losses, KL divergences and latent samples of
        one mini-batch of each dataset."""
        reconst, kl, latents = [], [], []
        model = self.model
        for mode, tensors in enumerate(tensors_list):
            x, local_l_mean, local_l_var, batch_index, labels = tensors[:5]
            qz_m, qz_v, z, ql_m, ql_v, library = model.encode(x, mode)
            _, px_r, px_rate, px_dropout = model.decode(
                z, mode, library, batch_index, labels
            )
            reconst.append(
                model.reconstruction_loss(x, px_rate, px_r, px_dropout, mode)
            )
            kl_divergence = gaussian_kl(qz_m, qz_v)
            if ql_m is not None:  # the library is inferred
                kl_divergence = kl_divergence + gaussian_kl(
                    ql_m, ql_v, local_l_mean, local_l_var
                )
            kl.append(kl_divergence)
            latents.append(z)
        return reconst, kl, latents

    def loss(
        self, tensors: Sequence[Sequence[torch.Tensor]], return_details: bool = False
    ) -> Union[torch.Tensor, Tuple[List[torch.Tensor], List[torch.Tensor]]]:
        """Compute the loss of vae (reconstruction + kl_divergence).

        Parameters
        ----------
        tensors
            One mini-batch tuple ``(x, local_l_mean, local_l_var, batch_index,
            labels)`` of each dataset, in the order of the model's datasets.
        return_details
            Return the loss of each dataset instead of their sum.

        Returns
        -------
        torch.Tensor or tuple
            The scalar ``sum_i mean(reconst_i + kl_weight * kl_i)`` over the
            datasets ``i``; with ``return_details``, ``(reconstruction_losses,
            kl_divergences)``: two lists of per-cell tensors ``(batch_size_i,)``,
            one per dataset.
        """
        reconst, kl, _ = self._terms(tensors)
        if return_details:
            return reconst, kl
        return self._elbo_sum(reconst, kl)

    def _elbo_sum(self, reconst, kl) -> torch.Tensor:
        kl_weight = self._step_kl_weight()
        return sum(torch.mean(r + kl_weight * k) for r, k in zip(reconst, kl))

    def loss_discriminator(
        self,
        latent_tensors: List[torch.Tensor],
        predict_true_class: bool = True,
        return_details: bool = False,
    ) -> Union[torch.Tensor, List[torch.Tensor]]:
        """Compute the loss of the discriminator (either for the true labels or the
        fool labels).

        Parameters
        ----------
        latent_tensors
            Latent tensors ``(batch_size_i, n_latent)`` of each dataset.
        predict_true_class
            Cross-entropy with the true dataset as target (the loss the
            discriminator minimises), else with uniform targets over the other
            datasets (the loss the encoders minimise to fool it).
        return_details
            Return the loss of each dataset instead of their sum.

        Returns
        -------
        torch.Tensor or list of torch.Tensor
            The sum over the datasets of their mean cross-entropy per cell, or
            the list of these means (0-d tensors).
        """
        n_dataset = len(latent_tensors)
        if n_dataset < 2:
            raise ValueError("loss_discriminator needs the latents of 2+ datasets")
        sizes = [z.shape[0] for z in latent_tensors]
        # one pass of the classifier over the cells of every dataset
        log_probs = class_log_probs(self.discriminator, torch.cat(latent_tensors))
        losses = []
        for mode, part in enumerate(torch.split(log_probs, sizes)):
            if predict_true_class:
                cross_entropy = -part[:, mode]
            else:  # uniform target over the other datasets
                cross_entropy = (part[:, mode] - part.sum(dim=1)) / (n_dataset - 1)
            losses.append(cross_entropy.mean())
        return losses if return_details else sum(losses)

    # ------------------------------------------------------------ training
    @property
    def adversarial(self) -> bool:
        """Whether the discriminator is trained against the encoders."""
        return self.discriminator is not None and self.kappa > 0

    def _objective(self, *tensors_list):
        """The loss of a step (ELBOs and, if adversarial, the fool loss) and the
        latent samples it used."""
        reconst, kl, latents = self._terms(tensors_list)
        loss = self._elbo_sum(reconst, kl)
        if self.adversarial:
            fool = self.loss_discriminator(latents, predict_true_class=False)
            loss = loss + self.kappa * fool
        return loss, latents

    def on_training_loop(self, tensors_list) -> None:
        """One step of the model, then one of the discriminator (no host
        synchronisation)."""
        self.current_loss, latents = self._step_loss(*tensors_list)
        self.optimizer.zero_grad()
        self._nan_guard.step(self.current_loss, self.optimizer)
        if self.adversarial:
            latents = [z.detach() for z in latents]
            self.discriminator_step(self.kappa * self.loss_discriminator(latents, True))

    # ------------------------------------------------------------ queries
    def get_latent(self, deterministic: bool = True) -> List[np.ndarray]:
        """Return the latent space embedding for each dataset.

        Parameters
        ----------
        deterministic
            If true, use the mean of the encoder instead of a Gaussian sample.

        Returns
        -------
        list of np.ndarray
            One ``(n_cells_i, n_latent)`` array per dataset, cells in order.
        """
        return [p.get_latent(give_mean=deterministic)[0] for p in self.all_dataset]

    def get_imputed_values(
        self,
        deterministic: bool = True,
        normalized: bool = True,
        decode_mode: Optional[int] = None,
    ) -> List[np.ndarray]:
        """Return imputed values for all genes for each dataset.

        Parameters
        ----------
        deterministic
            If true, use the mean of the encoder instead of a Gaussian sample for
            the latent vector.
        normalized
            Return imputed normalized values (frequencies) or mean counts.
        decode_mode
            If a ``decode_mode`` is given, use the encoder specific to each
            dataset as usual but scale the decoded genes as dataset
            ``decode_mode`` (its genes sum to 1, or to the library); by default
            each dataset is decoded in its own mode. See
            :meth:`JPosterior.get_imputed_values`.

        Returns
        -------
        list of np.ndarray
            One ``(n_cells_i, total_genes)`` array per dataset.
        """
        return [
            p.get_imputed_values(deterministic, normalized, decode_mode)
            for p in self.all_dataset
        ]

    def get_discriminator_confusion(self) -> np.ndarray:
        """Return the confusion matrix of the discriminator classifier.

        A good mixing should lead to a uniform matrix.

        Returns
        -------
        np.ndarray
            ``(n_dataset, n_dataset)``: row ``i`` holds the discriminator's
            probabilities of each dataset, averaged over the cells of dataset
            ``i`` (at their latent means); rows sum to 1.
        """
        if self.discriminator is None:
            raise ValueError("the trainer has no discriminator (discriminator=None)")
        return np.stack(
            [
                p.discriminator_probabilities(self.discriminator)
                for p in self.all_dataset
            ]
        )

    def get_loss_magnitude(
        self, one_sample: bool = False
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the different losses of the model separately.

        Useful to inspect and compare their magnitude.

        Parameters
        ----------
        one_sample
            Use only one batch to estimate the loss, can be much faster/less exact
            on big datasets.

        Returns
        -------
        tuple of np.ndarray
            ``(reconstruction, kl_divergence, discriminator)``, each ``(n_dataset,)``:
            per-cell means over all the cells of each dataset of the
            reconstruction loss, of the KL divergence (unweighted) and of the
            discriminator's cross-entropy on the true dataset (NaN without a
            discriminator).
        """
        terms = np.stack(
            [p.loss_terms(self.discriminator, one_sample) for p in self.all_dataset]
        )
        return terms[:, 0], terms[:, 1], terms[:, 2]
