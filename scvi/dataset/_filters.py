"""Cell and gene filtering, subsampling and gene lookups of GeneExpressionDataset."""

import logging
from typing import Optional, Union

import numpy as np
import pandas as pd

from ._checks import UnknownNameError, as_index
from ._hvg import FLAVORS, dataset_highly_variable_genes
from ._matrix import col_sums, column_variances, row_sums
from ._ranking import legacy_argsort

logger = logging.getLogger("scvi.dataset.dataset")

_MODES = ("variance",) + FLAVORS


class FilterMixin:
    """Filters of :class:`~scvi.dataset.GeneExpressionDataset`.

    Every method ends in ``update_cells`` or ``update_genes``, so all registered
    attributes follow.
    """

    def filter_cells_by_count(self, min_count: int = 1) -> None:
        """Keep the cells with at least ``min_count`` counts in total."""
        self.update_cells(row_sums(self.X) >= min_count)

    def filter_genes_by_count(
        self, min_count: int = 1, per_batch: bool = False
    ) -> None:
        """Keep the genes with at least ``min_count`` counts in total.

        Parameters
        ----------
        min_count
            Minimum total count of a gene.
        per_batch
            If True, a gene must reach ``min_count`` in every batch separately.
        """
        if per_batch:
            batches = self.batch_indices.reshape(-1)
            keep = np.ones(self.nb_genes, dtype=bool)
            for batch in np.unique(batches):
                keep &= col_sums(self.X[batches == batch]) >= min_count
        else:
            keep = col_sums(self.X) >= min_count
        self.update_genes(keep)

    def filter_genes_by_attribute(self, values_to_keep, on: str = "gene_names") -> None:
        """Keep the genes whose attribute ``on`` takes one of ``values_to_keep``."""
        if on not in self.gene_attribute_names:
            raise ValueError(
                f"on={on!r} is not a gene attribute; "
                f"known: {list(self.gene_attribute_names)}"
            )
        self.update_genes(np.isin(getattr(self, on), np.asarray(values_to_keep)))

    def filter_cells_by_attribute(self, values_to_keep, on: str = "labels") -> None:
        """Keep the cells whose attribute ``on`` takes one of ``values_to_keep``."""
        if on not in self.cell_attribute_names:
            raise ValueError(
                f"on={on!r} is not a cell attribute; "
                f"known: {list(self.cell_attribute_names)}"
            )
        values = np.asarray(getattr(self, on))
        if values.ndim > 1 and values.shape[1] != 1:
            raise ValueError(f"on={on!r} must be a one-column cell attribute")
        self.update_cells(np.isin(values.reshape(-1), np.asarray(values_to_keep)))

    def subsample_cells(self, size: Union[int, float] = 1.0) -> None:
        """Keep the cells with the most counts, largest library size first.

        As in scVI 0.6.8, the kept cells are ordered by decreasing total count (all
        of them when ``size`` keeps every cell); cells with the same total come in
        the reverse of the order of numpy's (< 1.25) default argsort.

        Parameters
        ----------
        size
            A float in (0, 1] keeps ``int(size * nb_cells)`` cells, an int keeps
            ``size`` cells (every cell if larger than their number).

        Raises
        ------
        ValueError
            If ``size`` is not an int or a float in (0, 1], or keeps no cell.
        """
        if isinstance(size, (bool, np.bool_)) or not isinstance(
            size, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"size must be an int or a float in (0, 1], got {size!r}")
        if isinstance(size, (float, np.floating)):
            if not 0 < size <= 1:
                raise ValueError(f"size must be in (0, 1] when a float, got {size}")
            n_keep = int(size * self.nb_cells)
        else:
            n_keep = int(size)
        if n_keep < 1:
            raise ValueError(f"size={size} keeps no cell")
        self.update_cells(legacy_argsort(row_sums(self.X))[::-1][:n_keep])

    def highly_variable_genes(
        self,
        n_top_genes: Optional[int] = None,
        flavor: Optional[str] = "seurat_v3",
        batch_correction: Optional[bool] = True,
        **highly_var_genes_kwargs,
    ) -> pd.DataFrame:
        """Find the highly variable genes, as scVI 0.6.8's ``_highly_variable_genes``.

        Flavors: ``"seurat_v2"`` (Satija et al. 2015) and ``"cell_ranger"`` (Zheng
        et al. 2017) on counts scaled to 1e4 per cell and log1p-transformed;
        ``"seurat_v3"`` (Stuart et al. 2019, on raw counts); ``"poisson_zeros"``
        (enrichment of zeros over a Poisson model, after Andrews & Hemberg 2019;
        random: seed torch for reproducible values). The dataset is not changed.

        Parameters
        ----------
        n_top_genes
            Number of genes to select; required for ``"seurat_v3"`` and
            ``"poisson_zeros"``. Without it, ``"seurat_v2"`` and ``"cell_ranger"``
            select the genes passing their mean and dispersion cutoffs.
        flavor
            ``"seurat_v2"``, ``"cell_ranger"``, ``"seurat_v3"`` or
            ``"poisson_zeros"``.
        batch_correction
            If True and the dataset has several batches, genes are ranked within
            every batch and the batches combined.
        **highly_var_genes_kwargs
            ``min_mean``, ``max_mean``, ``min_disp``, ``max_disp`` (cutoffs) and
            ``n_bins`` (bins of mean expression) of the dispersion flavors,
            ``span`` (loess) of ``"seurat_v3"``, ``n_samples``, ``use_cuda``,
            ``silent`` and ``minibatch_size`` of ``"poisson_zeros"``.

        Returns
        -------
        pandas.DataFrame
            One row per gene, indexed by the gene position as a string, with the
            boolean column ``highly_variable`` and the statistics of the flavor:
            ``means``, ``dispersions``, ``dispersions_norm`` (dispersion flavors);
            ``highly_variable_median_rank``, ``highly_variable_median_variance``
            (``"seurat_v3"``); ``observed_fraction_zeros``,
            ``expected_fraction_zeros``, ``prob_zero_enriched_nbatches``,
            ``prob_zero_enrichment``, ``prob_zero_enrichment_rank``
            (``"poisson_zeros"``). With batch correction over several batches,
            ``highly_variable_nbatches`` (batches where the gene is highly variable)
            and ``highly_variable_intersection`` (all of them) come too.

        Raises
        ------
        ValueError
            If ``flavor`` is unknown, or ``n_top_genes`` missing where required or
            not a positive int.
        TypeError
            If a keyword argument is none of the options above.
        """
        return dataset_highly_variable_genes(
            self.X,
            self.batch_indices,
            n_top_genes=n_top_genes,
            flavor=flavor,
            batch_correction=batch_correction,
            **highly_var_genes_kwargs,
        )

    def _highly_variable_genes(
        self,
        n_top_genes: Optional[int] = None,
        flavor: Optional[str] = "seurat_v3",
        batch_correction: Optional[bool] = True,
        **highly_var_genes_kwargs,
    ) -> pd.DataFrame:
        """scVI 0.6.8's name of :meth:`highly_variable_genes` (same behaviour)."""
        return self.highly_variable_genes(
            n_top_genes=n_top_genes,
            flavor=flavor,
            batch_correction=batch_correction,
            **highly_var_genes_kwargs,
        )

    def subsample_genes(
        self,
        new_n_genes: Optional[int] = None,
        new_ratio_genes: Optional[float] = None,
        subset_genes=None,
        mode: Optional[str] = "seurat_v3",
        batch_correction: Optional[bool] = True,
        **highly_var_genes_kwargs,
    ) -> None:
        """Keep a subset of the genes: given ones, or the most variable ones.

        Either keeps ``subset_genes``, in their order, or selects ``new_n_genes``
        (or a proportion ``new_ratio_genes``) of the genes with the gene selection
        ``mode``. Without any of the three, ``seurat_v2`` and ``cell_ranger`` select
        the genes passing their dispersion and mean cutoffs. Genes selected by
        ``"variance"`` come by decreasing variance (as in scVI 0.6.8), the other
        modes keep the genes in their order. Asking for at least as many genes as
        there are leaves the dataset unchanged.

        Parameters
        ----------
        new_n_genes
            Number of genes to keep.
        new_ratio_genes
            Proportion of genes to keep, in (0, 1].
        subset_genes
            Positions, boolean mask or names of the genes to keep.
        mode
            ``"variance"`` (largest variance of the counts, batches ignored), or a
            flavor of :meth:`highly_variable_genes`: ``"seurat_v2"``,
            ``"cell_ranger"``, ``"seurat_v3"`` or ``"poisson_zeros"`` (the last two
            need ``new_n_genes`` or ``new_ratio_genes``).
        batch_correction
            If True and the dataset has several batches, genes are selected within
            every batch and the selections combined.
        **highly_var_genes_kwargs
            Options of :meth:`highly_variable_genes` (cutoffs, ``n_bins``,
            ``span``, ``n_samples``, ...).

        Raises
        ------
        ValueError
            If more than one of ``new_n_genes``, ``new_ratio_genes`` and
            ``subset_genes`` is given, ``mode`` is unknown, or the number of genes
            is missing or not positive.
        """
        given = [a is not None for a in (new_n_genes, new_ratio_genes, subset_genes)]
        if sum(given) > 1:
            raise ValueError(
                "give only one of new_n_genes, new_ratio_genes and subset_genes"
            )
        if subset_genes is not None:
            self.update_genes(self._gene_positions(subset_genes, "subset_genes"))
            return
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        n_genes = new_n_genes
        if new_ratio_genes is not None:
            if not 0 < new_ratio_genes <= 1:
                raise ValueError(
                    f"new_ratio_genes must be in (0, 1], got {new_ratio_genes}"
                )
            n_genes = int(new_ratio_genes * self.nb_genes)
        if n_genes is None and mode in ("variance", "seurat_v3", "poisson_zeros"):
            raise ValueError(f"mode={mode!r} needs new_n_genes or new_ratio_genes")
        if n_genes is not None:
            if n_genes < 1:
                raise ValueError(f"new_n_genes must be at least 1, got {n_genes}")
            if n_genes >= self.nb_genes:
                logger.info(
                    "Not subsampling: %i genes asked for, %i present",
                    n_genes,
                    self.nb_genes,
                )
                return
        if mode == "variance":
            variances = column_variances(self.X)
            self.update_genes(legacy_argsort(variances)[::-1][:n_genes])
            return
        logger.info("extracting highly variable genes")
        selection = self.highly_variable_genes(
            n_top_genes=n_genes,
            flavor=mode,
            batch_correction=batch_correction,
            **highly_var_genes_kwargs,
        )
        self.update_genes(selection["highly_variable"].to_numpy())

    def _gene_positions(self, genes, name: str) -> np.ndarray:
        genes = np.asarray(genes)
        if genes.dtype == bool:
            return as_index(genes, self.nb_genes, name)
        return as_index(self.genes_to_index(genes), self.nb_genes, name)

    def genes_to_index(self, genes, on: Optional[str] = None) -> np.ndarray:
        """Positions of genes given by their ``on`` attribute (``gene_names``).

        Integers are returned as they are.

        Raises
        ------
        ValueError
            If a gene is unknown or its name is not unique in the dataset.
        """
        genes = np.asarray(genes).reshape(-1)
        if genes.size == 0 or np.issubdtype(genes.dtype, np.integer):
            return genes.astype(np.int64)
        on = on or "gene_names"
        if on not in self.gene_attribute_names:
            raise ValueError(f"on={on!r} is not a gene attribute")
        reference = np.asarray(getattr(self, on)).astype(str)
        positions = {}
        duplicated = set()
        for i, name in enumerate(reference):
            if name in positions:
                duplicated.add(name)
            positions[name] = i
        asked = genes.astype(str)
        missing = [str(g) for g in asked if g not in positions]
        if missing:
            raise UnknownNameError(f"genes not found in {on}: {missing[:10]}")
        ambiguous = sorted(duplicated.intersection(asked))
        if ambiguous:
            raise ValueError(f"genes appear more than once in {on}: {ambiguous[:10]}")
        return np.array([positions[g] for g in asked], dtype=np.int64)

    def reorder_genes(self, first_genes, drop_omitted_genes: bool = False) -> None:
        """Put ``first_genes`` first, in their order; other genes follow or go.

        Parameters
        ----------
        first_genes
            Gene names (or positions) to put first.
        drop_omitted_genes
            If True, genes not in ``first_genes`` are removed.
        """
        first = self.genes_to_index(first_genes)
        if len(np.unique(first)) != len(first):
            raise ValueError("first_genes names a gene more than once")
        order = first
        if not drop_omitted_genes:
            rest = np.setdiff1d(np.arange(self.nb_genes), first, assume_unique=True)
            order = np.concatenate([first, rest])
        self.update_genes(order)

    def make_gene_names_lower(self) -> None:
        """Turn the gene names to lower case."""
        logger.info("Making gene names lower case")
        self.gene_names = np.char.lower(self.gene_names.astype(str))
