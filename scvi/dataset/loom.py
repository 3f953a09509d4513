"""Datasets read from ``.loom`` files, and the built-in loom datasets.

A loom file is HDF5: ``/matrix`` holds the counts as genes x cells, ``/row_attrs``
one dataset per gene attribute, ``/col_attrs`` one per cell attribute, and global
attributes are stored as HDF5 attributes of the file (or in ``/attrs``). Files are
read with :mod:`h5py`.
"""

import logging
from typing import Dict, List, Optional

import h5py
import numpy as np

from ._matrix import row_sums
from ._single_file import SingleFileMixin
from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

__all__ = [
    "LoomDataset",
    "RetinaDataset",
    "FrontalCortexDropseqDataset",
    "PreFrontalCortexStarmapDataset",
]

_DEFAULT_NAMES = {
    "batch_indices_attribute_name": "BatchID",
    "labels_attribute_name": "ClusterID",
    "gene_names_attribute_name": "Gene",
    "cell_types_attribute_name": "CellTypes",
}
_BLOCK_ENTRIES = 1 << 24  # entries of /matrix read at once


def _decode(values) -> np.ndarray:
    """Turn bytes (fixed or variable length) into str; leave other values as is."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    if values.dtype == object:
        return np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else v for v in values.flat]
        ).reshape(values.shape)
    return values


def _flat(values: np.ndarray) -> np.ndarray:
    """(n, 1) attributes become (n,); others are kept."""
    if values.ndim == 2 and values.shape[1] == 1:
        return values.reshape(-1)
    return values


def _read_attributes(file: h5py.File, group: str, length: int, path: str) -> dict:
    attributes = {}
    if group not in file:
        return attributes
    for name, dataset in file[group].items():
        if not isinstance(dataset, h5py.Dataset):
            continue
        values = _flat(_decode(dataset[()]))
        if values.ndim == 0 or values.shape[0] != length:
            raise ValueError(
                f"{path}: {group}/{name} has shape {values.shape}, {length} entries "
                "expected"
            )
        attributes[name] = values
    return attributes


def read_loom(path: str, with_matrix: bool = True) -> dict:
    """Read a ``.loom`` file.

    Parameters
    ----------
    path
        The file.
    with_matrix
        If False, the counts are not read (``X`` is None).

    Returns
    -------
    dict
        ``X``: counts as float32 (n_cells, n_genes); ``row_attrs`` and
        ``col_attrs``: name -> array (bytes decoded, (n, 1) flattened);
        ``global_attrs``: name -> value.

    Raises
    ------
    ValueError
        If the file is not HDF5 or has no ``/matrix``; the message names the file.
    """
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(
            f"could not read {path} as a .loom (HDF5) file: {error}"
        ) from None
    with file:
        matrix = file.get("matrix")
        if not isinstance(matrix, h5py.Dataset) or matrix.ndim != 2:
            raise ValueError(f"{path} has no 2-D /matrix dataset: not a .loom file")
        n_genes, n_cells = matrix.shape
        X = None
        if with_matrix:
            X = np.empty((n_cells, n_genes), dtype=np.float32)
            step = max(1, _BLOCK_ENTRIES // max(n_cells, 1))
            for start in range(0, n_genes, step):
                X[:, start : start + step] = matrix[start : start + step].T
        global_attrs = {name: _decode(value) for name, value in file.attrs.items()}
        if isinstance(file.get("attrs"), h5py.Group):
            for name, dataset in file["attrs"].items():
                if isinstance(dataset, h5py.Dataset):
                    global_attrs[name] = _decode(dataset[()])
        return dict(
            X=X,
            row_attrs=_read_attributes(file, "row_attrs", n_genes, path),
            col_attrs=_read_attributes(file, "col_attrs", n_cells, path),
            global_attrs=global_attrs,
        )


class LoomDataset(SingleFileMixin, DownloadableDataset):
    """Loads a potentially remote ``.loom`` file.

    Counts are stored as a dense float32 matrix (cells x genes). Batches, labels,
    gene names and cell types are read from the attributes named below; the other
    column attributes become cell attributes (a column attribute ``X`` is stored as
    ``X_cell``) and the other row attributes gene attributes. Cells without any
    count are removed, with a warning.

    An attribute left at its default name may be absent (batches and labels are
    then all zeros, gene names ``"0", "1", ...``, cell types built from the
    labels); an attribute given another name must be in the file, and None skips
    it.

    Parameters
    ----------
    filename
        File name to use when saving/loading the data.
    save_path
        Location to use when saving/loading the data.
    url
        URL pointing to the data which will be downloaded if it's not already in
        ``save_path``.
    batch_indices_attribute_name
        Name of the column attribute containing batch indices.
    labels_attribute_name
        Name of the column attribute containing labels.
    code_labels_name_into_int
        Whether the labels are cell type names, to be turned into integer codes:
        the position of each name in the cell types (or, without cell types, in
        the sorted distinct names). Labels found to be names are coded this way
        in any case.
    gene_names_attribute_name
        Name of the row attribute containing gene names.
    cell_types_attribute_name
        Name of the global attribute containing the cell types (name of each label
        code).
    delayed_populating
        Switch for delayed populating mechanism.
    encode_labels_name_into_int
        scVI 0.6.8's name of ``code_labels_name_into_int`` (keyword only).

    Raises
    ------
    ValueError
        If the file is not a loom file, an attribute given by name is missing
        (the available ones are listed), or labels do not match the cell types.

    Examples
    --------
    >>> # Loading a remote dataset
    >>> url = "http://linnarssonlab.org/osmFISH/osmFISH_SScortex_mouse_all_cells.loom"
    >>> remote_loom_dataset = LoomDataset(
    ...     "osmFISH_SScortex_mouse_all_cell.loom", save_path="data/", url=url
    ... )
    >>> # Loading a local dataset
    >>> local_loom_dataset = LoomDataset(
    ...     "osmFISH_SScortex_mouse_all_cell.loom", save_path="data/"
    ... )
    """

    #: cell types used when the file has none (set by built-in datasets)
    default_cell_types: Optional[List[str]] = None

    def __init__(
        self,
        filename: str,
        save_path: str = "data",
        url: Optional[str] = None,
        batch_indices_attribute_name: str = "BatchID",
        labels_attribute_name: str = "ClusterID",
        code_labels_name_into_int: bool = False,
        gene_names_attribute_name: str = "Gene",
        cell_types_attribute_name: str = "CellTypes",
        delayed_populating: bool = False,
        *,
        encode_labels_name_into_int: Optional[bool] = None,
    ):
        if encode_labels_name_into_int is not None:
            if code_labels_name_into_int and not encode_labels_name_into_int:
                raise ValueError(
                    "code_labels_name_into_int and encode_labels_name_into_int (its "
                    "scVI 0.6.8 name) disagree; give one of them"
                )
            code_labels_name_into_int = encode_labels_name_into_int
        self.batch_indices_attribute_name = batch_indices_attribute_name
        self.labels_attribute_name = labels_attribute_name
        self.code_labels_name_into_int = code_labels_name_into_int
        self.gene_names_attribute_name = gene_names_attribute_name
        self.cell_types_attribute_name = cell_types_attribute_name
        super().__init__(filename, save_path, url, delayed_populating)

    def _take(self, attributes: dict, parameter: str, where: str, path: str):
        """Pop the attribute named by ``parameter`` (see the class docstring)."""
        name = getattr(self, parameter)
        if name is None:
            return None
        if name in attributes:
            return attributes.pop(name)
        if name == _DEFAULT_NAMES[parameter]:
            logger.info("%s has no %s %r", path, where, name)
            return None
        raise ValueError(
            f"{path} has no {where} {name!r} ({parameter}); available: "
            f"{sorted(attributes)}"
        )

    def _read(self, path: str) -> dict:
        loom = self._read_loom(path)
        X, col_attrs, row_attrs = loom["X"], loom["col_attrs"], loom["row_attrs"]
        gene_names = self._take(
            row_attrs, "gene_names_attribute_name", "row attribute", path
        )
        batch_indices = self._take(
            col_attrs, "batch_indices_attribute_name", "column attribute", path
        )
        labels = self._take(
            col_attrs, "labels_attribute_name", "column attribute", path
        )
        global_attrs = dict(loom["global_attrs"])
        cell_types = self._take(
            global_attrs, "cell_types_attribute_name", "global attribute", path
        )
        if cell_types is None and self.default_cell_types is not None:
            cell_types = np.asarray(self.default_cell_types)
        if cell_types is not None:
            cell_types = np.asarray(cell_types).reshape(-1).astype(str)
        if batch_indices is not None and batch_indices.dtype.kind not in "biuf":
            _, batch_indices = np.unique(batch_indices.astype(str), return_inverse=True)
        if labels is not None:
            labels, cell_types = self._code_labels(labels, cell_types, path)
        col_attrs = self._cell_attributes(col_attrs, path)

        expressing = self._kept_cells(X)
        if not expressing.all():
            logger.warning("Removing non-expressing cells")
            X = X[expressing]
            if batch_indices is not None:
                batch_indices = batch_indices[expressing]
            if labels is not None:
                labels = labels[expressing]
            col_attrs = {k: v[expressing] for k, v in col_attrs.items()}
        return dict(
            X=X,
            batch_indices=batch_indices,
            labels=labels,
            gene_names=gene_names,
            cell_types=cell_types,
            cell_attributes_dict=col_attrs,
            gene_attributes_dict=row_attrs,
        )

    def _read_loom(self, path: str) -> dict:
        """The file's counts and attributes, as :func:`read_loom` (hook for
        :class:`~scvi.dataset.BackedLoomDataset`)."""
        return read_loom(path)

    def _kept_cells(self, X) -> np.ndarray:
        """Boolean mask of the cells kept: those with at least one count (hook
        for subclasses that keep columns of their own in step)."""
        return row_sums(X) > 0

    def _code_labels(self, labels: np.ndarray, cell_types, path: str):
        """Labels as integer codes, and the cell types that name them."""
        name = self.labels_attribute_name
        if labels.dtype.kind in "biuf":
            codes = np.asarray(labels)
            if codes.size and not np.array_equal(codes, np.round(codes)):
                raise ValueError(f"{path}: labels {name!r} must be integer codes")
            codes = codes.astype(np.int64)
            if cell_types is not None and codes.size and codes.max() >= len(cell_types):
                raise ValueError(
                    f"{path}: labels {name!r} go up to {codes.max()} but there are "
                    f"only {len(cell_types)} cell types"
                )
            return codes, cell_types
        names = labels.astype(str)
        if cell_types is None:
            cell_types, codes = np.unique(names, return_inverse=True)
            return codes.astype(np.int64), cell_types
        lookup = {cell_type: i for i, cell_type in enumerate(cell_types)}
        unknown = sorted(set(np.unique(names)) - set(lookup))
        if unknown:
            raise ValueError(
                f"{path}: labels {name!r} has names not in the cell types "
                f"{self.cell_types_attribute_name!r}: {unknown[:10]}"
            )
        return np.array([lookup[n] for n in names], dtype=np.int64), cell_types

    def _cell_attributes(self, col_attrs: Dict[str, np.ndarray], path: str) -> dict:
        """The remaining column attributes as cell attributes (hook for subclasses)."""
        return col_attrs


_SCVI_DATA = "https://github.com/YosefLab/scVI-data/raw/master/"


class RetinaDataset(LoomDataset):
    """Loads retina dataset.

    The dataset of bipolar cells (Shekhar et al., Cell 2016) contains after their
    original pipeline for filtering 27,499 cells and 13,166 genes coming from two
    batches. We use the cluster annotation from 15 cell-types from the author.
    Label code ``k`` is the publication's cluster ``k + 1``: ``RBC``, ``MG``,
    ``BC5A``, ``BC7``, ``BC6``, ``BC5C``, ``BC1A``, ``BC3B``, ``BC1B``, ``BC2``,
    ``BC5D``, ``BC3A``, ``BC5B``, ``BC4``, ``BC8_9``.

    Parameters
    ----------
    save_path
        Location to use when saving/loading the data (``retina.loom``).
    delayed_populating
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> gene_dataset = RetinaDataset()
    """

    default_cell_types = (
        "RBC MG BC5A BC7 BC6 BC5C BC1A BC3B BC1B BC2 BC5D BC3A BC5B BC4 BC8_9"
    ).split()

    def __init__(self, save_path: str = "data", delayed_populating: bool = False):
        super().__init__(
            "retina.loom",
            save_path=save_path,
            url=_SCVI_DATA + "retina.loom",
            delayed_populating=delayed_populating,
        )


class FrontalCortexDropseqDataset(LoomDataset):
    """Load the cells from the mouse frontal cortex sequenced by the Dropseq
    technology (Saunders et al., 2018).

    Load the 71639 annotated cells located in the frontal cortex of adult mice
    among the 690,000 cells studied by (Saunders et al., 2018) using the Drop-seq
    method. We have a 71639*7611 gene expression matrix. Among the 7611 genes, we
    offer the user to provide a list of genes to subsample from. If not provided,
    all genes are kept. Labels come from the ``Clusters`` attribute, named by the
    file's ``CellTypes``.

    Parameters
    ----------
    save_path
        Location to use when saving/loading the data (``fc-dropseq.loom``).
    genes_to_keep
        Names of the genes to keep, in this order; names not in the file are
        skipped with a warning.
    delayed_populating
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> dataset = FrontalCortexDropseqDataset(genes_to_keep=["Gad1", "Slc17a7"])
    """

    def __init__(
        self,
        save_path: str = "data",
        genes_to_keep: Optional[List[str]] = None,
        delayed_populating: bool = False,
    ):
        self.genes_to_keep = genes_to_keep
        super().__init__(
            "fc-dropseq.loom",
            save_path=save_path,
            url=_SCVI_DATA + "fc-dropseq.loom",
            labels_attribute_name="Clusters",
            delayed_populating=delayed_populating,
        )

    def populate(self) -> None:
        """Read the loom file, then keep ``genes_to_keep`` if given."""
        super().populate()
        if self.genes_to_keep is None:
            return
        wanted = np.asarray(self.genes_to_keep).reshape(-1).astype(str)
        present = np.isin(wanted, self.gene_names)
        if not present.any():
            raise ValueError("none of genes_to_keep is in the dataset")
        if not present.all():
            logger.warning(
                "%i of genes_to_keep are not in the dataset and are skipped: %s",
                int((~present).sum()),
                wanted[~present][:10].tolist(),
            )
        self.reorder_genes(wanted[present], drop_omitted_genes=True)


class PreFrontalCortexStarmapDataset(LoomDataset):
    """Loads a starMAP dataset of 3,704 cells and 166 genes from the mouse
    pre-frontal cortex (Wang et al., 2018).

    Cells come in 3 batches, with cell type labels (the ``Clusters`` names, coded
    by their position in the file's ``CellTypes``) and spatial coordinates, stored
    as the cell attributes ``x_coord`` and ``y_coord``.

    Parameters
    ----------
    save_path
        Location to use when saving/loading the data (``mpfc-starmap.loom``).
    delayed_populating
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> dataset = PreFrontalCortexStarmapDataset()
    >>> dataset.x_coord.shape == (dataset.nb_cells,)
    True
    """

    def __init__(self, save_path: str = "data", delayed_populating: bool = False):
        super().__init__(
            "mpfc-starmap.loom",
            save_path=save_path,
            url=_SCVI_DATA + "mpfc-starmap.loom",
            labels_attribute_name="Clusters",
            code_labels_name_into_int=True,
            delayed_populating=delayed_populating,
        )

    def _cell_attributes(self, col_attrs: Dict[str, np.ndarray], path: str) -> dict:
        coordinates = col_attrs.pop("Spatial_coordinates", None)
        if coordinates is None or coordinates.ndim != 2 or coordinates.shape[1] < 2:
            raise ValueError(
                f"{path} has no (n_cells, 2) column attribute 'Spatial_coordinates'"
            )
        col_attrs["x_coord"] = coordinates[:, 0]
        col_attrs["y_coord"] = coordinates[:, 1]
        return col_attrs
