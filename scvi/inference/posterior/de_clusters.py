"""Differential expression over clusters: one cluster against the others, or two
states within each cluster (a Posterior's ``one_vs_all_degenes`` and
``within_cluster_degenes``)."""

from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from tqdm.auto import tqdm

from ..._settings import progress_bar_enabled
from .. import differential_expression as de
from .batching import as_index_array
from .de import ArrayLike, DifferentialExpressionMixin


class ClusterDifferentialExpressionMixin(DifferentialExpressionMixin):
    """Differential expression over the clusters of the dataset's cells, each
    comparison made by :meth:`differential_expression_score` (with a progress bar
    over the clusters)."""

    def _cluster_labels(self, cell_labels):
        """Labels of the cells and the name of each label."""
        if cell_labels is not None:
            labels = np.asarray(cell_labels).ravel()
            n_cells = len(self.gene_dataset)
            if len(labels) != n_cells:
                raise ValueError(
                    f"cell_labels must have one entry per cell ({n_cells}), got "
                    f"{len(labels)}"
                )
            return labels, {c: _plain(c) for c in np.unique(labels)}
        labels = np.asarray(self.gene_dataset.labels).ravel()
        names = getattr(self.gene_dataset, "cell_types", None)
        if names is None:
            return labels, {c: _plain(c) for c in np.unique(labels)}
        return labels, {c: _plain(names[c]) for c in np.unique(labels)}

    def _de_over_clusters(self, comparisons, output_file, save_dir, filename, kwargs):
        """Run the per-cluster comparisons with a progress bar; write if asked."""
        show = progress_bar_enabled(kwargs.pop("show_progbar", True))
        results, clusters = [], []
        for name, idx1, idx2, extra in tqdm(comparisons, disable=not show, desc="DE"):
            frame = self.differential_expression_score(idx1, idx2, **extra, **kwargs)
            frame["clusters"] = name
            results.append(frame)
            clusters.append(name)
        if output_file:
            de.write_de_results(results, clusters, save_dir, filename)
        return results, clusters

    @staticmethod
    def _alias(kwargs, old: str, new: str, value):
        """Accept an alternative spelling of an argument passed in kwargs."""
        if old in kwargs:
            if value is not None:
                raise ValueError(f"give {new} or {old}, not both")
            return kwargs.pop(old)
        return value

    def one_vs_all_degenes(
        self,
        subset: Optional[ArrayLike] = None,
        cell_labels: Optional[ArrayLike] = None,
        use_observed_batches: bool = False,
        min_cells: int = 10,
        n_samples: int = 5000,
        use_permutation: bool = False,
        M_permutation: int = 10000,
        output_file: bool = False,
        mode: Optional[str] = "vanilla",
        change_fn: Optional[Union[str, Callable]] = None,
        ml_domain_fn: Optional[Callable] = None,
        delta: Optional[float] = 0.5,
        cred_interval_lvls: Optional[Union[List[float], np.ndarray]] = None,
        save_dir: str = ".",
        filename: str = "one2all",
        **kwargs,
    ) -> tuple:
        """Performs one population vs all others Differential Expression Analysis.

        It takes labels or cell types to characterize the different populations.

        Parameters
        ----------
        subset
            None or a boolean mask of the cells to consider (of the length of the
            dataset).
        cell_labels
            Labels of the cells (default: the dataset's labels).
        use_observed_batches, n_samples, use_permutation, M_permutation
            See :meth:`differential_expression_score`.
        mode, change_fn, delta, cred_interval_lvls
            See :meth:`differential_expression_score`.
        min_cells
            Clusters with fewer cells (in ``subset``) are skipped.
        output_file
            Write the results (xlsx with a sheet per cluster when openpyxl is
            installed, else csv) to ``save_dir/filename``.
        ml_domain_fn
            ``m1_domain_fn`` of :meth:`differential_expression_score` (the
            spelling ``m1_domain_fn`` is accepted too).
        save_dir, filename
            Where to write.
        **kwargs
            Other keyword arguments for :meth:`get_sample_scale`;
            ``show_progbar=False`` hides the progress bar over clusters.

        Returns
        -------
        tuple
            ``(de_res, de_cluster)``: ``de_res[i]`` is the DataFrame of cluster
            ``de_cluster[i]`` against all other cells (with a ``clusters``
            column); only clusters with at least ``min_cells`` cells appear.
        """
        ml_domain_fn = self._alias(kwargs, "m1_domain_fn", "ml_domain_fn", ml_domain_fn)
        labels, names = self._cluster_labels(cell_labels)
        keep = np.ones(len(labels), bool) if subset is None else _mask(subset, labels)
        settings = dict(
            use_observed_batches=use_observed_batches,
            n_samples=n_samples,
            use_permutation=use_permutation,
            M_permutation=M_permutation,
            mode=mode,
            change_fn=change_fn,
            m1_domain_fn=ml_domain_fn,
            delta=delta,
            cred_interval_lvls=cred_interval_lvls,
        )
        comparisons = []
        for label, name in names.items():
            idx1 = keep & (labels == label)
            idx2 = keep & (labels != label)
            if idx1.sum() >= min_cells and idx2.sum() > 0:
                comparisons.append((name, idx1, idx2, settings))
        return self._de_over_clusters(
            comparisons, output_file, save_dir, filename, kwargs
        )

    def within_cluster_degenes(
        self,
        states: ArrayLike,
        cell_labels: Optional[ArrayLike] = None,
        min_cells: int = 10,
        batch1: Optional[ArrayLike] = None,
        batch2: Optional[ArrayLike] = None,
        use_observed_batches: bool = False,
        subset: Optional[ArrayLike] = None,
        n_samples: int = 5000,
        use_permutation: bool = False,
        M_permutation: int = 10000,
        mode: Optional[str] = "vanilla",
        change_fn: Optional[Union[str, Callable]] = None,
        ml_domain_fn: Optional[Callable] = None,
        delta: Optional[float] = 0.5,
        cred_interval_lvls: Optional[Union[List[float], np.ndarray]] = None,
        output_file: bool = False,
        save_dir: str = ".",
        file_name: str = "within_cluster",
        **kwargs,
    ) -> tuple:
        """Performs Differential Expression within clusters for different states.

        In each cluster, the cells where ``states`` is True are compared with the
        others.

        Parameters
        ----------
        states
            Boolean state of each cell of the dataset.
        cell_labels
            Labels of the cells (default: the dataset's labels).
        min_cells
            Clusters where either state has fewer cells are skipped.
        batch1, batch2
            Batch ids to condition the two states on (``batchid1/2`` of
            :meth:`differential_expression_score`).
        subset
            Boolean mask of the cells to consider.
        use_observed_batches, n_samples, use_permutation, M_permutation
            See :meth:`differential_expression_score`.
        mode, change_fn, delta, cred_interval_lvls
            See :meth:`differential_expression_score`.
        ml_domain_fn
            ``m1_domain_fn`` of :meth:`differential_expression_score` (the
            spelling ``m1_domain_fn`` is accepted too).
        output_file, save_dir, file_name
            Write the results to ``save_dir/file_name`` (``filename`` is accepted
            too).
        **kwargs
            Other keyword arguments for :meth:`get_sample_scale`;
            ``show_progbar=False`` hides the progress bar over clusters.

        Returns
        -------
        tuple
            ``(de_res, de_cluster)`` as :meth:`one_vs_all_degenes`.
        """
        ml_domain_fn = self._alias(kwargs, "m1_domain_fn", "ml_domain_fn", ml_domain_fn)
        if "filename" in kwargs:
            file_name = kwargs.pop("filename")
        labels, names = self._cluster_labels(cell_labels)
        states = _mask(states, labels, name="states")
        keep = np.ones(len(labels), bool) if subset is None else _mask(subset, labels)
        settings = dict(
            batchid1=batch1,
            batchid2=batch2,
            use_observed_batches=use_observed_batches,
            n_samples=n_samples,
            use_permutation=use_permutation,
            M_permutation=M_permutation,
            mode=mode,
            change_fn=change_fn,
            m1_domain_fn=ml_domain_fn,
            delta=delta,
            cred_interval_lvls=cred_interval_lvls,
        )
        comparisons = []
        for label, name in names.items():
            in_cluster = keep & (labels == label)
            idx1, idx2 = in_cluster & states, in_cluster & ~states
            if idx1.sum() >= min_cells and idx2.sum() >= min_cells:
                comparisons.append((name, idx1, idx2, settings))
        return self._de_over_clusters(
            comparisons, output_file, save_dir, file_name, kwargs
        )


def _mask(values: Sequence, labels: np.ndarray, name: str = "subset") -> np.ndarray:
    """A boolean mask over the dataset's cells from a mask or positions."""
    positions = as_index_array(values, len(labels), name=name)
    mask = np.zeros(len(labels), bool)
    mask[positions] = True
    return mask


def _plain(value):
    """A NumPy scalar as the Python value (cluster names read better)."""
    return value.item() if isinstance(value, np.generic) else value
