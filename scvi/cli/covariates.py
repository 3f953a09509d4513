"""Extra covariates of ``scvi train``: ``--continuous-covariate-keys`` and
``--categorical-covariate-keys`` name obs columns of an ``.h5ad`` input (column
attributes of a ``.loom`` input) that become the cell attributes ``"cont_covs"``
(float32, one column per key) and ``"cat_covs"`` (int64 codes ``0..k-1``, one
column per key) of the dataset, and ``n_continuous_cov`` / ``n_cats_per_cov`` of
the model (see :mod:`scvi.models._vae_covariates`)."""

import argparse
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

#: the cell attributes of the covariates (those of
#: :mod:`scvi.models._vae_covariates`, not imported here to keep ``scvi --help``
#: light; a test checks that they agree)
CONT_COVS_KEY = "cont_covs"
CAT_COVS_KEY = "cat_covs"

CONTINUOUS = "--continuous-covariate-keys"
CATEGORICAL = "--categorical-covariate-keys"

#: what each input format without columns is, for the error messages
_NO_COLUMNS = {
    "demo": "the demo dataset",
    "10x": "a 10x folder",
    "csv": "a .csv/.tsv input",
}


def covariate_keys(args: argparse.Namespace) -> Tuple[List[str], List[str]]:
    """The keys of ``--continuous-covariate-keys`` and
    ``--categorical-covariate-keys`` (empty lists when not given)."""
    continuous = getattr(args, "continuous_covariate_keys", None) or []
    categorical = getattr(args, "categorical_covariate_keys", None) or []
    return [str(k) for k in continuous], [str(k) for k in categorical]


def _by_option(args: argparse.Namespace):
    continuous, categorical = covariate_keys(args)
    return ((CONTINUOUS, continuous), (CATEGORICAL, categorical))


def check_covariate_options(args: argparse.Namespace) -> None:
    """Refuse a key given twice, given to both options, or repeating ``--batch-key``.

    Raises
    ------
    ValueError
        Naming the option at fault.
    """
    for option, keys in _by_option(args):
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise ValueError(f"{option} names {key!r} twice")
            if args.batch_key is not None and key == args.batch_key:
                raise ValueError(
                    f"{option} repeats the batch key {key!r} (--batch-key): the "
                    "batch is a covariate already"
                )
    continuous, categorical = covariate_keys(args)
    for key in continuous:
        if key in categorical:
            raise ValueError(
                f"{key!r} is given to both {CONTINUOUS} and {CATEGORICAL}: a "
                "covariate is either continuous or categorical"
            )


def check_covariate_format(args: argparse.Namespace, fmt: str) -> None:
    """Refuse covariate keys for an input without cell columns (10x, csv, demo)."""
    if fmt in ("h5ad", "loom"):
        return
    for option, keys in _by_option(args):
        if keys:
            raise ValueError(
                f"{option} names obs columns of an .h5ad input or column attributes "
                f"of a .loom input: {_NO_COLUMNS.get(fmt, fmt)} has no such columns"
            )


def check_covariate_keys(args: argparse.Namespace, available, where: str) -> None:
    """Refuse a covariate key that is not among the ``available`` columns.

    Parameters
    ----------
    args
        The options of ``scvi train``.
    available
        The column names of the input.
    where
        Why a key is unknown, e.g. ``"x.h5ad has no such obs column"``.

    Raises
    ------
    ValueError
        Naming the option and the key, and listing the available columns.
    """
    available = [str(a) for a in available]
    for option, keys in _by_option(args):
        for key in keys:
            if key not in available:
                listed = ", ".join(repr(a) for a in available) or "none"
                raise ValueError(
                    f"unknown covariate key {key!r} ({option}): {where}; "
                    f"available: {listed}"
                )


def _series(values, option: str, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(
            f"{option}: {what} has shape {values.shape}, one value per cell expected"
        )
    return pd.Series(values)


def _is_numeric(series: pd.Series) -> bool:
    return not isinstance(
        series.dtype, pd.CategoricalDtype
    ) and pd.api.types.is_numeric_dtype(series.dtype)


def continuous_values(values, what: str) -> np.ndarray:
    """A numeric column as float32 values; ``what`` names it in the errors.

    Raises
    ------
    ValueError
        Naming ``--continuous-covariate-keys``: a column that is not numeric or
        holds a missing or infinite value (also after the cast to float32).
    """
    series = _series(values, CONTINUOUS, what)
    if not _is_numeric(series):
        raise ValueError(
            f"{CONTINUOUS}: {what} is not numeric (dtype {series.dtype}); give it "
            f"to {CATEGORICAL}, or convert it to numbers"
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(over="ignore"):  # beyond float32: inf, refused below
        values = values.astype(np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{CONTINUOUS}: {what} holds {int(bad.sum())} missing or infinite "
            "values (NaN/inf, or beyond float32); a continuous covariate needs a "
            "finite number for every cell"
        )
    return values


def category_codes(values, what: str) -> Tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..k-1`` of a column, and the k categories they stand for.

    The categories are those of a pandas categorical column in their order
    (unused ones dropped), else the sorted distinct values (numerically for
    numbers, as text otherwise).

    Raises
    ------
    ValueError
        Naming ``--categorical-covariate-keys``: a column with missing values.
    """
    series = _series(values, CATEGORICAL, what)
    missing = series.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{CATEGORICAL}: {what} holds {int(missing.sum())} missing values "
            "(NaN/None); give every cell a category"
        )
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.cat.remove_unused_categories()
        codes = series.cat.codes.to_numpy().astype(np.int64)
        return codes, np.asarray(series.cat.categories)
    if _is_numeric(series):
        values = series.to_numpy(dtype=np.float64)
    else:
        values = np.asarray(series.to_numpy()).astype(str)
    categories, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), categories


def covariate_arrays(
    args: argparse.Namespace, columns: Dict[str, object], n_cells: int, what: str
) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """The ``cont_covs`` and ``cat_covs`` arrays (None where no key is given).

    Parameters
    ----------
    args
        The options of ``scvi train``.
    columns
        Each key's values, one per cell of the dataset (a pandas Series or array).
    n_cells
        The number of cells of the dataset.
    what
        The kind of column and the input, e.g. ``"obs column of x.h5ad"``.

    Returns
    -------
    cont_covs, cat_covs
        float32 (n_cells, n_continuous) and int64 (n_cells, n_categorical), keys
        in the order given.
    """
    continuous, categorical = covariate_keys(args)
    for key in continuous + categorical:
        if len(columns[key]) != n_cells:
            raise ValueError(
                f"{what} {key!r} has {len(columns[key])} values for {n_cells} cells"
            )
    cont = cat = None
    if continuous:
        cont = np.stack(
            [continuous_values(columns[k], f"{what} {k!r}") for k in continuous], 1
        )
    if categorical:
        cat = np.stack(
            [category_codes(columns[k], f"{what} {k!r}")[0] for k in categorical], 1
        )
    return cont, cat


def register_covariates(dataset, cont: Optional[np.ndarray], cat) -> None:
    """Set the cell attributes ``cont_covs`` / ``cat_covs`` that are not None."""
    if cont is not None:
        dataset.initialize_cell_attribute(CONT_COVS_KEY, cont.astype(np.float32))
    if cat is not None:
        dataset.initialize_cell_attribute(CAT_COVS_KEY, cat.astype(np.int64))


def covariate_model_kwargs(args: argparse.Namespace, dataset) -> dict:
    """``n_continuous_cov`` / ``n_cats_per_cov`` of the model; empty (scVI 0.6's
    model) without covariate keys."""
    continuous, categorical = covariate_keys(args)
    kwargs = {}
    if continuous:
        kwargs["n_continuous_cov"] = len(continuous)
    if categorical:
        codes = np.asarray(getattr(dataset, CAT_COVS_KEY))
        kwargs["n_cats_per_cov"] = [int(n) for n in codes.max(axis=0) + 1]
    return kwargs


def covariate_settings(args: argparse.Namespace, dataset) -> dict:
    """The entries of ``uns["scvi"]`` recording the covariates (none without)."""
    continuous, categorical = covariate_keys(args)
    settings = {}
    if continuous:
        settings["continuous_covariate_keys"] = continuous
    if categorical:
        settings["categorical_covariate_keys"] = categorical
        n_cats = covariate_model_kwargs(args, dataset)["n_cats_per_cov"]
        settings["n_cats_per_cov"] = n_cats
    return settings


def drop_covariate_arrays(args: argparse.Namespace, adata) -> None:
    """Remove ``cont_covs`` / ``cat_covs`` from the output (the columns they come
    from are in its obs already)."""
    continuous, categorical = covariate_keys(args)
    for name, keys in ((CONT_COVS_KEY, continuous), (CAT_COVS_KEY, categorical)):
        if keys:
            if name in adata.obs.columns:
                del adata.obs[name]
            if name in adata.obsm:
                del adata.obsm[name]
