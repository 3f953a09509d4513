"""Time the dataset pipeline on a large sparse count matrix.

Builds a 200,000 x 2,000 CSR matrix at 1% density (two batches), then times
populate_from_data, filter_cells_by_count, filter_genes_by_count and subsample_genes
in each gene selection mode, and prints the seconds of each step and the peak of
traced memory relative to the sparse matrix.

Usage: python benchmarks/dataset_sparse.py [--cells N] [--genes G] [--density D]
"""

import argparse
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp_sparse

import scvi
from scvi.dataset import GeneExpressionDataset


def random_counts(n_cells, n_genes, density, seed=0):
    rng = np.random.default_rng(seed)
    nnz = int(n_cells * n_genes * density)
    rows = rng.integers(0, n_cells, nnz)
    cols = np.minimum(rng.exponential(n_genes / 4, nnz).astype(np.int64), n_genes - 1)
    data = rng.negative_binomial(2, 0.3, nnz).astype(np.float32) + 1
    return sp_sparse.coo_matrix((data, (rows, cols)), shape=(n_cells, n_genes)).tocsr()


def run(X, mode, n_top):
    steps = {}
    tracemalloc.start()
    start = time.perf_counter()
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(X, batch_indices=np.arange(X.shape[0]) % 2)
    steps["populate"] = time.perf_counter() - start
    start = time.perf_counter()
    dataset.filter_cells_by_count(5)
    steps["filter_cells"] = time.perf_counter() - start
    start = time.perf_counter()
    dataset.filter_genes_by_count(10)
    steps["filter_genes"] = time.perf_counter() - start
    start = time.perf_counter()
    dataset.subsample_genes(new_n_genes=n_top, mode=mode)
    steps["subsample_genes"] = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sp_sparse.issparse(dataset.X)
    return steps, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--n-top", type=int, default=500)
    args = parser.parse_args()
    scvi.set_verbosity("WARNING")
    X = random_counts(args.cells, args.genes, args.density)
    sparse_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 1e6
    dense_mb = args.cells * args.genes * 4 / 1e6
    print(
        f"{args.cells} x {args.genes} CSR, density {args.density}: "
        f"{sparse_mb:.0f} MB sparse, {dense_mb:.0f} MB dense float32"
    )
    print(
        f"{'mode':<12}"
        + "".join(
            f"{s:>17}"
            for s in (
                "populate s",
                "filter_cells s",
                "filter_genes s",
                "subsample s",
                "total s",
                "peak/sparse",
            )
        )
    )
    for mode in ("variance", "seurat_v2", "cell_ranger", "seurat_v3"):
        steps, peak = run(X, mode, args.n_top)
        print(
            f"{mode:<12}"
            + "".join(f"{v:>17.2f}" for v in steps.values())
            + f"{sum(steps.values()):>17.2f}{peak / 1e6 / sparse_mb:>17.2f}"
        )


if __name__ == "__main__":
    main()
