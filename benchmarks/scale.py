"""One training epoch on a large sparse dataset: counts in memory vs read from disk.

Writes a synthetic ``.h5ad`` of ``--cells`` cells x ``--genes`` genes with a CSR
``X`` of about ``--density`` non-zero entries (written in blocks of cells with
h5py, so that a million cells never sit in memory, then renamed into place), and
then, each in its own subprocess, trains the default VAE for one epoch
(``UnsupervisedTrainer``, ``train_size=1.0``, mini-batches of 128) on

* ``memory``: the file read into memory (``AnnDatasetFromAnnData``, CSR ``X``);
* ``backed``: :class:`~scvi.dataset.BackedAnnDataset` (``X`` left on disk, read by
  chunks of 32 mini-batches with read-ahead).

Each child reports the time of the epoch, the time to load the dataset and its
own peak resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``). The targets of
issue 22 are printed beside the figures: memory under 4 GB, backed under 1.5 GB,
backed at >= 50% of the in-memory speed.

Usage::

    python benchmarks/scale.py                 # 100,000 cells
    python benchmarks/scale.py --cells 1000000 --keep data/scale_1m.h5ad
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import logging
logging.disable(logging.WARNING)
import anndata, torch
import scvi
from scvi.dataset import AnnDatasetFromAnnData, BackedAnnDataset
from scvi.models import VAE
from scvi.inference import UnsupervisedTrainer

mode, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
if threads > 0:
    torch.set_num_threads(threads)
start = time.perf_counter()
if mode == "memory":
    dataset = AnnDatasetFromAnnData(anndata.read_h5ad(path))
else:
    dataset = BackedAnnDataset(path)
load = time.perf_counter() - start
scvi.set_seed(0)
vae = VAE(dataset.nb_genes, n_batch=dataset.n_batches)
trainer = UnsupervisedTrainer(vae, dataset, train_size=1.0, show_progbar=False)
start = time.perf_counter()
trainer.train(n_epochs=1)
epoch = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("@@" + json.dumps(dict(mode=mode, load_s=load, epoch_s=epoch, peak_rss=rss)))
"""


def write_h5ad(path: str, n_cells: int, n_genes: int, density: float, seed: int):
    """A synthetic count matrix as a CSR ``.h5ad``, written block by block."""
    import anndata
    import h5py
    import pandas as pd
    import scipy.sparse as sp_sparse

    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {"batch_indices": rng.integers(0, 2, n_cells)},
        index=pd.RangeIndex(n_cells).astype(str),
    )
    var = pd.DataFrame(index=[f"gene{i}" for i in range(n_genes)])
    empty = sp_sparse.csr_matrix((n_cells, n_genes), dtype=np.float32)
    folder = os.path.dirname(os.path.abspath(path))
    handle, staging = tempfile.mkstemp(suffix=".h5ad", dir=folder)
    os.close(handle)
    try:
        anndata.AnnData(X=empty, obs=obs, var=var).write_h5ad(staging)
        gene_rate = rng.gamma(0.6, 2.0, n_genes)  # gene-specific mean counts
        with h5py.File(staging, "r+") as f:
            del f["X"]
            group = f.create_group("X")
            group.attrs.update(
                {
                    "encoding-type": "csr_matrix",
                    "encoding-version": "0.1.0",
                    "shape": np.array([n_cells, n_genes]),
                }
            )
            data = group.create_dataset(
                "data", (0,), np.float32, maxshape=(None,), chunks=(1 << 18,)
            )
            indices = group.create_dataset(
                "indices", (0,), np.int32, maxshape=(None,), chunks=(1 << 18,)
            )
            indptr = np.zeros(n_cells + 1, dtype=np.int64)
            block = 50_000
            for start in range(0, n_cells, block):
                rows = min(block, n_cells - start)
                draws = rng.binomial(n_genes, density, rows)
                row_of = np.repeat(np.arange(rows), draws)
                keys = np.unique(
                    row_of * n_genes + rng.integers(0, n_genes, row_of.size)
                )
                cols = (keys % n_genes).astype(np.int32)
                lengths = np.bincount(keys // n_genes, minlength=rows)
                values = (rng.poisson(gene_rate[cols]) + 1).astype(np.float32)
                first = indptr[start]
                indptr[start + 1 : start + rows + 1] = first + np.cumsum(lengths)
                for dataset, chunk in ((data, values), (indices, cols)):
                    dataset.resize((first + chunk.size,))
                    dataset[first:] = chunk
            group.create_dataset("indptr", data=indptr)
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise
    return int(indptr[-1])


def run_child(mode: str, path: str, threads: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, path, str(threads)],
        capture_output=True,
        text=True,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("@@")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} run failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1][2:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads")
    parser.add_argument("--keep", help="write (or reuse) the .h5ad at this path")
    args = parser.parse_args()
    folder = None
    path = args.keep
    if path is None:
        folder = tempfile.TemporaryDirectory()
        path = os.path.join(folder.name, "scale.h5ad")
    if not os.path.exists(path):
        nnz = write_h5ad(path, args.cells, args.genes, args.density, args.seed)
        mib = os.path.getsize(path) / 2**20
        print(
            f"wrote {path}: {args.cells} x {args.genes}, {nnz} non-zero "
            f"({nnz / args.cells / args.genes:.1%}), {mib:.0f} MiB",
            flush=True,
        )
    gib = 2.0**30
    results = {}
    for mode, limit in (("memory", 4.0), ("backed", 1.5)):
        r = results[mode] = run_child(mode, path, args.threads)
        rss = r["peak_rss"] / gib
        print(
            f"{mode:>6}: load {r['load_s']:.1f} s, epoch {r['epoch_s']:.1f} s "
            f"({1 / r['epoch_s']:.4f} epochs/s), peak RSS {rss:.2f} GiB "
            f"(target < {limit} GB: {'met' if rss * gib < limit * 1e9 else 'MISSED'})",
            flush=True,
        )
    ratio = results["memory"]["epoch_s"] / results["backed"]["epoch_s"]
    print(
        f"backed speed / in-memory speed: {ratio:.2f} "
        f"(target >= 0.50: {'met' if ratio >= 0.5 else 'MISSED'})"
    )
    if folder is not None:
        folder.cleanup()


if __name__ == "__main__":
    main()
