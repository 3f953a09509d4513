"""Populating methods of GeneExpressionDataset: from data, lists and datasets."""

from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp_sparse

from ._checks import check_categorical, check_counts, check_length
from ._merge import merge_datasets
from ._registry import CellMeasurement


class PopulateMixin:
    """The ``populate_from_*`` methods of
    :class:`~scvi.dataset.GeneExpressionDataset`."""

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
            raise ValueError(
                f"X must have at least one cell and one gene, got {X.shape}"
            )
        n_cells, n_genes = X.shape
        if batch_indices is None:
            batch_indices = np.zeros(n_cells, dtype=np.int64)
        batch_indices = check_categorical(batch_indices, "batch_indices")
        check_length(batch_indices, n_cells, "batch_indices")
        labels, cell_types = self._labels_and_cell_types(labels, cell_types, n_cells)
        if gene_names is None:
            gene_names = np.arange(n_genes).astype(str)
        cell_attributes = {"labels": labels, "batch_indices": batch_indices}
        cell_attributes.update(cell_attributes_dict or {})
        gene_attributes = {"gene_names": gene_names}
        gene_attributes.update(gene_attributes_dict or {})
        self._populate(
            X,
            cell_attributes=cell_attributes,
            categorical=["labels", "batch_indices"],
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
                    raise ValueError(
                        f"labels has names not in cell_types: {unknown[:10]}"
                    )
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
        """Set every attribute of a validated matrix; shared by all populate_*.

        If an attribute is rejected, the dataset is left as it was before.
        """
        before = self.__dict__.copy()
        try:
            self._fill(
                X, cell_attributes, categorical, gene_attributes, mappings, measurements
            )
            if remap_attributes:
                self.remap_categorical_attributes()
            self.compute_library_size_batch()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fill(
        self, X, cell_attributes, categorical, gene_attributes, mappings, measurements
    ) -> None:
        self._reset()
        self._X = X
        for name, values in cell_attributes.items():
            self.initialize_cell_attribute(
                name, values, categorical=name in categorical
            )
        for name, values in gene_attributes.items():
            self.initialize_gene_attribute(name, values)
        for source, source_mappings in mappings.items():
            for mapping_name, values in source_mappings.items():
                if values is not None:
                    self.initialize_mapped_attribute(source, mapping_name, values)
        for measurement in measurements:
            self.initialize_cell_measurement(measurement)

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

    def populate_from_per_batch_array(
        self,
        X: np.ndarray,
        labels_per_batch: Optional[np.ndarray] = None,
        gene_names: Union[List[str], np.ndarray, None] = None,
        cell_types: Union[List[str], np.ndarray, None] = None,
        remap_attributes: bool = True,
    ) -> None:
        """Populate from a (n_batches, nb_cells, nb_genes) array of counts.

        Parameters
        ----------
        X
            Counts of each batch; batch ``i`` gets the cells of ``X[i]``.
        labels_per_batch
            Labels, (n_batches, nb_cells).
        gene_names, cell_types, remap_attributes
            See :meth:`populate_from_data`.
        """
        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(
                "X must be a (n_batches, nb_cells, nb_genes) array, got shape "
                f"{X.shape}"
            )
        self.populate_from_per_batch_list(
            list(X),
            labels_per_batch=(
                None if labels_per_batch is None else list(labels_per_batch)
            ),
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
            raise ValueError(
                f"{name} has {len(values)} entries, one per matrix expected"
            )
        parts = []
        for i, (part, X) in enumerate(zip(values, Xs)):
            part = np.asarray(part).reshape(-1)
            check_length(part, X.shape[0], f"{name}[{i}]")
            parts.append(part)
        return np.concatenate(parts)

    def populate_from_datasets(
        self,
        gene_datasets_list: List,
        shared_labels: bool = True,
        mapping_reference_for_sharing: Optional[Dict[str, Optional[str]]] = None,
        cell_measurement_intersection: Optional[Dict[str, bool]] = None,
    ) -> None:
        """Populate by merging datasets on the intersection of their gene names.

        Gene-wise attributes come from the first dataset. Cell-wise attributes
        present in every dataset are concatenated: an attribute shared through a
        mapping (``labels`` through ``cell_types`` when ``shared_labels``) is
        remapped onto the union of the mappings (in order of first appearance,
        dataset by dataset); another categorical attribute (such as
        ``batch_indices``) is offset by the number of categories before it, its
        mappings concatenated. As in scVI 0.6.8, the merged mappings (e.g.
        ``cell_types``) are lists and the columns of merged cell measurements (e.g.
        ``protein_names``) are sorted. The datasets given are not modified.

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
        # scVI 0.6.8 leaves each merged mapping (e.g. cell_types) as a list
        for mappings in merged["mappings"].values():
            for mapping_name in mappings:
                setattr(self, mapping_name, list(getattr(self, mapping_name)))
