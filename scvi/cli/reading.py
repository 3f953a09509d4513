"""Reading ``INPUT`` of ``scvi train`` (h5ad, loom, 10x, csv) into a dataset (with
protein counts for ``--model totalvi``)."""

import argparse
import logging
import os
from typing import Optional, Tuple

import numpy as np

from .covariates import (
    check_covariate_format,
    check_covariate_keys,
    check_covariate_options,
    covariate_arrays,
    covariate_keys,
    register_covariates,
)
from .proteins import DEFAULT_PROTEIN_KEY, check_protein_counts, proteins_from_obsm

logger = logging.getLogger(__name__)

# column / attribute names that hold the cell names of the formats read
_LOOM_CELL_NAMES = ("CellID", "obs_names", "cell_names", "CellName")
_NOT_BATCH_KEYS = {"local_means", "local_vars"}
_TABLE_SUFFIXES = tuple(
    f".{kind}{compression}"
    for kind in ("csv", "tsv")
    for compression in ("", ".gz", ".bz2", ".xz")
)


# ------------------------------------------------------------------ reading
def input_format(path: str) -> str:
    """The format of ``INPUT``: ``"h5ad"``, ``"loom"``, ``"10x"`` or ``"csv"``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If its format is not one of those read.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"input {path!r} does not exist")
    if os.path.isdir(path):
        return "10x"
    name = os.path.basename(path).lower()
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith(".loom"):
        return "loom"
    if name.endswith(_TABLE_SUFFIXES):
        return "csv"
    if name.endswith((".mtx", ".mtx.gz")):
        return "10x"  # matrix.mtx[.gz] of a Cell Ranger folder: read the folder
    raise ValueError(
        f"unknown format of input {path!r}: expected a .h5ad file, a .loom file, a "
        ".csv/.tsv file (possibly .gz) or a 10x Cell Ranger folder (matrix.mtx[.gz], "
        "genes.tsv or features.tsv[.gz], barcodes.tsv[.gz])"
    )


def _unknown_batch_key(key: str, where: str, available) -> ValueError:
    listed = ", ".join(repr(str(a)) for a in available) or "none"
    return ValueError(f"unknown batch key {key!r}: {where}; available: {listed}")


def _one_column(values) -> bool:
    values = np.asarray(values)
    return values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)


def _batches_from_attribute(dataset, key: str, where: str) -> None:
    """Use the cell attribute ``key`` of ``dataset`` as its batches."""
    if key == "batch_indices":
        return
    available = [
        name
        for name in dataset.cell_attribute_names
        if name not in _NOT_BATCH_KEYS and _one_column(getattr(dataset, name))
    ]
    if key not in available:
        raise _unknown_batch_key(key, where, sorted(available))
    values = np.asarray(getattr(dataset, key)).reshape(-1)
    _, codes = np.unique(values.astype(str), return_inverse=True)
    dataset.batch_indices = codes.astype(np.int64)


def _read_h5ad(
    path: str,
    batch_key: Optional[str],
    use_raw: bool,
    proteins: bool = False,
    protein_key: Optional[str] = None,
    args: Optional[argparse.Namespace] = None,
):
    """Read an .h5ad file; with ``proteins``, ``obsm[protein_key]`` (default
    ``"protein_expression"``) becomes the ``protein_expression`` of the dataset.

    Returns the dataset, the cell names, the obs columns to add to the output and
    the obs columns named by the covariate keys of ``args``."""
    import anndata

    from ..dataset import AnnDatasetFromAnnData, CellMeasurement

    try:
        ad = anndata.read_h5ad(path)
    except (OSError, KeyError, TypeError) as error:
        raise ValueError(f"could not read {path} as a .h5ad file: {error}") from None
    if batch_key is not None and batch_key not in ad.obs.columns:
        raise _unknown_batch_key(
            batch_key, f"{path} has no such obs column", list(ad.obs.columns)
        )
    if args is not None:
        check_covariate_keys(args, ad.obs.columns, f"{path} has no such obs column")
    mappings = None  # those of uns["cell_measurements_col_mappings"]
    if proteins:
        counts, names = proteins_from_obsm(ad, protein_key, path)
        mappings = dict(ad.uns.get("cell_measurements_col_mappings", {}) or {})
        for key in (protein_key, DEFAULT_PROTEIN_KEY):
            mappings.pop(key, None)
    dataset = AnnDatasetFromAnnData(
        ad,
        batch_label=batch_key or "batch_indices",
        use_raw=use_raw,
        cell_measurements_col_mappings=mappings,
    )
    if proteins:
        dataset.initialize_cell_measurement(
            CellMeasurement(
                name="protein_expression",
                data=counts,
                columns_attr_name="protein_names",
                columns=names,
            )
        )
    extra_obs = {}
    if batch_key is not None:
        extra_obs[batch_key] = ad.obs[batch_key].to_numpy()
    columns = {}
    if args is not None:
        keys = sum(covariate_keys(args), [])
        columns = {key: ad.obs[key] for key in keys}
    return dataset, np.asarray(ad.obs_names).astype(str), extra_obs, columns


def _loom_column_attributes(path: str) -> list:
    """The column attributes of a .loom file, sorted."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            group = file.get("col_attrs")
            return sorted(group.keys()) if group is not None else []
    except OSError as error:
        raise ValueError(
            f"could not read {path} as a .loom (HDF5) file: {error}"
        ) from None


def _read_loom(
    path: str, batch_key: Optional[str], args: Optional[argparse.Namespace] = None
):
    """Read a .loom file (its cells without count are removed); returns the
    dataset, the cell names, the obs columns to add to the output and the column
    attributes named by the covariate keys of ``args``, for the cells kept."""
    from ..dataset import LoomDataset

    keys = sum(covariate_keys(args), []) if args is not None else []
    if batch_key is not None or keys:
        available = _loom_column_attributes(path)
        if batch_key is not None and batch_key not in available:
            raise _unknown_batch_key(
                batch_key, f"{path} has no such column attribute", available
            )
        if keys:
            where = f"{path} has no such column attribute"
            check_covariate_keys(args, available, where)
    folder, name = os.path.split(os.path.abspath(path))
    kwargs = {}
    if batch_key is not None:
        kwargs["batch_indices_attribute_name"] = batch_key
    columns = {}
    if keys:
        from ._covariate_loom import CovariateLoomDataset

        dataset = CovariateLoomDataset(name, folder, keys, **kwargs)
        columns = dataset.covariate_columns
        del dataset.covariate_columns
    else:
        dataset = LoomDataset(name, save_path=folder, **kwargs)
    names = None
    for attribute in _LOOM_CELL_NAMES:
        if attribute in dataset.cell_attribute_names:
            names = np.asarray(getattr(dataset, attribute)).reshape(-1).astype(str)
            break
    return dataset, names, {}, columns


def _read_10x(path: str, batch_key: Optional[str]):
    from ..dataset import Dataset10X

    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    dataset = Dataset10X(save_path=folder)
    if batch_key is not None:
        _batches_from_attribute(
            dataset,
            batch_key,
            f"{folder} has no such cell attribute ('batch_indices' holds the "
            "barcode suffixes, AAACCTG-2 -> 2)",
        )
    names = None
    if "barcodes" in dataset.cell_attribute_names:
        names = np.asarray(dataset.barcodes).reshape(-1).astype(str)
    return dataset, names, {}


def _read_csv(path: str, batch_key: Optional[str], cells_by_genes: bool):
    from ..dataset import GeneExpressionDataset
    from ..dataset.csv import read_count_table

    if batch_key is not None:
        raise ValueError(
            f"--batch-key cannot be used with a .csv/.tsv input: {path} holds counts "
            "only, no cell annotation (write an .h5ad file with a batch column)"
        )
    name = os.path.basename(path).lower()
    sep = "\t" if ".tsv" in name else ","
    table = read_count_table(path, sep=sep)
    if cells_by_genes:
        cell_names, gene_names = table.index, table.columns
        X = table.to_numpy(dtype=np.float32)
    else:
        gene_names, cell_names = table.index, table.columns
        X = np.ascontiguousarray(table.to_numpy(dtype=np.float32).T)
    del table
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(X, gene_names=np.asarray(gene_names).astype(str))
    return dataset, np.asarray(cell_names).astype(str), {}


def _read_demo(args: argparse.Namespace):
    from ..dataset import SyntheticDataset

    dataset = SyntheticDataset(
        batch_size=args.demo_cells_per_batch,
        nb_genes=args.demo_genes,
        n_batches=args.demo_batches,
    )
    if args.batch_key is not None:
        _batches_from_attribute(
            dataset, args.batch_key, "the demo dataset has no such cell attribute"
        )
    names = np.array([f"cell_{i}" for i in range(dataset.nb_cells)])
    return dataset, names, {}


def load_input(args: argparse.Namespace) -> Tuple[object, np.ndarray, dict, str]:
    """The dataset to train on, its cell names, obs columns to add, its format.

    With ``--model totalvi`` the dataset has checked protein counts
    (``protein_expression``, named by ``protein_names``). With
    ``--continuous-covariate-keys`` / ``--categorical-covariate-keys`` it has the
    cell attributes ``cont_covs`` (float32) / ``cat_covs`` (int64 codes ``0..k-1``
    per key), one row per cell kept.
    """
    totalvi = getattr(args, "model", "scvi") == "totalvi"
    protein_key = getattr(args, "protein_key", None)
    fmt = "demo" if args.demo else input_format(args.input)
    if protein_key is not None and fmt != "h5ad":
        raise ValueError(
            f"--protein-key names an obsm key of an .h5ad input, not of {fmt} input "
            "(a 10x folder gives the 'Antibody Capture' features as proteins, the "
            "demo dataset has its own)"
        )
    check_covariate_options(args)
    check_covariate_format(args, fmt)
    columns = {}
    if args.demo:
        dataset, names, extra_obs = _read_demo(args)
    else:
        if fmt == "h5ad":
            dataset, names, extra_obs, columns = _read_h5ad(
                args.input, args.batch_key, args.use_raw, totalvi, protein_key, args
            )
        elif fmt == "loom":
            dataset, names, extra_obs, columns = _read_loom(
                args.input, args.batch_key, args
            )
        elif fmt == "10x":
            dataset, names, extra_obs = _read_10x(args.input, args.batch_key)
        else:
            dataset, names, extra_obs = _read_csv(
                args.input, args.batch_key, args.cells_by_genes
            )
    if args.batch_key is not None:
        dataset.remap_categorical_attributes(["batch_indices"])
    if names is None or len(names) != dataset.nb_cells:
        names = np.arange(dataset.nb_cells).astype(str)
    if columns:
        what = "obs column" if fmt == "h5ad" else "column attribute"
        cont, cat = covariate_arrays(
            args, columns, dataset.nb_cells, f"{what} of {args.input}"
        )
        register_covariates(dataset, cont, cat)
    if totalvi:
        where = "the demo dataset" if args.demo else args.input
        source = {
            "h5ad": f"obsm[{protein_key or DEFAULT_PROTEIN_KEY!r}]",
            "10x": "the 'Antibody Capture' features",
        }.get(fmt, "protein_expression")
        check_protein_counts(dataset, where, source)
    return dataset, names, extra_obs, fmt


def _check_counts(dataset, where: str) -> None:
    """Refuse negative values, warn about non-integer ones."""
    import scipy.sparse as sp_sparse

    X = dataset.X
    values = X.data if sp_sparse.issparse(X) else np.asarray(X)
    if values.size == 0:
        raise ValueError(f"{where} holds no counts (an empty matrix)")
    if values.min() < 0:
        raise ValueError(
            f"{where} holds negative values: scVI models raw counts (for an .h5ad "
            "file with counts in .raw, use --use-raw)"
        )
    if not np.array_equal(values, np.round(values)):
        logger.warning(
            "%s holds non-integer values: scVI models raw counts, not normalized "
            "data",
            where,
        )
