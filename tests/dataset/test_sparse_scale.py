"""A large sparse matrix stays sparse through populate, filters and gene selection.

The peak of memory traced while the steps run is compared with the size of the dense
matrix: any step that densified X (even one float32 copy) would exceed the bound.
Speed is measured by ``benchmarks/dataset_sparse.py``, not asserted here.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp_sparse

from scvi.dataset import GeneExpressionDataset

N_CELLS, N_GENES, DENSITY = 200_000, 2_000, 0.01


def random_counts(seed=0):
    rng = np.random.default_rng(seed)
    nnz = int(N_CELLS * N_GENES * DENSITY)
    rows = rng.integers(0, N_CELLS, nnz)
    # genes with different expression frequencies, so that selection has signal
    cols = np.minimum(rng.exponential(N_GENES / 4, nnz).astype(np.int64), N_GENES - 1)
    data = rng.negative_binomial(2, 0.3, nnz).astype(np.float32) + 1
    X = sp_sparse.coo_matrix((data, (rows, cols)), shape=(N_CELLS, N_GENES))
    return X.tocsr()


@pytest.mark.parametrize("mode", ["seurat_v3", "seurat_v2"])
def test_large_sparse_stays_sparse(mode):
    X = random_counts()
    sparse_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    dense_bytes = N_CELLS * N_GENES * 4  # a single float32 dense copy
    batches = np.arange(N_CELLS) % 2

    tracemalloc.start()
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(X, batch_indices=batches)
    assert sp_sparse.isspmatrix_csr(dataset.X)
    dataset.filter_cells_by_count(5)
    dataset.filter_genes_by_count(10)
    assert sp_sparse.isspmatrix_csr(dataset.X)
    dataset.subsample_genes(new_n_genes=500, mode=mode)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert sp_sparse.isspmatrix_csr(dataset.X)
    assert dataset.nb_genes == 500
    assert dataset.X.shape[0] == dataset.local_means.shape[0] <= N_CELLS
    # a few sparse copies are fine, a dense matrix is 16x the sparse one here
    assert peak < 8 * sparse_bytes < dense_bytes / 2, (peak, sparse_bytes)
