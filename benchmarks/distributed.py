"""Data-parallel training speed: 1 process against N (torch.distributed).

Trains the manual's default VAE (1 hidden layer of 128 units, 10 latent
dimensions, ZINB) with ``UnsupervisedTrainer(train_size=0.9)`` on simulated counts
(``--cells`` x ``--genes``, 2 batches) for ``--epochs`` epochs, at the same
global mini-batch (``--batch-size`` cells per step, split evenly between the
processes, so both runs take the same optimisation steps), and prints epochs per
second of 1 process and of N, and their ratio.

* CPU: 1 against 2 gloo processes, each limited to ONE thread
  (``torch.set_num_threads(1)``), so the comparison is of data parallelism alone,
  not of two processes against one multi-threaded one.
* GPU: 1 against ``torch.cuda.device_count()`` NCCL processes (one GPU each),
  when there are at least 2 GPUs.

A shared machine's speed drifts, so the runs alternate (1, N, N, 1, ...) for
``--repeats`` pairs; the ratio printed is the median of the ratios of adjacent
runs. Each run's time is its training time (``trainer.training_time``), without
the start-up of the processes.

Usage::

    python benchmarks/distributed.py --epochs 20 --repeats 2
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def simulate(n_cells: int, n_genes: int, seed: int = 0):
    """Counts of 5 cell types in 2 batches (negative binomial with dropouts)."""
    rs = np.random.RandomState(seed)
    types = rs.randint(5, size=n_cells)
    programs = rs.gamma(0.6, 1.0, size=(5, n_genes))
    library = rs.lognormal(7.0, 0.4, size=(n_cells, 1))
    rate = library * programs[types] / programs[types].sum(1, keepdims=True)
    counts = rs.poisson(rs.gamma(2.0, rate / 2.0)) * (rs.rand(n_cells, n_genes) > 0.1)
    return counts.astype(np.float32), np.arange(n_cells) % 2


def worker(args) -> None:
    """One process of a run (started by torchrun, or alone): rank 0 prints JSON."""
    import torch

    import scvi
    from scvi.dataset import GeneExpressionDataset
    from scvi.inference import UnsupervisedTrainer
    from scvi.inference.trainers.distributed import is_main_process, world_size
    from scvi.models import VAE

    if not args.use_cuda:
        torch.set_num_threads(1)
    scvi.set_seed(0)
    counts, batches = simulate(args.cells, args.genes)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(counts, batch_indices=batches)
    n_proc = int(os.environ.get("WORLD_SIZE", "1"))
    model = VAE(dataset.nb_genes, n_batch=dataset.n_batches)
    trainer = UnsupervisedTrainer(
        model,
        dataset,
        train_size=0.9,
        batch_size=args.batch_size // n_proc,
        use_cuda=args.use_cuda,
        show_progbar=False,
        distributed=n_proc > 1,
    )
    trainer.train(n_epochs=args.epochs, lr=1e-3)
    if is_main_process():
        print(
            "@@"
            + json.dumps(
                {
                    "processes": world_size(),
                    "epochs_per_s": args.epochs / trainer.training_time,
                    "elbo_test": float(trainer.test_set.elbo()),
                }
            ),
            flush=True,
        )


def run(n_proc: int, args) -> dict:
    """Start a run of ``n_proc`` processes and return rank 0's figures."""
    options = [
        "--worker",
        f"--cells={args.cells}",
        f"--genes={args.genes}",
        f"--epochs={args.epochs}",
        f"--batch-size={args.batch_size}",
    ] + (["--use-cuda"] if args.use_cuda else [])
    script = os.path.abspath(__file__)
    if n_proc == 1:
        command = [sys.executable, script, *options]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={n_proc}",
            script,
            *options,
        ]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    env["OMP_NUM_THREADS"] = (
        "1" if not args.use_cuda else env.get("OMP_NUM_THREADS", "4")
    )
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            command, env=env, cwd=folder, capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"run of {n_proc} processes failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("@@"))
    return json.loads(line[2:])


def compare(n_proc: int, args, label: str) -> None:
    """Alternate runs of 1 and ``n_proc`` processes; print speeds and ratios."""
    ratios, speeds = [], {1: [], n_proc: []}
    for repeat in range(args.repeats):
        order = (1, n_proc) if repeat % 2 == 0 else (n_proc, 1)
        result = {n: run(n, args) for n in order}
        for n in order:
            speeds[n].append(result[n]["epochs_per_s"])
            print(f"{label} {n} process(es): {result[n]}", flush=True)
        ratios.append(result[n_proc]["epochs_per_s"] / result[1]["epochs_per_s"])
    print(
        f"{label}: 1 process {np.median(speeds[1]):.3f} epochs/s, {n_proc} processes "
        f"{np.median(speeds[n_proc]):.3f} epochs/s; speed-up {n_proc} vs 1 = "
        f"{np.median(ratios):.2f}x (median of {len(ratios)} adjacent pairs, "
        f"ideal {n_proc}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=4000)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256, help="global")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--use-cuda", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-cpu", action="store_true", help="GPU comparison only")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.skip_cpu:
        compare(2, args, "CPU (gloo, 1 thread per process)")
    import torch

    n_gpus = torch.cuda.device_count()
    if n_gpus > 1:
        args.use_cuda = True
        compare(n_gpus, args, f"GPU (NCCL, {n_gpus} GPUs)")
    else:
        print(f"GPU comparison skipped: {n_gpus} GPU(s) visible, 2 needed")


if __name__ == "__main__":
    main()
