"""Peak memory of BrainLargeDataset on a generated 10x HDF5 of 200,000 cells.

Writes a (genes x cells) compressed sparse column matrix in the layout of the 10x
``brain_large.h5`` (group ``mm10`` with ``data``, ``indices``, ``indptr``,
``shape``) into a temporary folder, with per-gene expression levels drawn so that
about 5% of the entries are non-zero. Then, in a fresh process for each
``loading_batch_size``, loads it with :class:`scvi.dataset.BrainLargeDataset` and
prints the peak of traced memory (tracemalloc) and the growth of the maximum
resident set size (``resource.getrusage``), each relative to the size of the kept
sparse matrix (data + indices + indptr). The target is a ratio below 2.

Usage: python benchmarks/brain_large_memory.py [--cells N] [--genes G]
       [--batch-sizes 100000 10000] [--keep 720]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import h5py
import numpy as np


def write_brain_like_h5(path, n_cells, n_genes, seed=0, chunk=2_000):
    """Write a 10x-like HDF5 (genes x cells, CSC) of Poisson-like counts.

    Gene mean levels are log-normal, so a minority of genes is expressed in many
    cells (and is the most variable), as in real data. Returns the number of
    stored values.
    """
    rng = np.random.default_rng(seed)
    levels = np.exp(rng.normal(-3.6, 1.6, n_genes)).astype(np.float32)
    detection = 1.0 - np.exp(-levels)
    with h5py.File(path, "w") as handle:
        group = handle.create_group("mm10")
        data = group.create_dataset(
            "data", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(1 << 18,)
        )
        indices = group.create_dataset(
            "indices", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(1 << 18,)
        )
        indptr = np.zeros(n_cells + 1, dtype=np.int64)
        for start in range(0, n_cells, chunk):
            stop = min(start + chunk, n_cells)
            size = rng.lognormal(0.0, 0.3, (stop - start, 1)).astype(np.float32)
            hit = rng.random((stop - start, n_genes), dtype=np.float32) < np.minimum(
                detection * size, 1.0
            )
            cells, genes = np.nonzero(hit)
            counts = 1 + rng.poisson(levels[genes] * size[cells, 0])
            per_cell = np.bincount(cells, minlength=stop - start)
            indptr[start + 1 : stop + 1] = indptr[start] + np.cumsum(per_cell)
            old = data.shape[0]
            data.resize((old + genes.size,))
            indices.resize((old + genes.size,))
            data[old:] = counts.astype(np.int32)
            indices[old:] = genes.astype(np.int32)
        group.create_dataset("indptr", data=indptr)
        group.create_dataset("shape", data=np.array([n_genes, n_cells], dtype=np.int64))
        return int(indptr[-1])


def measure(path, batch_size, keep):
    """Load ``path`` and return the memory figures (run in a fresh process)."""
    import scvi
    from scvi.dataset.brain_large import BrainLargeDataset

    scvi.set_verbosity("WARNING")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    start = time.perf_counter()
    dataset = BrainLargeDataset(
        filename=os.path.basename(path),
        save_path=os.path.dirname(path),
        nb_genes_to_keep=keep,
        loading_batch_size=batch_size,
    )
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_delta = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    X = dataset.X
    size = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return dict(
        batch_size=batch_size,
        seconds=seconds,
        shape=list(X.shape),
        nnz=int(X.nnz),
        kept_bytes=size,
        peak=peak,
        ratio=peak / size,
        rss_delta=rss_delta,
        rss_ratio=rss_delta / size,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=5_000)
    parser.add_argument("--keep", type=int, default=720)
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[100_000, 10_000, 1_000]
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: one load, figures as JSON on stdout
        print(json.dumps(measure(args.measure, args.batch_sizes[0], args.keep)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "brain_large.h5")
        start = time.perf_counter()
        nnz = write_brain_like_h5(path, args.cells, args.genes)
        print(
            f"generated {args.cells} cells x {args.genes} genes, {nnz} values "
            f"({nnz / args.cells / args.genes:.1%} non-zero, "
            f"{os.path.getsize(path) / 2**20:.0f} MiB) in "
            f"{time.perf_counter() - start:.1f} s"
        )
        print(
            f"{'batch':>8} {'seconds':>8} {'kept nnz':>10} {'kept MiB':>9} "
            f"{'peak MiB':>9} {'ratio':>6} {'maxrss+ MiB':>12} {'ratio':>6}"
        )
        for batch_size in args.batch_sizes:
            command = [sys.executable, __file__, "--measure", path]
            command += ["--batch-sizes", str(batch_size), "--keep", str(args.keep)]
            output = subprocess.run(command, check=True, capture_output=True, text=True)
            r = json.loads(output.stdout.strip().splitlines()[-1])
            print(
                f"{r['batch_size']:>8} {r['seconds']:>8.1f} {r['nnz']:>10} "
                f"{r['kept_bytes'] / 2**20:>9.1f} {r['peak'] / 2**20:>9.1f} "
                f"{r['ratio']:>6.2f} {r['rss_delta'] / 2**20:>12.1f} "
                f"{r['rss_ratio']:>6.2f}"
            )


if __name__ == "__main__":
    main()
