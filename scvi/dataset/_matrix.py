"""Operations on count matrices that work the same on ndarrays and CSR matrices.

None of them densifies a sparse matrix. A matrix read from disk in row chunks
(:class:`~scvi.dataset.backed_matrix.BackedMatrix`, recognised by its
``map_chunks`` method) is streamed: the reductions over cells add up its chunks.
"""

import logging
from typing import Tuple

import numpy as np
import scipy.sparse as sp_sparse

logger = logging.getLogger(__name__)


def _streamed(X) -> bool:
    """Whether ``X`` is read from disk in row chunks (it has ``map_chunks``)."""
    return hasattr(X, "map_chunks")


def canonical_counts(X):
    """``X`` as a 2-D ndarray or a CSR matrix without duplicate entries.

    No copy is made when ``X`` already is one of them; a matrix read in row chunks
    is returned as it is.

    Raises
    ------
    ValueError
        If a dense ``X`` is not 2-D.
    """
    if _streamed(X):
        return X
    if sp_sparse.issparse(X):
        X = sp_sparse.csr_matrix(X)
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"`X` must be a 2-D (cells x genes) matrix, got shape {X.shape}"
        )
    return X


def column_moments(X, clip=None):
    """Sums of ``y`` and ``y ** 2`` over the rows, ``y = min(x, clip)``, in float64.

    The clipped values are counted and added as ``count * clip``, so that the sums of
    integer counts are exact whatever their order.

    Parameters
    ----------
    X
        Dense matrix or canonical CSR matrix.
    clip
        Positive value of every column (so that zeros are never clipped), or None.

    Returns
    -------
    tuple
        The float64 sums and sums of squares of every column.
    """
    if _streamed(X):
        return X.map_chunks(column_moments, clip)
    if sp_sparse.issparse(X):
        values, cols = X.data.astype(np.float64), X.indices
    else:
        values = np.asarray(X, dtype=np.float64)
        cols = None
    if clip is not None:
        over = values > (clip if cols is None else clip[cols])
        values = np.where(over, 0.0, values)
    if cols is None:
        sums = values.sum(axis=0)
        squares = np.einsum("ij,ij->j", values, values)
        n_over = over.sum(axis=0) if clip is not None else 0
    else:
        n_genes = X.shape[1]
        sums = np.bincount(cols, weights=values, minlength=n_genes)
        squares = np.bincount(cols, weights=values * values, minlength=n_genes)
        n_over = np.bincount(cols[over], minlength=n_genes) if clip is not None else 0
    if clip is not None:
        sums = sums + n_over * clip
        squares = squares + n_over * clip * clip
    return sums, squares


def column_variances(X) -> np.ndarray:
    """Variance (``ddof=0``) of every column of a dense or sparse matrix (float64).

    A dense matrix gets numpy's two-pass variance in float64, the very values (and
    so the order of near ties) of scVI 0.6.8. A sparse one is not densified: exact
    sums give columns holding the same integer counts the same variance.
    """
    X = canonical_counts(X)
    if not sp_sparse.issparse(X) and not _streamed(X):
        return np.var(X, axis=0, dtype=np.float64)
    n_cells = max(X.shape[0], 1)
    sums, squares = column_moments(X)
    return np.maximum(squares - sums * (sums / n_cells), 0.0) / n_cells


def row_sums(X) -> np.ndarray:
    """Total counts of each row (cell), as float64 of shape (n_rows,)."""
    return np.asarray(X.sum(axis=1, dtype=np.float64)).reshape(-1)


def col_sums(X) -> np.ndarray:
    """Total counts of each column (gene), as float64 of shape (n_cols,)."""
    return np.asarray(X.sum(axis=0, dtype=np.float64)).reshape(-1)


def nonzero_count(X) -> np.ndarray:
    """Number of rows with a non-zero value, for each column."""
    if _streamed(X):
        return X.map_chunks(nonzero_count)
    if sp_sparse.issparse(X):
        X = sp_sparse.csr_matrix(X)
        return np.bincount(X.indices[X.data != 0], minlength=X.shape[1])
    return np.count_nonzero(X, axis=0)


def nonzero_fraction(X) -> np.ndarray:
    """Fraction of rows with a non-zero value, for each column."""
    return nonzero_count(X) / max(X.shape[0], 1)


def scale_rows(X, factors: np.ndarray):
    """Multiply each row of ``X`` by its factor; sparse stays sparse (CSR)."""
    factors = np.asarray(factors).reshape(-1)
    if sp_sparse.issparse(X):
        return sp_sparse.csr_matrix(sp_sparse.diags(factors) @ X)
    return X * factors[:, None]


def mean_normalize(X):
    """Divide each cell by its mean count over genes; empty cells stay zero.

    Rows of the result average to 1 (or are all zero).
    """
    means = row_sums(X) / max(X.shape[1], 1)
    with np.errstate(divide="ignore"):
        factors = np.where(means > 0, 1.0 / means, 0.0)
    if not sp_sparse.issparse(X) and not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float32)
    return scale_rows(X, factors.astype(np.float32))


def library_size_stats(X, batch_indices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the log library size of each cell's batch.

    Parameters
    ----------
    X
        Counts, (n_cells, n_genes).
    batch_indices
        Batch code of each cell, (n_cells,) or (n_cells, 1).

    Returns
    -------
    local_means, local_vars
        float32 arrays of shape (n_cells, 1): for each cell, the mean and the
        (population) variance of ``log(library size)`` over the non-empty cells of
        its batch. Empty cells are left out of the statistics, with a warning.
    """
    batch_indices = np.asarray(batch_indices).reshape(-1)
    library = row_sums(X)
    empty = library <= 0
    if empty.any():
        logger.warning(
            "This dataset has %i empty cells, this might fail scVI inference. "
            "Data should be filtered with `my_dataset.filter_cells_by_count()`",
            int(empty.sum()),
        )
    log_library = np.log(np.where(empty, 1.0, library))
    local_means = np.zeros((X.shape[0], 1), dtype=np.float32)
    local_vars = np.zeros((X.shape[0], 1), dtype=np.float32)
    for batch in np.unique(batch_indices):
        in_batch = batch_indices == batch
        values = log_library[in_batch & ~empty]
        if values.size:
            local_means[in_batch] = np.mean(values)
            local_vars[in_batch] = np.var(values)
    return local_means, local_vars


def check_nonnegative_integers(X) -> bool:
    """Whether ``X`` holds count data: finite, non-negative integer values.

    Parameters
    ----------
    X
        Dense array or sparse matrix.

    Returns
    -------
    bool
        True for counts (also for an empty matrix).
    """
    values = X.data if sp_sparse.issparse(X) else np.asarray(X)
    if values.size == 0:
        return True
    if not np.issubdtype(values.dtype, np.number):
        return False
    with np.errstate(invalid="ignore"):
        return bool(
            np.all(np.isfinite(values))
            and np.all(values >= 0)
            and np.all(values == np.round(values))
        )


def compute_library_size(data) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the log library size over all cells, as scVI 0.6.8's
    ``scvi.dataset.dataset.compute_library_size``: an empty cell counts with a log
    library size of 0 (the datasets' ``local_means`` leave such cells out).

    Parameters
    ----------
    data
        Counts, (n_cells, n_genes), dense or sparse.

    Returns
    -------
    local_mean, local_var
        float32 arrays of shape ``(1, 1)`` (population variance).
    """
    library = row_sums(data)
    log_library = np.log(np.where(library > 0, library, 1.0))
    mean = np.float32(np.mean(log_library)) if log_library.size else np.float32(0)
    var = np.float32(np.var(log_library)) if log_library.size else np.float32(0)
    return np.full((1, 1), mean, np.float32), np.full((1, 1), var, np.float32)


def concatenate_arrays(arrays):
    """Stack arrays along the first axis: a CSR matrix when any of them is sparse,
    else a dense array.

    Parameters
    ----------
    arrays
        Dense arrays or sparse matrices with the same number of columns.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        The rows of every array, in order.
    """
    arrays = list(arrays)
    if any(sp_sparse.issparse(a) for a in arrays):
        return sp_sparse.vstack([sp_sparse.csr_matrix(a) for a in arrays]).tocsr()
    return np.concatenate(arrays)
