"""The base dataset of scvi: counts plus registered cell and gene attributes."""

import logging
import os
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Iterable, List, Optional, Union

import numpy as np
import scipy.sparse as sp_sparse
from torch.utils.data import Dataset

from ._anndata_export import dataset_to_anndata
from ._categories import remap_categories
from ._cell_types import CellTypeMixin
from ._checks import as_index, check_categorical, check_counts, check_length
from ._collate import CollateMixin
from ._derived import DerivedDataMixin
from ._download import download_file
from ._filters import FilterMixin
from ._matrix import (
    check_nonnegative_integers,
    compute_library_size,
    concatenate_arrays,
    library_size_stats,
    nonzero_fraction,
)
from ._poisson_zeros import poisson_gene_selection
from ._populate import PopulateMixin
from ._registry import CellMeasurement, OrderedSet
from ._seurat_v3 import seurat_v3_highly_variable_genes

logger = logging.getLogger(__name__)

__all__ = [
    "GeneExpressionDataset",
    "DownloadableDataset",
    "CellMeasurement",
    "remap_categories",
    # helpers scVI 0.6.8 code imports from this module
    "check_nonnegative_integers",
    "compute_library_size",
    "concatenate_arrays",
    "seurat_v3_highly_variable_genes",
    "poisson_gene_selection",
]

_LIBRARY_ATTRIBUTES = ("local_means", "local_vars")


class GeneExpressionDataset(
    PopulateMixin, FilterMixin, CellTypeMixin, DerivedDataMixin, CollateMixin, Dataset
):
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

    # --------------------------------------------------------------- registration
    def _protected_name(self, attribute_name: str, method: str) -> str:
        """Rename an attribute that would shadow the dataset's own members (its
        properties and methods, and the internal state it keeps, such as ``_X``)."""
        allowed = {"batch_indices", "labels"}
        registered = self.cell_attribute_names | self.gene_attribute_names
        for source, targets in self.attribute_mappings.items():
            registered = registered | {source, *targets}
        internal = attribute_name in vars(self) and attribute_name not in registered
        if (
            attribute_name == "X"
            or internal
            or (attribute_name not in allowed and hasattr(type(self), attribute_name))
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
        attribute_name = self._protected_name(
            attribute_name, "initialize_cell_attribute"
        )
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
        attribute_name = self._protected_name(
            attribute_name, "initialize_gene_attribute"
        )
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
                "measurement must be a CellMeasurement, "
                f"got {type(measurement).__name__}"
            )
        data = measurement.data
        data = (
            sp_sparse.csr_matrix(data) if sp_sparse.issparse(data) else np.asarray(data)
        )
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
            mappings = self.cell_measurements_col_mappings
            lines.append(f"  cell_measurements_col_mappings: {mappings}")
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
        lost = [n for n in self.cell_categorical_attribute_names if self._lost_codes(n)]
        if lost:
            self.remap_categorical_attributes(lost)
        logger.info("Computing the library size for the new data")
        self.compute_library_size_batch()
        logger.info("Downsampled from %i to %i cells", n_before, self.nb_cells)

    def _lost_codes(self, name: str) -> bool:
        """Whether a categorical attribute no longer uses every code of its range.

        The range is ``0..N-1`` with N the length of its mappings (or its largest
        code + 1 without mapping).
        """
        codes = np.unique(getattr(self, name))
        size = int(codes[-1]) + 1
        for mapping_name in self.attribute_mappings[name]:
            size = max(size, len(getattr(self, mapping_name)))
        return codes.size < size

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

    def to_anndata(self):
        """Convert to an :class:`anndata.AnnData` (sparse ``X`` stays sparse).

        ``obs`` holds the one-column cell attributes (and ``cell_types`` names),
        ``obsm`` the multi-column ones (cell measurements), ``var`` the gene
        attributes (indexed by gene names) and ``uns`` the mappings, the measurement
        column names and ``cell_measurements_col_mappings``.
        """
        if hasattr(self._X, "in_memory_error"):  # counts on disk (backed)
            raise self._X.in_memory_error()
        return dataset_to_anndata(self)


class DownloadableDataset(GeneExpressionDataset, ABC):
    """A dataset whose files are downloaded to ``save_path``, then read.

    Files already in ``save_path`` are used as they are. A download streams to a
    temporary file with a progress bar and is renamed only once complete.
    Subclasses implement :meth:`populate`, which reads the files and calls one of
    the ``populate_from_*`` methods.

    Parameters
    ----------
    urls
        One or several URLs, matched in order with ``filenames``; a file without a
        URL must already be in ``save_path``.
    filenames
        Names of the files in ``save_path``; by default taken from the URLs.
    save_path
        Folder where the files are kept.
    delayed_populating
        If True, the files are downloaded but :meth:`populate` is not called, so
        that the attributes can be filled later (e.g. for very large datasets).
    """

    def __init__(
        self,
        urls: Union[str, Iterable[str], None] = None,
        filenames: Union[str, Iterable[str], None] = None,
        save_path: str = "data",
        delayed_populating: bool = False,
    ):
        super().__init__()
        self.urls = [urls] if isinstance(urls, str) else list(urls or [])
        if filenames is None:
            filenames = [
                url.split("?")[0].rstrip("/").split("/")[-1] for url in self.urls
            ]
        self.filenames = [filenames] if isinstance(filenames, str) else list(filenames)
        if len(self.urls) > len(self.filenames):
            raise ValueError(
                f"{len(self.urls)} urls but only {len(self.filenames)} filenames"
            )
        self.save_path = save_path
        self.download()
        if not delayed_populating:
            self.populate()

    def download(self) -> None:
        """Download every file missing from ``save_path``.

        Raises
        ------
        FileNotFoundError
            If a file is missing and has no URL; the message says where to put it.
        OSError
            If a download fails; the message names the file, the URL and where to
            put the file by hand.
        """
        for i, filename in enumerate(self.filenames):
            path = os.path.join(self.save_path, filename)
            if os.path.exists(path):
                logger.info("File %s already downloaded", path)
                continue
            url = self.urls[i] if i < len(self.urls) else None
            if url is None:
                raise FileNotFoundError(
                    f"{path} not found and no URL is known for it; put the file "
                    f"{filename} in {os.path.abspath(self.save_path)}"
                )
            logger.info("Downloading file at %s", path)
            download_file(url, path)

    @abstractmethod
    def populate(self) -> None:
        """Populate the dataset's attributes from the downloaded files.

        E.g. by calling one of :class:`GeneExpressionDataset`'s ``populate_from_*``
        methods.
        """
