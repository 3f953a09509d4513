"""Validation of user input, with errors that name the offending argument."""

import warnings
from typing import Optional, Tuple

import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse


class UnknownNameError(KeyError, ValueError):
    """A gene or cell-type name the dataset does not have.

    Both a :class:`KeyError` (what scVI 0.6.8 raised from ``reorder_genes``) and a
    :class:`ValueError`, so that callers written for either catch it.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def check_counts(X, name: str = "X"):
    """Validate a (cells x genes) count matrix and return it as ndarray or CSR.

    Parameters
    ----------
    X
        Dense array-like, :class:`pandas.DataFrame` or any :mod:`scipy.sparse` matrix.
    name
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        Sparse input (CSR, CSC, COO, ...) comes back as CSR; nothing is densified.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, not numeric, or holds negative, NaN or infinite values.
    """
    validate = getattr(X, "validate_counts", None)
    if validate is not None:  # counts on disk, checked chunk by chunk
        validate(name)
        return X
    if sp_sparse.issparse(X):
        X = sp_sparse.csr_matrix(X)
        values = X.data
    else:
        if isinstance(X, pd.DataFrame):
            X = X.to_numpy()
        X = np.asarray(X)
        if X.dtype == bool:
            X = X.astype(np.float32)
        values = X
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (cells x genes) matrix, got an array of shape "
            f"{X.shape}"
        )
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must hold numbers (counts), got dtype {values.dtype}")
    nonfinite, negative, fractional = _scan(values)
    if nonfinite:
        raise ValueError(f"{name} contains NaN or infinite values; counts expected")
    if negative:
        raise ValueError(f"{name} contains negative values; counts must be >= 0")
    if fractional:
        warnings.warn(
            f"{name} contains non-integer values; scvi models expect raw counts",
            UserWarning,
            stacklevel=3,
        )
    return X


def _scan(values: np.ndarray, chunk: int = 1 << 22) -> Tuple[bool, bool, bool]:
    """Whether ``values`` has non-finite, negative or non-integer entries.

    Works on slices of about ``chunk`` entries so that no full-size temporary is made.
    """
    flat = values.reshape(-1)
    floating = np.issubdtype(values.dtype, np.floating)
    negative = fractional = False
    for start in range(0, flat.size, chunk):
        part = flat[start : start + chunk]
        if floating:
            if not np.isfinite(part).all():
                return True, negative, fractional
            fractional = fractional or not np.array_equal(part, np.floor(part))
        negative = negative or bool(part.min() < 0)
    return False, negative, fractional


def check_length(values, expected: int, name: str, what: str = "cells") -> None:
    """Raise a ValueError unless ``values`` has ``expected`` entries along axis 0."""
    n = values.shape[0] if hasattr(values, "shape") else len(values)
    if n != expected:
        raise ValueError(
            f"{name} has {n} entries but the dataset has {expected} {what}"
        )


def check_categorical(values, name: str) -> np.ndarray:
    """Return ``values`` as a flat int64 array of non-negative category codes."""
    arr = np.asarray(values)
    if sp_sparse.issparse(values):
        arr = np.asarray(values.todense())
    arr = arr.reshape(-1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(
            np.isfinite(arr) & (arr == np.round(arr))
        ):
            raise ValueError(
                f"{name} must hold integer category codes, got {arr.dtype}"
            )
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must hold non-negative integer codes")
    return arr


def as_index(subset, length: int, name: str) -> np.ndarray:
    """Turn a boolean mask or integer positions into an int64 index array.

    Parameters
    ----------
    subset
        Boolean mask of length ``length`` or integers in ``[-length, length)``.
    length
        Size of the indexed axis.
    name
        Argument name used in error messages.
    """
    subset = np.asarray(subset)
    if subset.dtype == bool:
        subset = subset.reshape(-1)
        check_length(subset, length, name, "entries to mask")
        return np.flatnonzero(subset)
    subset = subset.reshape(-1)
    if subset.size == 0:
        return subset.astype(np.int64)
    if not np.issubdtype(subset.dtype, np.integer):
        raise ValueError(
            f"{name} must be a boolean mask or integer positions, got {subset.dtype}"
        )
    if subset.max() >= length or subset.min() < -length:
        raise ValueError(f"{name} has positions outside [0, {length})")
    return np.where(subset < 0, subset + length, subset).astype(np.int64)


def unique_or_raise(names: np.ndarray, name: str, where: Optional[str] = None) -> None:
    """Raise a ValueError listing duplicates if ``names`` are not unique."""
    uniques, counts = np.unique(np.asarray(names), return_counts=True)
    if uniques.size != np.asarray(names).size:
        dups = uniques[counts > 1][:10].tolist()
        where = f" in {where}" if where else ""
        raise ValueError(f"{name}{where} must be unique; duplicated: {dups}")


def check_positive_int(value, name: str) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is a positive integer."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer, float, np.floating))
        or int(value) != value
        or value < 1
    ):
        raise ValueError(f"`{name}` must be a positive int, got {value!r}")
