"""Highly variable genes: Jaccard index of our selection against scanpy's.

For each flavor (``seurat_v2``, ``cell_ranger``, ``seurat_v3``) and the cases of
``tests/dataset/test_gene_selection.py`` (pbmc4k top 2,000 genes, a simulated
2,000 x 1,000 negative binomial matrix, and 10x PBMC in 3 batches), prints the
Jaccard index between the genes we select and the genes scanpy selects on the same
counts. The data, the simulation and scanpy's call are those of the test module, so
the figures are the ones the tests check (>= 0.95). Needs scanpy and
``../shared/data/real``.

Usage: python benchmarks/gene_selection.py
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp_sparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dataset"))
import test_gene_selection as cases  # noqa: E402

import scvi  # noqa: E402
from scvi.dataset._gene_selection import highly_variable_genes  # noqa: E402

BATCH_CASES = [("seurat_v3", 500), ("seurat_v2", 500), ("seurat_v2", None)]
BATCH_CASES += [("cell_ranger", 500)]


def jaccard_against_scanpy(X, flavor, n_top_genes, batch_indices=None) -> float:
    ours = highly_variable_genes(
        X, batch_indices=batch_indices, flavor=flavor, n_top_genes=n_top_genes
    )
    key = flavor
    if flavor == "seurat_v3" and batch_indices is not None:
        key += "_batches"
    theirs = cases.scanpy_hvg(
        X, cases.SCANPY_FLAVOR[key], batch_indices, n_top_genes=n_top_genes
    )
    return cases.jaccard(ours.highly_variable, theirs.highly_variable)


def main() -> None:
    warnings.simplefilter("ignore")
    scvi.set_verbosity("WARNING")
    pbmc4k = sp_sparse.csr_matrix(cases.read_counts(cases.PBMC4K).X)
    simulated, _ = cases.simulate_counts()
    adata = cases.read_counts(cases.PBMC_BATCHES)
    X = sp_sparse.csr_matrix(adata.X)
    expressed = np.asarray(X.sum(axis=0)).ravel() > 0
    batches = pd.Categorical(adata.obs["batch"]).codes.astype(np.int64)
    rows = [("pbmc4k", pbmc4k, None, f, n) for f, n in cases.SINGLE_BATCH_CASES]
    rows += [
        ("simulated 2000x1000", simulated, None, f, n)
        for f, n in cases.SINGLE_BATCH_CASES
    ]
    rows += [
        ("pbmc, 3 batches", X[:, expressed], batches, f, n) for f, n in BATCH_CASES
    ]
    print(f"{'data':22} {'flavor':12} {'n_top_genes':>11} {'Jaccard':>8}")
    for name, counts, batch_indices, flavor, n_top in rows:
        value = jaccard_against_scanpy(counts, flavor, n_top, batch_indices)
        print(f"{name:22} {flavor:12} {str(n_top):>11} {value:8.4f}")


if __name__ == "__main__":
    main()
