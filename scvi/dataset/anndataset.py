"""Datasets built from :class:`anndata.AnnData` objects and ``.h5ad`` files.

They read back exactly what :meth:`GeneExpressionDataset.to_anndata` writes: counts,
gene names, labels with their cell types, batches, other cell and gene attributes
and cell measurements (with their column names), so that a round trip through
AnnData (in memory or through a ``.h5ad`` file) gives the same dataset.
"""

import logging
from typing import Dict, Optional, Tuple

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse

from ._checks import check_categorical
from ._single_file import SingleFileMixin
from .dataset import CellMeasurement, DownloadableDataset, GeneExpressionDataset

logger = logging.getLogger(__name__)

# cell attributes set by populate_from_data itself, never copied from obs
_RESERVED_CELL_ATTRIBUTES = {
    "batch_indices",
    "labels",
    "local_means",
    "local_vars",
    "cell_types",
}


def _as_names(values) -> np.ndarray:
    """A flat str array from names stored as str, bytes or objects."""
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    if values.dtype == object:
        return np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values],
            dtype=str,
        )
    return values.astype(str)


def _column_values(column: pd.Series) -> np.ndarray:
    """The values of an obs/var column as numpy; all-str columns become str arrays."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        values = np.asarray(column.astype(object))
    else:
        values = column.to_numpy()
    if values.dtype == object and all(isinstance(v, str) for v in values):
        values = values.astype(str)
    return values


def _codes(column: pd.Series, where: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Category codes of an obs column, and the category names when it has them.

    Categorical columns give their codes and categories (a missing value becomes
    an extra category ``"nan"``); columns of strings give the codes of their sorted
    distinct values; numeric columns are integer codes already (no names).
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        names = _as_names(column.cat.categories.to_numpy())
        missing = codes < 0
        if missing.any():
            logger.warning(
                "%s has %i missing values, given the category 'nan'",
                where,
                int(missing.sum()),
            )
            codes[missing] = len(names)
            names = np.append(names, "nan")
        return codes, names
    values = column.to_numpy()
    if values.dtype.kind in "biuf":
        try:
            return check_categorical(values, where), None
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    names, codes = np.unique(_as_names(values), return_inverse=True)
    return codes.astype(np.int64), names


def _as_matrix(X, where: str):
    """A copy of ``X`` as an ndarray or a CSR matrix (CSC and others converted)."""
    if X is None:
        raise ValueError(f"{where} is None: the AnnData holds no counts")
    if sp_sparse.issparse(X):
        return sp_sparse.csr_matrix(X, copy=True)
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    return np.array(X)


def _labels_and_cell_types(obs: pd.DataFrame, uns, ctype_label: str, class_label):
    """Labels (codes) and cell types from obs (and uns), see AnnDatasetFromAnnData."""
    uns_types = uns.get(ctype_label) if ctype_label is not None else None
    if isinstance(uns_types, (list, tuple, np.ndarray, pd.Index)):
        uns_types = _as_names(uns_types)
    else:
        uns_types = None
    has_types = ctype_label is not None and ctype_label in obs.columns
    has_labels = class_label is not None and class_label in obs.columns
    if has_labels and uns_types is not None:
        column = obs[class_label]
        if column.dtype.kind in "iu":
            codes = check_categorical(column.to_numpy(), f"obs[{class_label!r}]")
            fits = codes.size == 0 or codes.max() < len(uns_types)
            if fits and (
                not has_types
                or np.array_equal(
                    _as_names(_column_values(obs[ctype_label])), uns_types[codes]
                )
            ):
                # as written by to_anndata: codes and names exactly as they were
                return codes, uns_types
    if has_types:
        codes, names = _codes(obs[ctype_label], f"obs[{ctype_label!r}]")
        if names is None:
            names, codes = np.unique(codes, return_inverse=True)
            names = names.astype(str)
        return codes.astype(np.int64), names
    if has_labels:
        codes, names = _codes(obs[class_label], f"obs[{class_label!r}]")
        if names is None and uns_types is not None:
            if codes.size == 0 or codes.max() < len(uns_types):
                names = uns_types
        return codes, names
    return None, None


def _measurements(ad: anndata.AnnData, mappings: Dict[str, str]):
    """CellMeasurements for ``{obsm key: columns attribute name}``."""
    measurements = []
    for name, columns_attr in mappings.items():
        if name not in ad.obsm:
            raise ValueError(
                f"cell measurement {name!r} is not in obsm; obsm has "
                f"{list(ad.obsm.keys())}"
            )
        data = ad.obsm[name]
        columns = ad.uns.get(columns_attr)
        if isinstance(data, pd.DataFrame):
            if columns is None:
                columns = data.columns.to_numpy()
            data = data.to_numpy()
        if columns is None:
            raise ValueError(
                f"column names {columns_attr!r} of cell measurement {name!r} are "
                f"not in uns; uns has {list(ad.uns.keys())}"
            )
        measurements.append(
            CellMeasurement(
                name=str(name),
                data=_as_matrix(data, f"obsm[{name!r}]"),
                columns_attr_name=str(columns_attr),
                columns=_as_names(columns),
            )
        )
    return measurements


def extract_data_from_anndata(
    ad: anndata.AnnData,
    batch_label: str = "batch_indices",
    ctype_label: str = "cell_types",
    class_label: str = "labels",
    use_raw: bool = False,
    cell_measurements_col_mappings: Optional[Dict[str, str]] = None,
) -> dict:
    """Arguments of :meth:`GeneExpressionDataset.populate_from_data` from an AnnData.

    See :class:`AnnDatasetFromAnnData` for the meaning of the parameters.

    Returns
    -------
    dict
        ``X``, ``Ys``, ``batch_indices``, ``labels``, ``gene_names``,
        ``cell_types``, ``cell_attributes_dict`` and ``gene_attributes_dict``.
    """
    if not isinstance(ad, anndata.AnnData):
        raise TypeError(f"ad must be an anndata.AnnData, got {type(ad).__name__}")
    if use_raw:
        if ad.raw is None:
            raise ValueError("use_raw=True but the AnnData has no .raw")
        X = _as_matrix(ad.raw.X, "ad.raw.X")
        var, var_names = ad.raw.var, ad.raw.var_names
    else:
        X = _as_matrix(ad.X, "ad.X")
        var, var_names = ad.var, ad.var_names
    if sp_sparse.issparse(X):
        logger.info("Keeping the sparse counts as a CSR matrix")
    obs = ad.obs

    labels, cell_types = _labels_and_cell_types(obs, ad.uns, ctype_label, class_label)
    batch_indices = None
    if batch_label is not None and batch_label in obs.columns:
        batch_indices, _ = _codes(obs[batch_label], f"obs[{batch_label!r}]")

    if cell_measurements_col_mappings is None:
        cell_measurements_col_mappings = ad.uns.get(
            "cell_measurements_col_mappings", {}
        )
    mappings = {str(k): str(v) for k, v in dict(cell_measurements_col_mappings).items()}
    measurements = _measurements(ad, mappings)

    reserved = _RESERVED_CELL_ATTRIBUTES | {batch_label, ctype_label, class_label}
    reserved |= set(mappings) | set(mappings.values())
    cell_attributes = {
        str(name): _column_values(obs[name])
        for name in obs.columns
        if name not in reserved
    }
    gene_attributes = {
        str(name): _column_values(var[name])
        for name in var.columns
        if name != "gene_names"
    }
    return dict(
        X=X,
        Ys=measurements,
        batch_indices=batch_indices,
        labels=labels,
        gene_names=_as_names(var_names.to_numpy()),
        cell_types=cell_types,
        cell_attributes_dict=cell_attributes,
        gene_attributes_dict=gene_attributes,
    )


class AnnDatasetFromAnnData(GeneExpressionDataset):
    """Forms a :class:`GeneExpressionDataset` from an :class:`anndata.AnnData`.

    * ``X`` (or ``.raw.X``) is copied: dense stays dense, sparse becomes CSR.
    * Cell types come from ``obs[ctype_label]`` when present (labels are then
      their codes; a categorical column keeps the order of its categories, strings
      are sorted), otherwise labels come from ``obs[class_label]`` (integer codes,
      named by ``uns[ctype_label]`` when present, or names). Batches come from
      ``obs[batch_label]`` (integer codes, or names turned into codes).
    * The other obs columns become cell attributes and the var columns gene
      attributes; gene names are the var names. ``local_means`` and ``local_vars``
      are recomputed, not copied.
    * The obsm matrices named in ``cell_measurements_col_mappings`` become cell
      measurements, with column names from ``uns``.

    Parameters
    ----------
    ad
        The AnnData, (n_obs, n_vars) with cells as observations.
    batch_label
        obs column name for batches.
    ctype_label
        obs column name (and uns key) for cell types.
    class_label
        obs column name for labels.
    use_raw
        If True, copies the counts and gene names from the ``.raw`` attribute.
    cell_measurements_col_mappings
        ``{obsm key: columns attribute name}``, e.g.
        ``{"protein_expression": "protein_names"}``: ``obsm[key]`` (n_obs, n_columns)
        becomes the cell measurement ``key`` and ``uns[columns attribute name]`` its
        column names. By default ``uns["cell_measurements_col_mappings"]`` (written
        by :meth:`GeneExpressionDataset.to_anndata`) when present, else none.

    Raises
    ------
    ValueError
        If ``use_raw`` is set without ``.raw``, a measurement or its column names
        is missing, or a label/batch column cannot be turned into codes.

    Examples
    --------
    >>> ad = anndata.read_h5ad("data/TM_droplet_mat.h5ad")
    >>> dataset = AnnDatasetFromAnnData(ad=ad)
    >>> round_trip = AnnDatasetFromAnnData(dataset.to_anndata())
    """

    def __init__(
        self,
        ad: anndata.AnnData,
        batch_label: str = "batch_indices",
        ctype_label: str = "cell_types",
        class_label: str = "labels",
        use_raw: bool = False,
        cell_measurements_col_mappings: Optional[Dict[str, str]] = None,
    ):
        super().__init__()
        self.populate_from_data(
            **extract_data_from_anndata(
                ad,
                batch_label=batch_label,
                ctype_label=ctype_label,
                class_label=class_label,
                use_raw=use_raw,
                cell_measurements_col_mappings=cell_measurements_col_mappings,
            )
        )


class DownloadableAnnDataset(SingleFileMixin, DownloadableDataset):
    """Forms a :class:`DownloadableDataset` from a ``.h5ad`` file using ``anndata``.

    The file is read with :func:`anndata.read_h5ad`, then converted as in
    :class:`AnnDatasetFromAnnData` (measurements listed in
    ``uns["cell_measurements_col_mappings"]`` are read too).

    Parameters
    ----------
    filename
        Name of the ``.h5ad`` file to save/load.
    save_path
        Location to use when saving/loading the data.
    url
        URL pointing to the data which will be downloaded if it's not already in
        ``save_path``.
    delayed_populating
        Switch for delayed populating mechanism.
    batch_label
        obs column name for batches.
    ctype_label
        obs column name for cell types.
    class_label
        obs column name for labels.
    use_raw
        If True, copies data from the ``.raw`` attribute of the AnnData.

    Raises
    ------
    ValueError
        If the file cannot be read as ``.h5ad``.

    Examples
    --------
    >>> # Loading a local dataset
    >>> dataset = DownloadableAnnDataset("TM_droplet_mat.h5ad", save_path="data/")
    """

    def __init__(
        self,
        filename: str = "anndataset",
        save_path: str = "data/",
        url: Optional[str] = None,
        delayed_populating: bool = False,
        batch_label: str = "batch_indices",
        ctype_label: str = "cell_types",
        class_label: str = "labels",
        use_raw: bool = False,
    ):
        self.batch_label = batch_label
        self.ctype_label = ctype_label
        self.class_label = class_label
        self.use_raw = use_raw
        super().__init__(filename, save_path, url, delayed_populating)

    def _read(self, path: str) -> dict:
        try:
            ad = anndata.read_h5ad(path)
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise ValueError(
                f"could not read {path} as a .h5ad file: {error}"
            ) from None
        return extract_data_from_anndata(
            ad,
            batch_label=self.batch_label,
            ctype_label=self.ctype_label,
            class_label=self.class_label,
            use_raw=self.use_raw,
        )
