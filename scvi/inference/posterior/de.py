"""Differential expression queries of a Posterior (Bayes factors).

The statistics are computed by :mod:`scvi.inference.differential_expression`; this
module draws the posterior samples of the normalized means they compare.
"""

import logging
import warnings
from typing import Callable, List, Optional, Union

import numpy as np
import pandas as pd
import torch

from ...models._vae_covariates import covariate_kwargs
from .. import differential_expression as de
from .base import PosteriorBase
from .batching import SequentialSubsetSampler, as_index_array
from .sampling import eval_mode

logger = logging.getLogger(__name__)

# entries (cells x genes) decoded at once while sampling scales: large mini-batches
# cut the per-batch overhead, the cap bounds the memory of the temporaries (16 MiB
# each in float32)
SAMPLING_BATCH_ENTRIES = 1 << 22
ArrayLike = Union[List, np.ndarray]


class DifferentialExpressionMixin(PosteriorBase):
    """Bayes-factor differential expression of :class:`~scvi.inference.Posterior`
    (built on the cell iteration of :class:`PosteriorBase`)."""

    def _feature_names(self) -> np.ndarray:
        """Names of the features that differential expression compares."""
        return self.gene_dataset.gene_names

    def _raw_counts_properties(self, idx1, idx2) -> tuple:
        """Raw count statistics of the features in two groups of cells."""
        return self.gene_dataset.raw_counts_properties(idx1, idx2)

    def _sampling_batch_size(self) -> int:
        return max(128, SAMPLING_BATCH_ENTRIES // max(self.gene_dataset.nb_genes, 1))

    def _scales_of_cells(self, cells: np.ndarray, transform_batch, **kwargs):
        """One posterior draw of the scale of each listed cell (repeats allowed)."""
        posterior = self.update(
            {
                "batch_size": self._sampling_batch_size(),
                "sampler": SequentialSubsetSampler(cells),
            }
        )
        return posterior.get_sample_scale(transform_batch=transform_batch, **kwargs)

    def _scales_of_draws(self, draws: list, **kwargs) -> np.ndarray:
        """:meth:`_scales_of_cells` of each ``(cells, transform_batch)`` of ``draws``,
        concatenated (one row per draw).

        Models with ``encode_scale`` / ``decode_scale`` (the scVI family) encode
        each distinct cell once for all its draws and batches, then draw ``z`` and
        decode it once per draw: the same distribution as encoding every draw,
        for a fraction of the work when cells are drawn many times.
        """
        model = self.model
        extra_covariates = getattr(model, "covariate_attributes", None)
        if kwargs or extra_covariates or not hasattr(model, "encode_scale"):
            return np.concatenate(
                [self._scales_of_cells(cells, b, **kwargs) for cells, b in draws]
            )
        distinct, inverse = np.unique(
            np.concatenate([cells for cells, _ in draws]), return_inverse=True
        )
        batch_size = self._sampling_batch_size()
        encoder = self.update(
            {"batch_size": batch_size, "sampler": SequentialSubsetSampler(distinct)}
        )
        with eval_mode(model):
            encoded = [
                model.encode_scale(
                    tensors[0], tensors[4], **covariate_kwargs(model, tensors, True)
                )
                for tensors in encoder._ordered()
            ]
            qz_m, qz_v, labels = (torch.cat(parts) for parts in zip(*encoded))
            device = qz_m.device
            observed = torch.as_tensor(
                np.asarray(self.gene_dataset.batch_indices).reshape(-1, 1)
            )
            inverse = torch.as_tensor(inverse, device=device)
            out = np.empty((len(inverse), self.gene_dataset.nb_genes), np.float32)
            offset = 0
            for cells, batch in draws:
                for start in range(0, len(cells), batch_size):
                    stop = min(start + batch_size, len(cells))
                    rows = inverse[offset + start : offset + stop]
                    if batch is None:
                        batch_index = observed[cells[start:stop]].to(device)
                    else:
                        batch_index = torch.full(
                            (stop - start, 1), batch, dtype=torch.long, device=device
                        )
                    scale = model.decode_scale(
                        qz_m[rows], qz_v[rows], batch_index, labels[rows]
                    )
                    out[offset + start : offset + stop] = scale.cpu().numpy()
                offset += len(cells)
        return out

    def scale_sampler(
        self,
        selection: ArrayLike,
        n_samples: Optional[int] = 5000,
        n_samples_per_cell: Optional[int] = None,
        batchid: Optional[ArrayLike] = None,
        use_observed_batches: Optional[bool] = False,
        give_mean: Optional[bool] = False,
        **kwargs,
    ) -> dict:
        """Samples the posterior scale using the variational posterior distribution.

        For each batch to condition on, ``n_samples`` cells of ``selection`` are
        drawn with replacement (or every cell ``n_samples_per_cell`` times) and the
        scale of each is drawn once from the posterior.

        Parameters
        ----------
        selection
            Mask or list of cell ids (of the dataset) to select.
        n_samples
            Number of samples in total per batch (fill either ``n_samples`` or
            ``n_samples_per_cell``).
        n_samples_per_cell
            Number of times we sample from each observation per batch.
        batchid
            Batches to condition on. Default (None): every batch of the model.
        use_observed_batches
            Condition each cell on its own batch instead.
        give_mean
            Return the mean of the samples instead.
        **kwargs
            Other keyword arguments for :meth:`get_sample_scale`.

        Returns
        -------
        dict
            ``scale``: ``(n_samples_total, n_genes)`` samples (or their mean,
            ``(n_genes,)``, with ``give_mean``), where ``n_samples_total`` is
            ``n_batches * n_samples`` or ``n_batches * n_cells *
            n_samples_per_cell``; ``batch``: the batch each sample is conditioned
            on.
        """
        cells = as_index_array(selection, len(self.gene_dataset), name="selection")
        if cells.size == 0:
            raise ValueError("selection selects no cell")
        if n_samples is not None and n_samples_per_cell is not None:
            raise ValueError("give either n_samples or n_samples_per_cell, not both")
        if n_samples is None and n_samples_per_cell is None:
            n_samples = 5000
        count = n_samples if n_samples is not None else n_samples_per_cell
        if (
            isinstance(count, bool)
            or not isinstance(count, (int, np.integer))
            or count < 1
        ):
            raise ValueError(f"n_samples must be a positive integer, got {count!r}")
        if use_observed_batches:
            batches = [None]
        elif batchid is None:
            batches = list(range(getattr(self.model, "n_batch", 0))) or [None]
        else:
            batches = [int(b) for b in np.ravel(batchid)]
        observed = np.asarray(self.gene_dataset.batch_indices).ravel()
        draws = []
        for batch in batches:
            if n_samples is not None:
                drawn = cells[np.random.randint(len(cells), size=n_samples)]
            else:
                drawn = np.repeat(cells, n_samples_per_cell)
            draws.append((drawn, batch))
        scale = self._scales_of_draws(draws, **kwargs)
        batch_of_sample = [
            observed[drawn] if batch is None else np.full(len(drawn), batch)
            for drawn, batch in draws
        ]
        if give_mean:
            scale = scale.mean(0)
        return {"scale": scale, "batch": np.concatenate(batch_of_sample)}

    def get_bayes_factors(
        self,
        idx1: ArrayLike,
        idx2: ArrayLike,
        mode: Optional[str] = "vanilla",
        batchid1: Optional[ArrayLike] = None,
        batchid2: Optional[ArrayLike] = None,
        use_observed_batches: Optional[bool] = False,
        n_samples: int = 5000,
        use_permutation: bool = False,
        M_permutation: int = 10000,
        change_fn: Optional[Union[str, Callable]] = None,
        m1_domain_fn: Optional[Callable] = None,
        delta: Optional[float] = 0.5,
        cred_interval_lvls: Optional[Union[List[float], np.ndarray]] = None,
        **kwargs,
    ) -> dict:
        """A unified method for differential expression inference.

        See :meth:`differential_expression_score` for the modes, the batch
        configurations and the parameters.

        Returns
        -------
        dict
            Per-gene arrays: ``proba_m1``, ``proba_m2``, ``bayes_factor`` (vanilla)
            or ``proba_de``, ``proba_not_de``, ``bayes_factor`` and the ``lfc_*``
            summaries (change); ``scale1`` and ``scale2``.
        """
        if mode not in de.MODES:
            raise ValueError(f"mode must be one of {list(de.MODES)}, got {mode!r}")
        if not isinstance(M_permutation, (int, np.integer)) or M_permutation < 1:
            raise ValueError(
                f"M_permutation must be a positive integer, got {M_permutation!r}"
            )
        case = de.batch_case(batchid1, batchid2, use_observed_batches)
        samples = [
            self.scale_sampler(
                selection=idx,
                n_samples=n_samples,
                batchid=batchid,
                use_observed_batches=use_observed_batches,
                **kwargs,
            )
            for idx, batchid in ((idx1, batchid1), (idx2, batchid2))
        ]
        if case == "shared":
            groups1, groups2 = samples[0]["batch"], samples[1]["batch"]
        else:  # observed or disjoint batches: one group, pairs across batches
            groups1 = np.zeros(len(samples[0]["batch"]), dtype=int)
            groups2 = np.zeros(len(samples[1]["batch"]), dtype=int)
        if case == "observed" and not use_permutation:
            # observed batches: the pairs are drawn at random in any case
            use_permutation, M_permutation = True, max(len(groups1), len(groups2))
        pairs = de.pair_indices(groups1, groups2, use_permutation, M_permutation)
        return de.bayes_factors(
            samples[0]["scale"],
            samples[1]["scale"],
            pairs,
            mode=mode,
            change_fn=change_fn,
            m1_domain_fn=m1_domain_fn,
            delta=delta,
            cred_interval_lvls=cred_interval_lvls,
        )

    def differential_expression_score(
        self,
        idx1: ArrayLike,
        idx2: ArrayLike,
        mode: Optional[str] = "vanilla",
        batchid1: Optional[ArrayLike] = None,
        batchid2: Optional[ArrayLike] = None,
        use_observed_batches: Optional[bool] = False,
        n_samples: int = 5000,
        use_permutation: bool = False,
        M_permutation: int = 10000,
        all_stats: bool = True,
        change_fn: Optional[Union[str, Callable]] = None,
        m1_domain_fn: Optional[Callable] = None,
        delta: Optional[float] = 0.5,
        cred_interval_lvls: Optional[Union[List[float], np.ndarray]] = None,
        **kwargs,
    ) -> pd.DataFrame:
        r"""Unified method for differential expression inference.

        Two modes coexist:

        * ``"vanilla"`` (Lopez et al. 2018): hypotheses ``M1: h1 > h2`` and
          ``M2: h1 <= h2`` on the normalized means ``h`` of a gene; ``p(M1)`` is
          the fraction of posterior sample pairs where population 1 is higher and
          the Bayes factor is ``log p(M1 | x1, x2) - log p(M2 | x1, x2)``.
        * ``"change"`` (Boyeau et al. 2019): an effect size ``r = change_fn(h1,
          h2)`` (default: log2 fold change) and ``M1: r in R1``, with ``R1 = R \
          [-delta, delta]`` or the region where ``m1_domain_fn(r)`` is True;
          decisions rest on ``p(M1 | x1, x2)`` (``proba_de``).

        Sampling: for each population, ``n_samples`` cells are drawn (with
        replacement) per batch conditioned on and one posterior scale is drawn for
        each. Samples are compared pairwise (the ``k``-th of each population);
        ``use_permutation`` compares ``M_permutation`` random pairs instead.

        Batch configurations:

        1. ``use_observed_batches=True``: each cell is decoded in its own batch
           and pairs are drawn at random across batches.
        2. Both populations conditioned on the same batch ids (``set(batchid1) ==
           set(batchid2)``, or both None: every batch): pairs are formed within
           each batch.
        3. Disjoint batch ids: pairs across batches.

        Other cases are handled as 3 with a warning.

        Parameters
        ----------
        idx1, idx2
            Boolean masks (or positions) of the cells of population 1 and 2 in
            the dataset.
        mode
            One of ``"vanilla"``, ``"change"``.
        batchid1, batchid2
            Batch ids to condition each population on (default: all).
        use_observed_batches
            Whether normalized means are conditioned on observed batches.
        n_samples
            Number of posterior samples per population and batch.
        use_permutation
            Compare ``M_permutation`` random pairs of samples.
        M_permutation
            Number of random pairs (with ``use_permutation``).
        all_stats
            Add the raw count statistics: ``raw_mean1/2``,
            ``non_zeros_proportion1/2``, ``raw_normalized_mean1/2``.
        change_fn
            ``"log-fold"`` (default) or a function of two arrays giving the effect
            size.
        m1_domain_fn
            Indicator function of the effect sizes inducing differential
            expression.
        delta
            Threshold of the default region ``|r| >= delta``.
        cred_interval_lvls
            Levels of the credible intervals of the effect size (change mode).
        **kwargs
            Other keyword arguments for :meth:`get_sample_scale`.

        Returns
        -------
        pandas.DataFrame
            Indexed by gene name and sorted by decreasing ``bayes_factor``:
            ``proba_m1``, ``proba_m2``, ``bayes_factor`` (vanilla) or ``proba_de``,
            ``proba_not_de``, ``bayes_factor`` (change), then ``scale1``,
            ``scale2``, the ``lfc_*`` columns (change) and the raw statistics.
        """
        statistics = self.get_bayes_factors(
            idx1,
            idx2,
            mode=mode,
            batchid1=batchid1,
            batchid2=batchid2,
            use_observed_batches=use_observed_batches,
            n_samples=n_samples,
            use_permutation=use_permutation,
            M_permutation=M_permutation,
            change_fn=change_fn,
            m1_domain_fn=m1_domain_fn,
            delta=delta,
            cred_interval_lvls=cred_interval_lvls,
            **kwargs,
        )
        raw = None
        if all_stats:
            names = (
                "raw_mean1",
                "raw_mean2",
                "non_zeros_proportion1",
                "non_zeros_proportion2",
                "raw_normalized_mean1",
                "raw_normalized_mean2",
            )
            values = self._raw_counts_properties(idx1, idx2)
            raw = dict(zip(names, values))
        return de.de_dataframe(statistics, self._feature_names(), raw)

    def differential_expression_stats(self, M_sampling: int = 100) -> tuple:
        """Output average over statistics in a symmetric way (a against b).

        Deprecated: use :meth:`scale_sampler` or :meth:`differential_expression_score`.

        Parameters
        ----------
        M_sampling
            Number of posterior samples per cell.

        Returns
        -------
        tuple
            ``(px_scales, all_labels)``: scales of shape ``(n_cells * M_sampling,
            n_genes)`` (the samples of a cell are consecutive) and their labels,
            ``(n_cells * M_sampling,)``.
        """
        warnings.warn(
            "differential_expression_stats is deprecated; use scale_sampler or "
            "differential_expression_score",
            DeprecationWarning,
            stacklevel=2,
        )
        scales, labels = [], []
        with eval_mode(self.model):
            for tensors in self._ordered():
                x, _, _, batch_index, label = tensors[:5]
                scale = self.model.get_sample_scale(
                    x, batch_index=batch_index, y=label, n_samples=M_sampling
                )
                if M_sampling > 1:
                    scale = scale.transpose(0, 1)  # cells first
                scales.append(scale.reshape(-1, x.shape[1]).cpu().numpy())
                labels.append(
                    torch.repeat_interleave(label.ravel(), M_sampling).cpu().numpy()
                )
        return np.concatenate(scales), np.concatenate(labels)
