"""scANVI: semi-supervised annotation with a two-level latent model (Xu 2019).

Generative model (M1 + M2 of Kingma 2014 on top of scVI)::

    y ~ Cat(y_prior),  z2 ~ N(0, I),  z1 | z2, y ~ N(mu(z2, y), sigma^2(z2, y))
    x | z1, l, s  as in scVI (z1 plays the role of z)

Posterior ``q(z1 | x) q(y | z1) q(z2 | z1, y) q(l | x)``; unlabelled cells are
handled by summing over the labels under the classifier ``q(y | z1)``.
"""

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._likelihoods import gaussian_kl, gaussian_log_prob
from .classifier import Classifier
from .modules import Decoder, Encoder
from .vaec import SemiSupervisedVAE, expected_over_labels


class SCANVI(SemiSupervisedVAE):
    """Single-cell annotation using variational inference.

    This is an implementation of the scANVI model described in [Xu19], inspired
    from M1 + M2 model, as described in (https://arxiv.org/pdf/1406.5298.pdf).

    Parameters
    ----------
    n_input
        Number of input genes.
    n_batch
        Number of batches.
    n_labels
        Number of labels (at least 1).
    n_hidden
        Number of nodes per hidden layer.
    n_latent
        Dimensionality of the latent spaces ``z1`` and ``z2``.
    n_layers
        Number of hidden layers used for encoder and decoder NNs.
    dropout_rate
        Dropout rate for neural networks.
    dispersion
        ``"gene"``, ``"gene-batch"``, ``"gene-label"`` or ``"gene-cell"``, see
        :class:`~scvi.models.vae.VAE`.
    log_variational
        Log(data+1) prior to encoding for numerical stability. Not normalization.
    reconstruction_loss
        ``"zinb"``, ``"nb"`` or ``"poisson"``.
    y_prior
        Prior probabilities of the labels (``n_labels`` positive values, e.g. of
        shape ``(1, n_labels)``); if None, uniform over cell types.
    labels_groups
        Label group designations: the group of each label (``n_labels`` values).
    use_labels_groups
        Whether to use the label groups (hierarchical classification).
    classifier_parameters
        Keyword arguments of the :class:`~scvi.models.classifier.Classifier`
        (``n_hidden``, ``n_layers``, ``dropout_rate``), overriding the model's.
    **model_options
        Keyword-only opt-in options of :class:`~scvi.models.vae.VAE` for the
        scVI part: ``use_observed_lib_size``, ``deeply_inject_covariates``,
        ``use_batch_norm``, ``use_layer_norm``, ``preset`` (the classifier
        encodes counts only, so ``encode_covariates`` and extra covariates are
        not supported).

    Examples
    --------
    >>> gene_dataset = SyntheticDataset(n_labels=3)
    >>> scanvi = SCANVI(gene_dataset.nb_genes, n_batch=gene_dataset.n_batches *
    ... False, n_labels=3, y_prior=torch.tensor([[0.1, 0.5, 0.4]]),
    ... labels_groups=[0, 0, 1])
    """

    def __init__(
        self,
        n_input: int,
        n_batch: int = 0,
        n_labels: int = 0,
        n_hidden: int = 128,
        n_latent: int = 10,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        dispersion: str = "gene",
        log_variational: bool = True,
        reconstruction_loss: str = "zinb",
        y_prior=None,
        labels_groups: Optional[Sequence[int]] = None,
        use_labels_groups: bool = False,
        classifier_parameters: dict = {},
        **model_options,
    ):
        super().__init__(
            n_input,
            n_batch,
            n_labels,
            y_prior,
            n_hidden=n_hidden,
            n_latent=n_latent,
            n_layers=n_layers,
            dropout_rate=dropout_rate,
            dispersion=dispersion,
            log_variational=log_variational,
            reconstruction_loss=reconstruction_loss,
            **model_options,
        )
        if self.encode_covariates or self.n_continuous_cov or self.n_cats_per_cov:
            raise ValueError(
                "SCANVI supports neither encode_covariates nor n_continuous_cov / "
                "n_cats_per_cov (its classifier encodes the counts only)"
            )
        cls_parameters = dict(
            n_layers=n_layers, n_hidden=n_hidden, dropout_rate=dropout_rate
        )
        cls_parameters.update(classifier_parameters or {})
        self.classifier = Classifier(n_latent, n_labels=n_labels, **cls_parameters)
        self.encoder_z2_z1 = Encoder(
            n_latent,
            n_latent,
            n_cat_list=[n_labels],
            n_layers=n_layers,
            n_hidden=n_hidden,
            dropout_rate=dropout_rate,
        )
        self.decoder_z1_z2 = Decoder(
            n_latent,
            n_latent,
            n_cat_list=[n_labels],
            n_layers=n_layers,
            n_hidden=n_hidden,
        )
        self.use_labels_groups = use_labels_groups
        self.labels_groups = None
        if use_labels_groups and labels_groups is None:
            raise ValueError("use_labels_groups=True needs labels_groups")
        if labels_groups is not None:
            self._init_groups(labels_groups, cls_parameters)

    def _init_groups(self, labels_groups: Sequence[int], cls_parameters: dict):
        """Store the label groups, their membership matrix and group classifier."""
        groups = np.asarray(labels_groups).reshape(-1)
        if groups.size != self.n_labels:
            raise ValueError(
                f"labels_groups must give one group per label ({self.n_labels}), "
                f"got {groups.size}"
            )
        unique, inverse = np.unique(groups, return_inverse=True)
        self.labels_groups = groups
        self.n_groups = len(unique)
        membership = F.one_hot(torch.as_tensor(inverse.reshape(-1)), self.n_groups)
        self.register_buffer("groups_membership", membership.float())
        if self.use_labels_groups:
            self.classifier_groups = Classifier(
                self.n_latent, n_labels=self.n_groups, **cls_parameters
            )

    def label_probabilities(self, z1: torch.Tensor) -> torch.Tensor:
        """Classifier ``q(y | z1)``, hierarchical when ``use_labels_groups``.

        With groups, ``q(y | z1) = q(group(y) | z1) q(y | z1, group(y))``: the
        group classifier's probability times the label classifier's probability
        renormalised within the label's group.

        Parameters
        ----------
        z1
            Latent representations, shape ``(batch, n_latent)``.

        Returns
        -------
        torch.Tensor
            Shape ``(batch, n_labels)``, rows summing to one.
        """
        probs = self.classifier(z1)
        if not self.use_labels_groups:
            return probs
        membership = self.groups_membership.to(probs.dtype)
        group_totals = (probs @ membership) @ membership.t()
        group_probs = self.classifier_groups(z1) @ membership.t()
        return probs / (group_totals + 1e-8) * group_probs

    def _classify_encoded(self, x_: torch.Tensor) -> torch.Tensor:
        """Class probabilities at the posterior mean of ``z1`` given ``x_``."""
        return self.label_probabilities(self.z_encoder.gaussian(x_)[0])

    def _label_covariate(self, x: torch.Tensor, y: Optional[torch.Tensor]):
        """Labels for the ``"gene-label"`` dispersion: given, else predicted."""
        if self.dispersion != "gene-label":
            return y
        return super()._label_covariate(x, y)

    def _z2_terms(self, z1: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``-log p(z1 | z2, y) + KL(q(z2 | z1, y) || N(0, I))`` per cell.

        ``z1`` is ``(..., batch, n_latent)`` and ``y`` labels ``(..., batch, 1)``
        (or one-hot); returns shape ``(..., batch)``.
        """
        qz2_m, qz2_v, z2 = self.encoder_z2_z1(z1, y)
        pz1_m, pz1_v = self.decoder_z1_z2(z2, y)
        return gaussian_kl(qz2_m, qz2_v) - gaussian_log_prob(z1, pz1_m, pz1_v)

    def _losses(self, x, local_l_mean, local_l_var, batch_index, y):
        """The two-level terms; for unlabelled cells, those of ``z2`` (and the
        reconstruction loss with the ``"gene-label"`` dispersion) are expectations
        under ``q(y | z1)``."""
        out = self.inference(x, batch_index, y)
        reconst_loss = self.get_reconstruction_loss(
            x, out["px_rate"], out["px_r"], out["px_dropout"]
        )
        kl_l = self.kl_divergences(out, local_l_mean, local_l_var)[1]
        z1 = out["z"]
        log_qz1 = gaussian_log_prob(z1, out["qz_m"], out["qz_v"])
        if y is not None:
            return reconst_loss + kl_l, log_qz1 + self._z2_terms(z1, y)
        probs = self.label_probabilities(z1)
        ys = self._all_labels(x)
        z2_terms = self._z2_terms(self._per_label(z1), ys)
        kl_latent = log_qz1 + expected_over_labels(z2_terms, probs)
        kl_latent = kl_latent + self._label_kl(probs)
        if self.dispersion == "gene-label":
            theta = self.inverse_dispersion(None, batch_index, ys)
            reconst_loss = expected_over_labels(
                self.get_reconstruction_loss(
                    x, out["px_rate"], theta, out["px_dropout"]
                ),
                probs,
            )
        return reconst_loss + kl_l, kl_latent
