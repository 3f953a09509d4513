"""Operations on count matrices that work the same on ndarrays and CSR matrices.

None of them densifies a sparse matrix.
"""

import logging
from typing import Tuple

import numpy as np
import scipy.sparse as sp_sparse

logger = logging.getLogger(__name__)


def row_sums(X) -> np.ndarray:
    """Total counts of each row (cell), as float64 of shape (n_rows,)."""
    return np.asarray(X.sum(axis=1, dtype=np.float64)).reshape(-1)


def col_sums(X) -> np.ndarray:
    """Total counts of each column (gene), as float64 of shape (n_cols,)."""
    return np.asarray(X.sum(axis=0, dtype=np.float64)).reshape(-1)


def nonzero_count(X) -> np.ndarray:
    """Number of rows with a non-zero value, for each column."""
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
