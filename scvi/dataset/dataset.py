"""The base dataset of scvi: counts plus registered cell and gene attributes."""
import logging
from collections import defaultdict
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse
import torch
from torch.utils.data import Dataset

from ._categories import remap_categories
from ._cell_types import CellTypeMixin
from ._checks import (
    as_index,
    check_categorical,
    check_counts,
    check_length,
)
from ._filters import FilterMixin
from ._matrix import library_size_stats, mean_normalize, nonzero_fraction
from ._merge import merge_datasets
from ._registry import CellMeasurement, OrderedSet

logger = logging.getLogger(__name__)

__all__ = ["GeneExpressionDataset", "CellMeasurement", "remap_categories"]

_LIBRARY_ATTRIBUTES = ("local_means", "local_vars")


class GeneExpressionDataset(FilterMixin, CellTypeMixin, Dataset):
    """Generic class representing RNA counts and annotation information.

    The counts ``X`` (cells x genes, dense or CSR) come with registered cell-wise
    attributes (``batch_indices``, ``labels``, ``local_means``, ``local_vars``, ...),
    gene-wise attributes (``gene_names``, ...), mappings of categorical attributes
    (``labels`` to ``cell_types``), paired cell measurements (e.g.
    ``protein_expression`` with ``protein_names``) and dataset versions (``norm_X``,
    ``corrupted_X``). Every filter goes through :meth:`update_cells` or
    :meth:`update_genes`, which keep all of them aligned.

    The constructor only creates an empty object; fill it with one of
    :meth:`populate_from_data`, :meth:`populate_from_per_batch_list`,
    :meth:`populate_from_per_label_list` or :meth:`populate_from_datasets`.

    Examples
    --------
    >>> dataset = GeneExpressionDataset()
    >>> dataset.populate_from_data(np.random.poisson(1.0, size=(50, 20)))
    >>> dataset.nb_cells, dataset.nb_genes
    (50, 20)
    """

    def __init__(self):
        self._reset()

    def _reset(self) -> None:
        self._X = None
        self._batch_indices = None
        self._labels = None
        self._norm_X = None
        self._corrupted_X = None
        self.n_batches = None
        self.n_labels = None
        self.dataset_versions = OrderedSet()
        self.gene_attribute_names = OrderedSet()
        self.cell_attribute_names = OrderedSet()
        self.cell_categorical_attribute_names = OrderedSet()
        self.attribute_mappings = defaultdict(list)
        self.cell_measurements_col_mappings = dict()

    # ------------------------------------------------------------------ populating
    def populate_from_data(
        self,
        X: Union[np.ndarray, sp_sparse.csr_matrix],
        Ys: Optional[List[CellMeasurement]] = None,
        batch_indices: Union[List[int], np.ndarray, sp_sparse.csr_matrix, None] = None,
        labels: Union[List[int], np.ndarray, sp_sparse.csr_matrix, None] = None,
        gene_names: Union[List[str], np.ndarray, None] = None,
        cell_types: Union[List[str], np.ndarray, None] = None,
        cell_attributes_dict: Optional[Dict[str, Union[List, np.ndarray]]] = None,
        gene_attributes_dict: Optional[Dict[str, Union[List, np.ndarray]]] = None,
        remap_attributes: bool = True,
    ) -> None:
        """Populate the dataset from a (nb_cells, nb_genes) matrix.

        Parameters
        ----------
        X
            RNA counts, dense or sparse (CSR; CSC and COO are converted). Sparse
            input stays sparse.
        Ys
            Paired measurements, e.g. CITE-seq protein counts or spatial coordinates.
        batch_indices
            Batch of each cell, shape (nb_cells,); all zeros by default.
        labels
            Label of each cell, shape (nb_cells,): integer codes into ``cell_types``,
            or names (then ``cell_types`` is built from them, or looked up in it).
            All zeros by default.
        gene_names
            Name of each gene, shape (nb_genes,); ``"0", "1", ...`` by default.
        cell_types
            Name of each label code. By default the distinct label values as text.
        cell_attributes_dict
            Further cell-wise attributes, each of length nb_cells.
        gene_attributes_dict
            Further gene-wise attributes, each of length nb_genes.
        remap_attributes
            If True, categorical attributes are remapped to ``0, ..., N - 1`` with
            :meth:`remap_categorical_attributes`.

        Raises
        ------
        ValueError
            For negative, NaN or infinite counts, or attributes whose length does
            not match ``X``.
        """
        X = check_counts(X, "X")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must have at least one cell and one gene, got {X.shape}")
        n_cells, n_genes = X.shape
        if batch_indices is None:
            batch_indices = np.zeros(n_cells, dtype=np.int64)
        batch_indices = check_categorical(batch_indices, "batch_indices")
        check_length(batch_indices, n_cells, "batch_indices")
        labels, cell_types = self._labels_and_cell_types(labels, cell_types, n_cells)
        if gene_names is None:
            gene_names = np.arange(n_genes).astype(str)
        cell_attributes = {"batch_indices": batch_indices, "labels": labels}
        cell_attributes.update(cell_attributes_dict or {})
        gene_attributes = {"gene_names": gene_names}
        gene_attributes.update(gene_attributes_dict or {})
        self._populate(
            X,
            cell_attributes=cell_attributes,
            categorical=["batch_indices", "labels"],
            gene_attributes=gene_attributes,
            mappings={"labels": {"cell_types": cell_types}},
            measurements=Ys or [],
            remap_attributes=remap_attributes,
        )

    @staticmethod
    def _labels_and_cell_types(labels, cell_types, n_cells):
        """Validate labels; accept names as labels; build default cell types."""
        if labels is None:
            labels = np.zeros(n_cells, dtype=np.int64)
        values = np.asarray(labels.todense() if sp_sparse.issparse(labels) else labels)
        values = values.reshape(-1)
        check_length(values, n_cells, "labels")
        if values.dtype.kind in "OUS":
            names = values.astype(str)
            if cell_types is None:
                cell_types, codes = np.unique(names, return_inverse=True)
            else:
                cell_types = np.asarray(cell_types).astype(str)
                lookup = {name: i for i, name in enumerate(cell_types)}
                unknown = sorted(set(np.unique(names)) - set(lookup))
                if unknown:
                    raise ValueError(f"labels has names not in cell_types: {unknown[:10]}")
                codes = np.array([lookup[name] for name in names], dtype=np.int64)
            return codes.astype(np.int64), cell_types
        codes = check_categorical(values, "labels")
        if cell_types is None:
            # each type is named after its original code; remapping keeps used ones
            cell_types = np.arange(codes.max() + 1).astype(str)
        return codes, np.asarray(cell_types)

    def _populate(
        self,
        X,
        cell_attributes: Dict[str, np.ndarray],
        categorical: List[str],
        gene_attributes: Dict[str, np.ndarray],
        mappings: Dict[str, Dict[str, np.ndarray]],
        measurements: List[CellMeasurement],
        remap_attributes: bool,
    ) -> None:
        """Set every attribute of a validated matrix; shared by all populate_*."""
        self._reset()
        self._X = X
        for name, values in cell_attributes.items():
            self.initialize_cell_attribute(name, values, categorical=name in categorical)
        for name, values in gene_attributes.items():
            self.initialize_gene_attribute(name, values)
        for source, source_mappings in mappings.items():
            for mapping_name, values in source_mappings.items():
                if values is not None:
                    self.initialize_mapped_attribute(source, mapping_name, values)
        for measurement in measurements:
            self.initialize_cell_measurement(measurement)
        if remap_attributes:
            self.remap_categorical_attributes()
        self.compute_library_size_batch()

    def populate_from_per_batch_list(
        self,
        Xs: List[Union[sp_sparse.csr_matrix, np.ndarray]],
        labels_per_batch: Union[np.ndarray, List[np.ndarray], None] = None,
        gene_names: Union[List[str], np.ndarray, None] = None,
        cell_types: Union[List[str], np.ndarray, None] = None,
        remap_attributes: bool = True,
    ) -> None:
        """Populate from a list of count matrices, one per batch.

        Parameters
        ----------
        Xs
            ``n_batches`` matrices of shape (cells_in_batch, nb_genes); batch ``i``
            gets the cells of ``Xs[i]``.
        labels_per_batch
            For each batch, the labels of its cells.
        gene_names
            Name of each gene.
        cell_types
            Name of each label code.
        remap_attributes
            See :meth:`populate_from_data`.
        """
        X, blocks = self._stack_blocks(Xs, "Xs")
        labels = self._concat_per_block(labels_per_batch, Xs, "labels_per_batch")
        self.populate_from_data(
            X,
            batch_indices=blocks,
            labels=labels,
            gene_names=gene_names,
            cell_types=cell_types,
            remap_attributes=remap_attributes,
        )

    def populate_from_per_label_list(
        self,
        Xs: List[Union[sp_sparse.csr_matrix, np.ndarray]],
        batch_indices_per_label: Optional[List[Union[List[int], np.ndarray]]] = None,
        gene_names: Union[List[str], np.ndarray, None] = None,
        remap_attributes: bool = True,
    ) -> None:
        """Populate from a list of count matrices, one per label.

        Parameters
        ----------
        Xs
            ``n_labels`` matrices of shape (cells_with_label, nb_genes); label ``i``
            is given to the cells of ``Xs[i]``.
        batch_indices_per_label
            For each label, the batch indices of its cells.
        gene_names
            Name of each gene.
        remap_attributes
            See :meth:`populate_from_data`.
        """
        X, blocks = self._stack_blocks(Xs, "Xs")
        batches = self._concat_per_block(
            batch_indices_per_label, Xs, "batch_indices_per_label"
        )
        self.populate_from_data(
            X,
            batch_indices=batches,
            labels=blocks,
            gene_names=gene_names,
            remap_attributes=remap_attributes,
        )

    @staticmethod
    def _stack_blocks(Xs, name: str) -> Tuple[object, np.ndarray]:
        """Stack matrices vertically; return the stack and each row's block index."""
        if not isinstance(Xs, (list, tuple)) or len(Xs) == 0:
            raise ValueError(f"{name} must be a non-empty list of count matrices")
        Xs = [check_counts(X, f"{name}[{i}]") for i, X in enumerate(Xs)]
        n_genes = Xs[0].shape[1]
        for i, X in enumerate(Xs):
            if X.shape[1] != n_genes:
                raise ValueError(
                    f"{name}[{i}] has {X.shape[1]} genes but {name}[0] has {n_genes}"
                )
        blocks = np.concatenate(
            [np.full(X.shape[0], i, dtype=np.int64) for i, X in enumerate(Xs)]
        )
        if any(sp_sparse.issparse(X) for X in Xs):
            return sp_sparse.vstack(Xs, format="csr"), blocks
        return np.concatenate(Xs), blocks

    @staticmethod
    def _concat_per_block(values, Xs, name: str) -> Optional[np.ndarray]:
        if values is None:
            return None
        if len(values) != len(Xs):
            raise ValueError(f"{name} has {len(values)} entries, one per matrix expected")
        parts = []
        for i, (part, X) in enumerate(zip(values, Xs)):
            part = np.asarray(part).reshape(-1)
            check_length(part, X.shape[0], f"{name}[{i}]")
            parts.append(part)
        return np.concatenate(parts)

    def populate_from_datasets(
        self,
        gene_datasets_list: List["GeneExpressionDataset"],
        shared_labels: bool = True,
        mapping_reference_for_sharing: Optional[Dict[str, Optional[str]]] = None,
        cell_measurement_intersection: Optional[Dict[str, bool]] = None,
    ) -> None:
        """Populate by merging datasets on the intersection of their gene names.

        Gene-wise attributes come from the first dataset. Cell-wise attributes
        present in every dataset are concatenated: an attribute shared through a
        mapping (``labels`` through ``cell_types`` when ``shared_labels``) is
        remapped onto the union of the mappings; another categorical attribute (such
        as ``batch_indices``) is offset by the number of categories before it. The
        datasets given are not modified.

        Parameters
        ----------
        gene_datasets_list
            Populated datasets to merge.
        shared_labels
            Whether labels are shared through the ``cell_types`` mapping (the same
            cell type name in two datasets gets one label) or kept apart.
        mapping_reference_for_sharing
            Attribute name -> mapping name (or None) describing how to share further
            categorical attributes; with None the codes are concatenated as they are.
        cell_measurement_intersection
            Measurement name -> True to keep the columns common to all datasets
            (default), False to take their union (filled with zeros where a dataset
            lacks a column; see :meth:`get_batch_mask_cell_measurement`).

        Raises
        ------
        ValueError
            If the list is empty, gene names of a dataset are not unique or the
            datasets share no gene.
        """
        merged = merge_datasets(
            gene_datasets_list,
            shared_labels=shared_labels,
            mapping_reference_for_sharing=mapping_reference_for_sharing,
            cell_measurement_intersection=cell_measurement_intersection,
        )
        self._populate(**merged, remap_attributes=True)

    # --------------------------------------------------------------- registration
    def _protected_name(self, attribute_name: str, method: str) -> str:
        """Rename an attribute that would shadow the dataset's own members."""
        allowed = {"batch_indices", "labels"}
        if attribute_name == "X" or (
            attribute_name not in allowed and hasattr(type(self), attribute_name)
        ):
            new_name = f"{attribute_name}_cell"
            logger.warning(
                "%s is a protected attribute and cannot be set with this name in %s, "
                "changing name to %s and setting",
                attribute_name,
                method,
                new_name,
            )
            return new_name
        return attribute_name

    def initialize_cell_attribute(
        self, attribute_name: str, attribute, categorical: bool = False
    ) -> None:
        """Set and register a cell-wise attribute, e.g. annotation information.

        Parameters
        ----------
        attribute_name
            Name of the attribute; a name that would shadow a member of the dataset
            (such as ``X``) gets a ``_cell`` suffix, with a warning.
        attribute
            Values, with nb_cells entries along the first axis.
        categorical
            Whether the attribute holds category codes (remapped and offset when
            datasets are merged).

        Raises
        ------
        ValueError
            If the length does not match the number of cells.
        """
        attribute_name = self._protected_name(attribute_name, "initialize_cell_attribute")
        if not sp_sparse.issparse(attribute):
            attribute = np.asarray(attribute)
        check_length(attribute, self.nb_cells, attribute_name)
        if categorical:
            attribute = check_categorical(attribute, attribute_name).reshape(-1, 1)
            self.cell_categorical_attribute_names.add(attribute_name)
        self.cell_attribute_names.add(attribute_name)
        self._set_cell_values(attribute_name, attribute)

    def _set_cell_values(self, name: str, values) -> None:
        """Write a cell attribute without side effects (no library recomputation)."""
        if name == "batch_indices":
            self._batch_indices = np.asarray(values, dtype=np.int64).reshape(-1, 1)
            self.n_batches = len(np.unique(self._batch_indices))
        elif name == "labels":
            self._labels = np.asarray(values, dtype=np.int64).reshape(-1, 1)
            self.n_labels = len(np.unique(self._labels))
        else:
            setattr(self, name, values)

    def initialize_gene_attribute(self, attribute_name: str, attribute) -> None:
        """Set and register a gene-wise attribute, e.g. gene names.

        Raises
        ------
        ValueError
            If the length does not match the number of genes.
        """
        attribute_name = self._protected_name(attribute_name, "initialize_gene_attribute")
        attribute = np.asarray(attribute)
        check_length(attribute, self.nb_genes, attribute_name, "genes")
        if attribute_name == "gene_names":
            attribute = attribute.astype(str)
        self.gene_attribute_names.add(attribute_name)
        setattr(self, attribute_name, attribute)

    def initialize_mapped_attribute(
        self, source_attribute_name: str, mapping_name: str, mapping_values
    ) -> None:
        """Set and register a mapping of a categorical attribute.

        Entry ``c`` of ``mapping_values`` names code ``c`` of the source attribute,
        e.g. ``cell_types`` for ``labels``.

        Raises
        ------
        ValueError
            If the source is not a registered categorical cell attribute or has codes
            beyond the mapping.
        """
        if source_attribute_name not in self.cell_categorical_attribute_names:
            raise ValueError(
                f"source_attribute_name {source_attribute_name!r} is not a registered "
                "categorical cell attribute"
            )
        mapping_values = np.asarray(mapping_values).reshape(-1)
        codes = getattr(self, source_attribute_name)
        if codes.size and codes.max() >= len(mapping_values):
            raise ValueError(
                f"{mapping_name} has {len(mapping_values)} entries but "
                f"{source_attribute_name} has codes up to {codes.max()}"
            )
        if mapping_name not in self.attribute_mappings[source_attribute_name]:
            self.attribute_mappings[source_attribute_name].append(mapping_name)
        setattr(self, mapping_name, mapping_values)

    def initialize_cell_measurement(self, measurement: CellMeasurement) -> None:
        """Set a paired cell measurement and register its data and column names.

        Raises
        ------
        ValueError
            If the data do not have one row per cell and one column per name.
        """
        if not isinstance(measurement, CellMeasurement):
            raise ValueError(
                f"measurement must be a CellMeasurement, got {type(measurement).__name__}"
            )
        data = measurement.data
        data = sp_sparse.csr_matrix(data) if sp_sparse.issparse(data) else np.asarray(data)
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        columns = np.asarray(measurement.columns).reshape(-1)
        if data.ndim != 2 or data.shape[1] != len(columns):
            raise ValueError(
                f"measurement {measurement.name!r} has data of shape {data.shape} but "
                f"{len(columns)} column names"
            )
        self.initialize_cell_attribute(measurement.name, data)
        setattr(self, measurement.columns_attr_name, columns)
        self.cell_measurements_col_mappings[measurement.name] = (
            measurement.columns_attr_name
        )

    def register_dataset_version(self, version_name: str) -> None:
        """Register a version of the data (e.g. ``norm_X``) that filters follow.

        The version must be a (nb_cells, nb_genes) attribute of the dataset.
        """
        version = getattr(self, version_name, None)
        if version is None or version.shape != self.X.shape:
            raise ValueError(
                f"version_name {version_name!r} must name an attribute with the shape "
                f"of X {self.X.shape}"
            )
        self.dataset_versions.add(version_name)

    def get_batch_mask_cell_measurement(self, attribute_name: str) -> List[np.ndarray]:
        """For each batch, a mask of the measurement columns measured in it.

        A column counts as measured in a batch when some cell of the batch has a
        non-zero value in it (columns missing from a dataset are zero-filled when
        measurements are merged with a union).

        Parameters
        ----------
        attribute_name
            A registered cell measurement, e.g. ``"protein_expression"``.

        Returns
        -------
        list of numpy.ndarray
            ``n_batches`` boolean arrays of length n_columns, in batch code order.
        """
        if attribute_name not in self.cell_measurements_col_mappings:
            raise ValueError(
                f"attribute_name {attribute_name!r} is not a cell measurement; known: "
                f"{list(self.cell_measurements_col_mappings)}"
            )
        data = getattr(self, attribute_name)
        batches = self.batch_indices.reshape(-1)
        masks = []
        for batch in range(int(batches.max()) + 1):
            rows = data[batches == batch]
            masks.append(nonzero_fraction(rows) > 0)
        return masks

    # ------------------------------------------------------------ core properties
    @property
    def X(self):
        """Counts, (nb_cells, nb_genes), :class:`numpy.ndarray` or CSR matrix."""
        return self._X

    @X.setter
    def X(self, X):
        X = check_counts(X, "X")
        if self._X is not None and X.shape != self._X.shape:
            raise ValueError(
                f"X must keep the shape {self._X.shape} of the registered attributes, "
                f"got {X.shape}; use update_cells/update_genes to subset"
            )
        self._X = X
        if self._batch_indices is not None:
            self.compute_library_size_batch()

    @property
    def nb_cells(self) -> int:
        """Number of cells."""
        return 0 if self._X is None else self._X.shape[0]

    @property
    def nb_genes(self) -> int:
        """Number of genes."""
        return 0 if self._X is None else self._X.shape[1]

    @property
    def batch_indices(self) -> np.ndarray:
        """Batch code of each cell, int64 of shape (nb_cells, 1)."""
        return self._batch_indices

    @batch_indices.setter
    def batch_indices(self, batch_indices):
        batch_indices = check_categorical(batch_indices, "batch_indices")
        check_length(batch_indices, self.nb_cells, "batch_indices")
        self._set_cell_values("batch_indices", batch_indices)
        if "local_means" in self.cell_attribute_names:
            self.compute_library_size_batch()

    @property
    def labels(self) -> np.ndarray:
        """Label code of each cell, int64 of shape (nb_cells, 1)."""
        return self._labels

    @labels.setter
    def labels(self, labels):
        labels = check_categorical(labels, "labels")
        check_length(labels, self.nb_cells, "labels")
        self._set_cell_values("labels", labels)

    @property
    def norm_X(self):
        """Normalized counts set by :meth:`normalize` (None before)."""
        return self._norm_X

    @norm_X.setter
    def norm_X(self, norm_X):
        self._norm_X = norm_X

    @property
    def corrupted_X(self):
        """Corrupted counts set by :meth:`corrupt` (None before)."""
        return self._corrupted_X

    @corrupted_X.setter
    def corrupted_X(self, corrupted_X):
        self._corrupted_X = corrupted_X

    def __len__(self) -> int:
        return self.nb_cells

    def __getitem__(self, idx):
        # the collate function gathers whole mini-batches from the indices
        return idx

    def __repr__(self) -> str:
        if self._X is None:
            return "GeneExpressionDataset object (not populated)"
        lines = [
            "GeneExpressionDataset object with n_cells x nb_genes = "
            f"{self.nb_cells} x {self.nb_genes}"
        ]
        for registry in (
            "gene_attribute_names",
            "cell_attribute_names",
            "cell_categorical_attribute_names",
        ):
            names = getattr(self, registry)
            if len(names):
                lines.append(f"  {registry}: " + ", ".join(repr(n) for n in names))
        if self.cell_measurements_col_mappings:
            lines.append(
                f"  cell_measurements_col_mappings: {self.cell_measurements_col_mappings}"
            )
        return "\n".join(lines)

    # -------------------------------------------------------------------- updates
    def update_cells(self, subset_cells) -> None:
        """Keep a subset of the cells, in place, with every cell attribute and version.

        Categorical attributes that lose a category are remapped to ``0..N-1``
        (with their mappings), and library size statistics are recomputed.

        Parameters
        ----------
        subset_cells
            Integer positions (any shape; their order is kept) or a boolean mask.

        Raises
        ------
        ValueError
            If no cell would be left.
        """
        subset = as_index(subset_cells, self.nb_cells, "subset_cells")
        if subset.size == 0:
            raise ValueError("subset_cells selects no cell: the dataset would be empty")
        n_before = self.nb_cells
        self._X = self._X[subset]
        for name in self.dataset_versions:
            setattr(self, name, getattr(self, name)[subset])
        for name in self.cell_attribute_names:
            if name not in _LIBRARY_ATTRIBUTES:
                self._set_cell_values(name, getattr(self, name)[subset])
        lost = [
            name
            for name in self.cell_categorical_attribute_names
            if len(np.unique(getattr(self, name))) <= np.max(getattr(self, name))
        ]
        if lost:
            self.remap_categorical_attributes(lost)
        logger.info("Computing the library size for the new data")
        self.compute_library_size_batch()
        logger.info("Downsampled from %i to %i cells", n_before, self.nb_cells)

    def update_genes(self, subset_genes) -> None:
        """Keep a subset of the genes, in place, with every gene attribute and version.

        Cells left without any count are then removed (see
        :meth:`filter_cells_by_count`), and library sizes are recomputed.

        Parameters
        ----------
        subset_genes
            Integer positions (any shape; their order is kept, so this also reorders
            genes) or a boolean mask.

        Raises
        ------
        ValueError
            If no gene, or no expressing cell, would be left.
        """
        subset = as_index(subset_genes, self.nb_genes, "subset_genes")
        if subset.size == 0:
            raise ValueError("subset_genes selects no gene: the dataset would be empty")
        n_before = self.nb_genes
        self._X = self._X[:, subset]
        for name in self.dataset_versions:
            setattr(self, name, getattr(self, name)[:, subset])
        for name in self.gene_attribute_names:
            setattr(self, name, getattr(self, name)[subset])
        logger.info("Downsampling from %i to %i genes", n_before, self.nb_genes)
        expressing = np.asarray(self._X.sum(axis=1)).reshape(-1) > 0
        if not expressing.all():
            if not expressing.any():
                raise ValueError(
                    "subset_genes leaves no cell with a non-zero count: the dataset "
                    "would be empty"
                )
            logger.info("Filtering non-expressing cells.")
            self.update_cells(expressing)
        else:
            logger.info("Computing the library size for the new data")
            self.compute_library_size_batch()

    def remap_categorical_attributes(
        self, attributes_to_remap: Optional[List[str]] = None
    ) -> None:
        """Remap categorical attributes to ``0, ..., N - 1``, with their mappings.

        Mapping entries of categories without cells are dropped.

        Parameters
        ----------
        attributes_to_remap
            Names of registered categorical attributes; all of them by default.
        """
        if attributes_to_remap is None:
            attributes_to_remap = list(self.cell_categorical_attribute_names)
        for name in attributes_to_remap:
            if name not in self.cell_categorical_attribute_names:
                raise ValueError(f"{name!r} is not a registered categorical attribute")
            logger.info("Remapping %s to [0,N]", name)
            mappings = {m: getattr(self, m) for m in self.attribute_mappings[name]}
            codes, _, mappings = remap_categories(
                getattr(self, name), mappings_dict=mappings
            )
            self._set_cell_values(name, codes)
            for mapping_name, values in mappings.items():
                setattr(self, mapping_name, values)

    def compute_library_size_batch(self) -> None:
        """Compute ``local_means`` and ``local_vars`` of each cell's batch.

        They are the mean and variance of the log library size over the cells of the
        batch, stored as float32 arrays of shape (nb_cells, 1).
        """
        local_means, local_vars = library_size_stats(self._X, self._batch_indices)
        self.initialize_cell_attribute("local_means", local_means)
        self.initialize_cell_attribute("local_vars", local_vars)

    # ------------------------------------------------------------------- versions
    def normalize(self) -> None:
        """Store in ``norm_X`` the counts of each cell divided by its mean count.

        Rows of ``norm_X`` average to 1 (empty cells stay zero); it is registered as
        a dataset version, so filters keep it aligned.
        """
        self.norm_X = mean_normalize(self.X)
        self.register_dataset_version("norm_X")

    def corrupt(self, rate: float = 0.1, corruption: str = "uniform") -> None:
        """Store in ``corrupted_X`` a copy of ``X`` with some entries perturbed.

        Each entry is picked with probability about ``rate`` (exactly
        ``floor(rate * n_nonzero)`` of the non-zero entries are drawn; zeros stay zero
        under both methods) and perturbed:

        - ``"uniform"`` multiplies the count by a Bernoulli(0.9) variable;
        - ``"binomial"`` replaces the count with a Binomial(count, 0.2) draw.

        Uses NumPy's global random state (see :func:`scvi.set_seed`).

        Parameters
        ----------
        rate
            Fraction of entries to corrupt, in [0, 1].
        corruption
            ``"uniform"`` or ``"binomial"``.
        """
        if corruption not in ("uniform", "binomial"):
            raise ValueError(
                f"corruption must be 'uniform' or 'binomial', got {corruption!r}"
            )
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        corrupted = self.X.copy()
        values = corrupted.data if sp_sparse.issparse(corrupted) else corrupted.reshape(-1)
        nonzero = np.flatnonzero(values)
        picked = np.random.choice(nonzero, int(np.floor(rate * nonzero.size)), False)
        if corruption == "uniform":
            values[picked] = values[picked] * np.random.binomial(1, 0.9, picked.size)
        else:
            values[picked] = np.random.binomial(values[picked].astype(np.int64), 0.2)
        if sp_sparse.issparse(corrupted):
            corrupted.eliminate_zeros()
        self.corrupted_X = corrupted
        self.register_dataset_version("corrupted_X")

    def raw_counts_properties(
        self, idx1, idx2
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-gene statistics of the raw counts of two sub-populations.

        Parameters
        ----------
        idx1, idx2
            Cell positions or boolean masks of the two populations.

        Returns
        -------
        mean1, mean2, nonz1, nonz2, norm_mean1, norm_mean2
            Arrays of shape (nb_genes,): mean count, fraction of cells with a
            non-zero count, and mean of the normalized counts (each cell divided by
            its mean count, as in :meth:`normalize`) in each population.
        """
        results = []
        for name, idx in (("idx1", idx1), ("idx2", idx2)):
            rows = as_index(idx, self.nb_cells, name)
            if rows.size == 0:
                raise ValueError(f"{name} selects no cell")
            X = self.X[rows]
            norm = self.norm_X[rows] if self.norm_X is not None else mean_normalize(X)
            results.append(
                (
                    np.asarray(X.mean(axis=0)).reshape(-1),
                    nonzero_fraction(X),
                    np.asarray(norm.mean(axis=0)).reshape(-1),
                )
            )
        (m1, z1, n1), (m2, z2, n2) = results
        return m1, m2, z1, z2, n1, n2

    # ----------------------------------------------------------------- batching
    def collate_fn_builder(
        self,
        add_attributes_and_types: Optional[Dict[str, type]] = None,
        override: bool = False,
        corrupted: bool = False,
    ) -> Callable[[Union[List[int], np.ndarray]], Tuple[torch.Tensor, ...]]:
        """Build a collate function giving tensors of the requested attributes.

        By default the tensors are ``X`` (float32), ``local_means``, ``local_vars``
        (float32), ``batch_indices`` and ``labels`` (int64).

        Parameters
        ----------
        add_attributes_and_types
            Further attribute names and their NumPy dtypes.
        override
            If True, only ``add_attributes_and_types`` are returned.
        corrupted
            If True, ``corrupted_X`` takes the place of ``X``.
        """
        if override:
            attributes_and_types = dict(add_attributes_and_types or {})
        else:
            attributes_and_types = {
                "corrupted_X" if corrupted else "X": np.float32,
                "local_means": np.float32,
                "local_vars": np.float32,
                "batch_indices": np.int64,
                "labels": np.int64,
            }
            attributes_and_types.update(add_attributes_and_types or {})
        for name in attributes_and_types:
            if getattr(self, name, None) is None:
                hint = " (call corrupt() first)" if name == "corrupted_X" else ""
                raise ValueError(f"the dataset has no attribute {name!r}{hint}")
        return partial(self.collate_fn_base, attributes_and_types)

    def collate_fn_base(
        self, attributes_and_types: Dict[str, type], batch: Union[List[int], np.ndarray]
    ) -> Tuple[torch.Tensor, ...]:
        """Gather the rows ``batch`` of each attribute into tensors.

        Parameters
        ----------
        attributes_and_types
            Attribute name -> NumPy dtype of its tensor.
        batch
            Cell positions of the mini-batch.
        """
        indices = np.asarray(batch, dtype=np.int64).reshape(-1)
        tensors = []
        for name, dtype in attributes_and_types.items():
            values = getattr(self, name)[indices]
            if sp_sparse.issparse(values):
                values = values.toarray()
            tensors.append(torch.from_numpy(np.asarray(values).astype(dtype, copy=False)))
        return tuple(tensors)

    # ---------------------------------------------------------------- conversion
    def to_anndata(self):
        """Convert to an :class:`anndata.AnnData` (sparse ``X`` stays sparse).

        ``obs`` holds the one-column cell attributes (and ``cell_types`` names),
        ``obsm`` the multi-column ones (cell measurements), ``var`` the gene
        attributes (indexed by gene names) and ``uns`` the mappings, the measurement
        column names and ``cell_measurements_col_mappings``.
        """
        import anndata

        obs, obsm = {}, {}
        for name in self.cell_attribute_names:
            values = getattr(self, name)
            if sp_sparse.issparse(values) or (values.ndim > 1 and values.shape[1] > 1):
                obsm[name] = values
            else:
                obs[name] = np.asarray(values).reshape(-1)
        cell_types = getattr(self, "cell_types", None)
        if cell_types is not None and "labels" in self.cell_attribute_names:
            names = cell_types.astype(str)
            codes = self.labels.reshape(-1)
            if len(np.unique(names)) == len(names):
                obs["cell_types"] = pd.Categorical.from_codes(codes, categories=names)
            else:
                obs["cell_types"] = names[codes]
        obs = pd.DataFrame(obs)
        obs.index = obs.index.astype(str)
        var = pd.DataFrame(
            {name: getattr(self, name) for name in self.gene_attribute_names}
        )
        var.index = pd.Index(self.gene_names.astype(str), name=None)
        uns = {"cell_measurements_col_mappings": dict(self.cell_measurements_col_mappings)}
        for mappings in self.attribute_mappings.values():
            for mapping_name in mappings:
                uns[mapping_name] = np.asarray(getattr(self, mapping_name))
        for columns_attr in self.cell_measurements_col_mappings.values():
            uns[columns_attr] = np.asarray(getattr(self, columns_attr))
        return anndata.AnnData(X=self.X, obs=obs, var=var, obsm=obsm, uns=uns)
