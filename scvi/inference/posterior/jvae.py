"""JPosterior: the Posterior of one dataset of a JVAE (gimVI) model.

A JVAE encodes and decodes each of its datasets with its own head (``mode``); a
:class:`JPosterior` holds the cells of one dataset and the index of that dataset,
and its queries (ELBO, latent space, imputation of the genes of the union) run the
model in that mode. Everything else (mini-batches, latent-space scores) comes from
:class:`~scvi.inference.Posterior`.
"""

import contextlib
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...models.log_likelihood import compute_elbo, compute_reconstruction_error
from .core import Posterior
from .sampling import _numpy, eval_mode
from .scores import metric_mode


def check_mode(mode, n_dataset: int, name: str = "mode") -> int:
    """``mode`` as an int in ``[0, n_dataset)``, else a ValueError naming ``name``."""
    if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)):
        raise ValueError(f"{name} must be a dataset index (an int), got {mode!r}")
    if not 0 <= mode < n_dataset:
        raise ValueError(
            f"{name} must be a dataset index in [0, {n_dataset}), got {mode}"
        )
    return int(mode)


def class_log_probs(discriminator, z: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the classes of ``discriminator`` on ``z``.

    The discriminator gives logits (``Classifier(logits=True)``) or, when its
    ``logits`` attribute is False, probabilities.
    """
    out = discriminator(z)
    if getattr(discriminator, "logits", True):
        return F.log_softmax(out, dim=-1)
    return torch.log(out.clamp_min(torch.finfo(out.dtype).tiny))


class JPosterior(Posterior):
    """The functional data unit of gimVI: the cells of dataset ``mode`` of a JVAE.

    Parameters
    ----------
    model
        A :class:`~scvi.models.JVAE`.
    gene_dataset
        The dataset number ``mode`` of the model (its genes are the model's
        ``dim_input_list[mode]`` genes).
    shuffle, indices, use_cuda, data_loader_kwargs
        As in :class:`~scvi.inference.Posterior`.
    mode
        Index of the dataset among the model's datasets (its encoder head and
        its genes among the ``total_genes``).

    Examples
    --------
    >>> trainer = JVAETrainer(model, discriminator, [data_seq, data_spatial])
    >>> trainer.train(n_epochs=200)
    >>> latent, batches, labels = trainer.test_1.get_latent()
    >>> imputed = trainer.all_dataset[1].get_imputed_values(decode_mode=0)
    """

    def __init__(self, *args, mode: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.model, "n_input_list"):
            raise ValueError(
                f"JPosterior needs a JVAE model, got a {type(self.model).__name__}"
            )
        self.mode = check_mode(mode, self.model.n_dataset)
        expected = self.model.n_input_list[self.mode]
        if self.gene_dataset.nb_genes != expected:
            raise ValueError(
                f"dataset {self.mode} of the model has {expected} genes "
                f"(dim_input_list[{self.mode}]), gene_dataset has "
                f"{self.gene_dataset.nb_genes}"
            )

    # ------------------------------------------------------------ likelihoods
    @metric_mode("min")
    def elbo(self) -> float:
        """Negative ELBO per cell of the dataset (lower is better).

        Returns
        -------
        float
            ``-log p(x | z, l) + KL(q(z|x) || p(z)) [+ KL(q(l|x) || p(l))]``
            averaged over the cells (one posterior draw each).
        """
        with eval_mode(self.model):
            return compute_elbo(self.model, self, mode=self.mode)

    @metric_mode("min")
    def reconstruction_error(self) -> float:
        """``-log p(x | z, l)`` per cell of the dataset, one posterior draw.

        Returns
        -------
        float
            The mean reconstruction loss (lower is better).
        """
        with eval_mode(self.model):
            return compute_reconstruction_error(self.model, self, mode=self.mode)

    def marginal_ll(self, n_mc_samples: Optional[int] = 1000) -> float:
        """Not defined for gimVI (the model has no importance sampler).

        Raises
        ------
        NotImplementedError
            Always; use :meth:`elbo`, an upper bound of ``-log p(x)``.
        """
        raise NotImplementedError(
            "marginal_ll is not defined for a JVAE; elbo() bounds -log p(x)"
        )

    # ------------------------------------------------------------ latent space
    def _latent_z(self, x: torch.Tensor, give_mean: bool) -> torch.Tensor:
        """Latent mean or sample of cells of dataset ``mode`` (its encoder head),
        behind :meth:`~scvi.inference.Posterior.get_latent`."""
        return self.model.sample_from_posterior_z(x, self.mode, deterministic=give_mean)

    def get_imputed_values(
        self,
        deterministic: bool = True,
        normalized: bool = True,
        decode_mode: Optional[int] = None,
    ) -> np.ndarray:
        """Expression of all ``total_genes`` genes of the model in these cells.

        The cells are encoded by their own head; the decoder gives the
        frequencies ``rho`` of the union of the genes, scaled so that the genes of
        dataset ``decode_mode`` sum to one (the scale of that dataset's
        likelihood), with each cell's own batch.

        Parameters
        ----------
        deterministic
            Decode the posterior means of ``z`` (and of the library when it is
            inferred) instead of a sample.
        normalized
            Return the frequencies; else the mean counts ``exp(l) * rho / sum(rho
            over the genes of decode_mode)``, with the cell's library ``l``.
        decode_mode
            Dataset whose gene set defines the scaling (default: this
            posterior's ``mode``).

        Returns
        -------
        np.ndarray
            ``(n_cells, total_genes)``, non-negative; with ``normalized``, the
            columns ``model.indices_mappings[decode_mode]`` of each row sum to 1.
        """
        model = self.model
        decode_mode = self.mode if decode_mode is None else decode_mode
        decode_mode = check_mode(decode_mode, model.n_dataset, "decode_mode")
        index = model.gene_index(decode_mode)
        values = []
        with eval_mode(model):
            for tensors in self._ordered():
                x, _, _, batch_index = tensors[:4]
                qz_m, _, z, ql_m, _, library = model.encode(x, self.mode)
                if deterministic:
                    z = qz_m
                    library = library if ql_m is None else ql_m
                rho = model.decoder(
                    z, decode_mode, library, model.dispersion, batch_index
                )
                rho = rho[0] / rho[0][:, index].sum(dim=-1, keepdim=True)
                values.append(_numpy(rho if normalized else torch.exp(library) * rho))
        return np.concatenate(values)

    # ------------------------------------------------------------ training terms
    def loss_terms(self, discriminator=None, one_sample: bool = False) -> np.ndarray:
        """Mean per cell of the reconstruction loss, of the KL divergence and of the
        discriminator's cross-entropy on the true dataset.

        Parameters
        ----------
        discriminator
            Classifier of the datasets on the latent space (None: its term is
            NaN).
        one_sample
            Use the first mini-batch only (faster, less exact).

        Returns
        -------
        np.ndarray
            ``(3,)``: reconstruction loss, KL divergence (of ``z`` and, when
            inferred, of the library) and cross-entropy, per cell.
        """
        totals, n_cells = np.zeros(3), 0
        if discriminator is None:
            totals[2] = np.nan
        with contextlib.ExitStack() as stack:
            for module in (self.model, discriminator):
                if module is not None:
                    stack.enter_context(eval_mode(module))
            for tensors in self._ordered():
                x, l_mean, l_var, batch_index, labels = tensors[:5]
                reconst, kl, _ = self.model(
                    x, l_mean, l_var, batch_index, labels, mode=self.mode
                )
                totals[:2] += [float(reconst.sum()), float(kl.sum())]
                if discriminator is not None:
                    z = self.model.sample_from_posterior_z(x, self.mode)
                    log_probs = class_log_probs(discriminator, z)[:, self.mode]
                    totals[2] -= float(log_probs.sum())
                n_cells += x.shape[0]
                if one_sample:
                    break
        if n_cells == 0:
            raise ValueError(f"the posterior of dataset {self.mode} holds no cell")
        return totals / n_cells

    def discriminator_probabilities(self, discriminator) -> np.ndarray:
        """Mean class probabilities of ``discriminator`` on the latent means.

        Parameters
        ----------
        discriminator
            Classifier of the datasets on the latent space.

        Returns
        -------
        np.ndarray
            ``(n_classes,)``, summing to 1: the discriminator's predicted
            probabilities of each dataset, averaged over the cells.
        """
        total, n_cells = None, 0
        with eval_mode(self.model), eval_mode(discriminator):
            for tensors in self._ordered():
                z = self.model.sample_from_posterior_z(
                    tensors[0], self.mode, deterministic=True
                )
                probs = class_log_probs(discriminator, z).exp().sum(dim=0)
                total = probs if total is None else total + probs
                n_cells += z.shape[0]
        if total is None:
            raise ValueError(f"the posterior of dataset {self.mode} holds no cell")
        return _numpy(total / n_cells)
