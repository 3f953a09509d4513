"""VAEC: scVI conditioned on cell-type labels, semi-supervised (M2 of Kingma 2014).

Generative model: ``y ~ Cat(y_prior)``, ``z ~ N(0, I)``, ``l`` as in scVI and
``x | z, l, s, y`` decoded with both the batch ``s`` and the label ``y`` as
covariates. Posterior ``q(y | x) q(z | x, y) q(l | x)``. For unlabelled cells the
label is summed out: every label is enumerated and the per-label losses are
weighted by the classifier's probabilities ``q(y | x)``; ``KL(q(y | x) || p(y))``
is added. The helpers and :class:`SemiSupervisedVAE` below are shared with
:mod:`scvi.models.scanvi`.
"""

from typing import Optional, Sequence, Tuple, Union

import torch

from ._compat import reshape_entry
from ._likelihoods import gaussian_kl
from .classifier import Classifier
from .modules import DecoderSCVI, Encoder
from .vae import VAE


def label_prior(
    y_prior: Optional[Union[torch.Tensor, Sequence[float]]], n_labels: int
) -> torch.Tensor:
    """Validated prior probabilities of the labels.

    Parameters
    ----------
    y_prior
        Positive weights of the ``n_labels`` labels, any shape with ``n_labels``
        elements (e.g. ``(1, n_labels)``), normalised to sum to one; None gives
        the uniform prior.
    n_labels
        Number of labels.

    Returns
    -------
    torch.Tensor
        float32 tensor of shape ``(n_labels,)`` summing to one.
    """
    if y_prior is None:
        return torch.full((n_labels,), 1.0 / n_labels)
    prior = torch.as_tensor(y_prior, dtype=torch.float32).detach().reshape(-1)
    if prior.numel() != n_labels:
        raise ValueError(f"y_prior must have {n_labels} entries, got {prior.numel()}")
    if not bool((prior > 0).all()):
        raise ValueError("y_prior must be positive for every label")
    return (prior / prior.sum()).clone()


def enumerate_labels(n_labels: int, n_cells: int, device=None) -> torch.Tensor:
    """Every label for every cell, label-major.

    Parameters
    ----------
    n_labels, n_cells
        Number of labels and of cells.
    device
        Device of the result.

    Returns
    -------
    torch.Tensor
        int64 tensor of shape ``(n_labels, n_cells, 1)`` whose ``[k, n, 0]``
        entry is ``k``.
    """
    labels = torch.arange(n_labels, device=device).view(n_labels, 1, 1)
    return labels.expand(n_labels, n_cells, 1)


def expected_over_labels(values: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Expectation of per-label values under the label probabilities.

    Parameters
    ----------
    values
        Shape ``(n_labels, batch)``.
    probs
        Shape ``(batch, n_labels)``, rows summing to one.

    Returns
    -------
    torch.Tensor
        ``sum_k probs[n, k] values[k, n]``, shape ``(batch,)``.
    """
    return (values * probs.t()).sum(dim=0)


def categorical_kl(probs: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """``KL(Cat(probs) || Cat(prior))`` per row.

    Parameters
    ----------
    probs
        Shape ``(batch, n_labels)``, rows summing to one.
    prior
        Positive probabilities, shape ``(n_labels,)``.

    Returns
    -------
    torch.Tensor
        Shape ``(batch,)``; zero probabilities contribute zero.
    """
    log_probs = torch.log(probs.clamp(min=torch.finfo(probs.dtype).tiny))
    return (probs * (log_probs - torch.log(prior))).sum(dim=-1)


def as_column(index: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """Category indices as a ``(batch, 1)`` column (None and one-hot unchanged)."""
    if index is None or index.dim() > 1:
        return index
    return index.unsqueeze(-1)


class SemiSupervisedVAE(VAE):
    """Base of the semi-supervised scVI models (:class:`VAEC`, :class:`SCANVI`).

    It holds the label prior ``y_prior`` (a buffer), :meth:`classify` and the
    loss: for labelled cells, the subclass's loss given the labels; for
    unlabelled cells, its expectation under the classifier plus ``KL(q(y | .) ||
    p(y))``. Subclasses implement ``_classify_encoded`` (class probabilities from
    the encoder input) and ``_losses`` (the terms returned by :meth:`forward`).

    Parameters
    ----------
    n_input, n_batch, n_labels
        As in :class:`~scvi.models.vae.VAE`; ``n_labels`` must be at least 1.
    y_prior
        Prior probabilities of the labels, see :func:`label_prior`.
    **vae_kwargs
        The other keyword arguments of :class:`~scvi.models.vae.VAE`.
    """

    def __init__(
        self, n_input: int, n_batch: int, n_labels: int, y_prior, **vae_kwargs
    ):
        if n_labels < 1:
            raise ValueError(
                f"{type(self).__name__} needs n_labels >= 1, got {n_labels}"
            )
        super().__init__(n_input, n_batch=n_batch, n_labels=n_labels, **vae_kwargs)
        self.register_buffer("y_prior", label_prior(y_prior, n_labels))
        reshape_entry(self, "y_prior")  # scVI 0.6.8 saved it as (1, n_labels)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities of cells.

        Parameters
        ----------
        x
            Counts, shape ``(batch_size, n_input)``.

        Returns
        -------
        torch.Tensor
            Shape ``(batch_size, n_labels)``, rows summing to one.
        """
        return self._classify_encoded(self._encoder_input(x))

    def _classify_encoded(self, x_: torch.Tensor) -> torch.Tensor:
        """Class probabilities from the encoder input ``x_`` (see :meth:`classify`)."""
        raise NotImplementedError

    def _label_covariate(self, x: torch.Tensor, y: Optional[torch.Tensor]):
        """The given labels, else the most probable label of each cell."""
        if y is not None:
            return y
        return self.classify(x).argmax(dim=-1, keepdim=True)

    def _all_labels(self, x: torch.Tensor) -> torch.Tensor:
        """Every label for every cell of ``x``, shape ``(n_labels, batch, 1)``."""
        return enumerate_labels(self.n_labels, x.shape[0], x.device)

    def _per_label(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` repeated for every label, shape ``(n_labels, *t.shape)``."""
        return t.unsqueeze(0).expand(self.n_labels, *t.shape)

    def _label_kl(self, probs: torch.Tensor) -> torch.Tensor:
        """``KL(Cat(probs) || Cat(y_prior))`` per cell, shape ``(batch,)``."""
        return categorical_kl(probs, self.y_prior)

    def forward(
        self,
        x: torch.Tensor,
        local_l_mean: torch.Tensor,
        local_l_var: torch.Tensor,
        batch_index: Optional[torch.Tensor] = None,
        y: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, float]:
        """Returns the reconstruction loss and the KL divergences.

        Parameters
        ----------
        x
            Tensor of values with shape ``(batch_size, n_input)``.
        local_l_mean, local_l_var
            Mean and variance of the log library prior, ``(batch_size, 1)``.
        batch_index
            Batch of each cell, ``(batch_size, 1)``.
        y
            Cell-type labels ``(batch_size, 1)`` (or one-hot ``(batch_size,
            n_labels)``); None for unlabelled cells, whose label is summed out
            under the classifier's probabilities.

        Returns
        -------
        tuple
            ``(reconst_loss + kl_l, kl_latent, 0.0)`` (the contract of
            :meth:`VAE.forward`; no global KL), the first two of shape
            ``(batch_size,)``:
            the negative log-likelihood plus the library KL, and the KL terms of
            the latent variables (``KL(q(z | x, y) || p(z))`` for VAEC; ``log q(z1
            | x) - log p(z1 | z2, y) + KL(q(z2 | z1, y) || p(z2))`` for SCANVI).
            For unlabelled cells the terms depending on the label are
            expectations over the labels and ``KL(q(y | .) || p(y))`` is added to
            ``kl_latent``.
        """
        return (*self._losses(x, local_l_mean, local_l_var, batch_index, y), 0.0)

    def _losses(self, x, local_l_mean, local_l_var, batch_index, y):
        """The two per-cell terms returned by :meth:`forward`."""
        raise NotImplementedError


class VAEC(SemiSupervisedVAE):
    """A semi-supervised Variational auto-encoder model - inspired from M2 model,
    as described in (https://arxiv.org/pdf/1406.5298.pdf).

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
        Dimensionality of the latent space.
    n_layers
        Number of hidden layers used for encoder and decoder NNs.
    dropout_rate
        Dropout rate for neural networks.
    y_prior
        Prior probabilities of the labels, ``n_labels`` positive values (e.g.
        shape ``(1, n_labels)``); if None, uniform over cell types.
    dispersion
        ``"gene"``, ``"gene-batch"``, ``"gene-label"`` or ``"gene-cell"``, see
        :class:`~scvi.models.vae.VAE`.
    log_variational
        Log(data+1) prior to encoding for numerical stability. Not normalization.
    reconstruction_loss
        ``"zinb"``, ``"nb"`` or ``"poisson"``.

    Examples
    --------
    >>> gene_dataset = SyntheticDataset(n_labels=3)
    >>> vaec = VAEC(gene_dataset.nb_genes, n_batch=gene_dataset.n_batches * False,
    ... n_labels=3, y_prior=torch.tensor([[0.1, 0.5, 0.4]]))
    """

    def __init__(
        self,
        n_input: int,
        n_batch: int,
        n_labels: int,
        n_hidden: int = 128,
        n_latent: int = 10,
        n_layers: int = 1,
        dropout_rate: float = 0.1,
        y_prior=None,
        dispersion: str = "gene",
        log_variational: bool = True,
        reconstruction_loss: str = "zinb",
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
        )
        self.z_encoder = Encoder(
            n_input,
            n_latent,
            n_cat_list=[n_labels],
            n_layers=n_layers,
            n_hidden=n_hidden,
            dropout_rate=dropout_rate,
        )
        self.decoder = DecoderSCVI(
            n_latent,
            n_input,
            n_cat_list=[n_batch, n_labels],
            n_layers=n_layers,
            n_hidden=n_hidden,
        )
        self.classifier = Classifier(
            n_input,
            n_hidden=n_hidden,
            n_labels=n_labels,
            n_layers=n_layers,
            dropout_rate=dropout_rate,
        )

    def _classify_encoded(self, x_: torch.Tensor) -> torch.Tensor:
        """``q(y | x)``, the classifier applied to the encoder input."""
        return self.classifier(x_)

    def _losses(self, x, local_l_mean, local_l_var, batch_index, y):
        """scVI's terms given the labels; for unlabelled cells, the reconstruction
        loss and ``kl_z`` are expectations under ``q(y | x)``."""
        if y is not None:
            return VAE.forward(self, x, local_l_mean, local_l_var, batch_index, y)[:2]
        x_ = self._encoder_input(x)
        ql_m, ql_v, library = self.l_encoder(x_)
        ys = self._all_labels(x)
        qz_m, qz_v = self.z_encoder.gaussian(self._per_label(x_), ys)
        z, _ = self.z_encoder.reparameterize_transformation(qz_m, qz_v)
        batch_index = as_column(batch_index)
        if batch_index is not None:
            batch_index = self._per_label(batch_index)
        out = self.generative(z, library, batch_index, ys)
        reconst_loss = self.get_reconstruction_loss(
            x, out["px_rate"], out["px_r"], out["px_dropout"]
        )
        probs = self.classify(x)
        kl_z = expected_over_labels(gaussian_kl(qz_m, qz_v), probs)
        kl_z = kl_z + self._label_kl(probs)
        kl_l = gaussian_kl(ql_m, ql_v, local_l_mean, local_l_var)
        return expected_over_labels(reconst_loss, probs) + kl_l, kl_z
