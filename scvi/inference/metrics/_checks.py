"""Input checks and nearest-neighbour helpers shared by the metrics."""

from typing import Optional, Sequence, Tuple, Union

import numpy as np
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

ArrayOrList = Union[np.ndarray, Sequence[np.ndarray]]


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_matrix(x, name: str, min_rows: int = 2) -> np.ndarray:
    """Return ``x`` as a finite 2-D float array of at least ``min_rows`` rows."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_cells, n_dims), got shape {x.shape}"
        )
    if x.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} rows (cells), got {x.shape[0]}"
        )
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_labels(y, n_cells: Optional[int], name: str) -> np.ndarray:
    """Return ``y`` as a 1-D array; ``(n, 1)`` columns are flattened."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array (or a single column), got shape {y.shape}"
        )
    if n_cells is not None and y.shape[0] != n_cells:
        raise ValueError(
            f"{name} must have one entry per cell ({n_cells}), got {y.shape[0]}"
        )
    return y


def _knn_indices(x: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Indices ``(n_cells, n_neighbors)`` of each cell's neighbours, self excluded.

    ``kneighbors`` called without query points leaves each point out of its own
    neighbours, which stays right when cells have identical coordinates.
    """
    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(x)
    return nn.kneighbors(return_distance=False)


def _knn_graph(x: np.ndarray, n_neighbors: int) -> sparse.csr_matrix:
    """Directed kNN adjacency: ``A[i, j] = 1`` iff ``j`` is a neighbour of ``i``."""
    n_cells = x.shape[0]
    indices = _knn_indices(x, n_neighbors)
    data = np.ones(indices.size, dtype=np.int64)
    indptr = np.arange(0, indices.size + 1, n_neighbors)
    return sparse.csr_matrix((data, indices.ravel(), indptr), shape=(n_cells, n_cells))


def _flatten_values(values: ArrayOrList) -> np.ndarray:
    """Concatenate an array or a sequence of arrays into one 1-D float array."""
    if isinstance(values, (list, tuple)):
        if len(values) == 0:
            return np.empty(0)
        parts = [np.ravel(np.asarray(v, dtype=float)) for v in values]
        return np.concatenate(parts)
    return np.ravel(np.asarray(values, dtype=float))


def _check_paired_values(original, imputed) -> Tuple[np.ndarray, np.ndarray]:
    original = _flatten_values(original)
    imputed = _flatten_values(imputed)
    if original.shape != imputed.shape:
        raise ValueError(
            "original and imputed must hold the same number of values, got "
            f"{original.size} and {imputed.size}"
        )
    if original.size == 0:
        raise ValueError("original and imputed must not be empty")
    return original, imputed
