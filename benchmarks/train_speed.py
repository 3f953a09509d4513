"""Training speed and held-out likelihood of scVI, ours beside scvi 0.6.8.

Simulates a count matrix of 3,000 cells x 1,000 genes in 2 batches (5 cell types,
zero-inflated negative binomial counts at single-cell depth), trains the manual's
default VAE (1 hidden layer of 128 units, 10 latent dimensions, ZINB, gene
dispersion) with ``UnsupervisedTrainer(train_size=0.9, batch_size=128)``, and prints
epochs per second, the held-out negative ELBO and the held-out negative marginal
log-likelihood. With ``--peer-python`` the same script runs in that interpreter (an
environment made by ``../shared/tools/make-peer-env``, holding scvi 0.6.8) on the
same data and seeds, one run after the other, and the ratios are printed. The
held-out marginal log-likelihood of one training seed moves by about 1% with the
random stream alone, so the long runs are repeated for ``--train-seeds`` seeds (the
data stay those of ``--seed``) and the gap is taken between the means.

The speed of a shared virtual machine drifts by tens of percent over minutes, so
the speed ratio is not taken from the two long runs alone: after them, ``--rounds``
timing rounds alternate ours and the peer (``--round-epochs`` epochs each, a fresh
process each, timed after an untimed first epoch, no evaluation), and the median
of the per-round ratios is reported beside the ratio of the long runs.

Both runs execute the same code below (``RUNNER``): the API is the same.

Usage::

    python benchmarks/train_speed.py --epochs 200 --peer-python /path/to/peer/bin/python
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

RUNNER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.models import VAE
from scvi.inference import UnsupervisedTrainer

path, epochs, seed, mc, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
if threads > 0:
    torch.set_num_threads(threads)
data = np.load(path)
dataset = GeneExpressionDataset()
dataset.populate_from_data(data["X"], batch_indices=data["batches"])
np.random.seed(seed)
torch.manual_seed(seed)
vae = VAE(dataset.nb_genes, n_batch=dataset.n_batches)
trainer = UnsupervisedTrainer(
    vae, dataset, train_size=0.9, batch_size=128, use_cuda=False, frequency=None,
    show_progbar=False, seed=seed,
)
if mc == 0:  # timing round: leave the one-time set-up of the first epoch out
    trainer.train(n_epochs=1, lr=1e-3)
begin = time.perf_counter()
trainer.train(n_epochs=epochs, lr=1e-3)
seconds = time.perf_counter() - begin
elbo = marginal_ll = float("nan")
if mc > 0:  # mc = 0: a timing round, no evaluation
    torch.manual_seed(seed)
    elbo = float(trainer.test_set.elbo())
    torch.manual_seed(seed)
    marginal_ll = float(trainer.test_set.marginal_ll(n_mc_samples=mc))
print(json.dumps({
    "version": scvi.__version__, "epochs": epochs, "seconds": seconds,
    "epochs_per_second": epochs / seconds, "test_elbo": elbo,
    "test_marginal_ll": marginal_ll, "threads": torch.get_num_threads(),
}))
"""


def simulate(n_cells: int, n_genes: int, seed: int):
    """ZINB counts: 5 cell types, 2 batches, library sizes of single-cell depth."""
    rs = np.random.RandomState(seed)
    n_types = 5
    cell_types = rs.randint(n_types, size=n_cells)
    batches = rs.permutation(np.arange(n_cells) % 2)
    base = rs.normal(0.0, 1.5, size=n_genes)
    programs = base + rs.normal(0.0, 0.7, size=(n_types, n_genes))
    batch_effect = np.stack([np.zeros(n_genes), rs.normal(0.0, 0.3, size=n_genes)])
    log_rho = programs[cell_types] + batch_effect[batches]
    rho = np.exp(log_rho - log_rho.max(1, keepdims=True))
    rho /= rho.sum(1, keepdims=True)
    library = rs.lognormal(np.log(1500.0), 0.4, size=(n_cells, 1))
    mean = library * rho
    theta = rs.gamma(2.0, 1.0, size=n_genes) + 0.5
    counts = rs.poisson(rs.gamma(theta, mean / theta))
    dropout = rs.uniform(size=counts.shape) < 0.1
    counts[dropout] = 0
    return counts.astype(np.float32), batches


def run(python: str, path: str, args, epochs=None, mc_samples=None, seed=None):
    with tempfile.TemporaryDirectory() as cwd:  # so that `import scvi` is the install
        result = subprocess.run(
            [
                python,
                "-c",
                RUNNER,
                path,
                str(args.epochs if epochs is None else epochs),
                str(args.seed if seed is None else seed),
                str(args.mc_samples if mc_samples is None else mc_samples),
                str(args.threads),
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        sys.exit(f"{python} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mc-samples",
        type=int,
        default=100,
        help="importance samples of the marginal log-likelihood",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads in both runs (0: torch's default)",
    )
    parser.add_argument("--peer-python", help="python of an env holding scvi 0.6.8")
    parser.add_argument(
        "--train-seeds",
        type=int,
        default=3,
        help="training seeds (seed, seed + 1, ...) of the long runs, same data",
    )
    parser.add_argument(
        "--rounds", type=int, default=7, help="alternating timing rounds"
    )
    parser.add_argument(
        "--round-epochs", type=int, default=30, help="epochs of a timing round"
    )
    args = parser.parse_args()

    counts, batches = simulate(args.cells, args.genes, args.seed)
    print(
        f"data: {args.cells} cells x {args.genes} genes, 2 batches, "
        f"{(counts > 0).mean():.1%} non-zero, mean library {counts.sum(1).mean():.0f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "counts.npz")
        np.savez(path, X=counts, batches=batches)
        pythons = {"ours": sys.executable}
        if args.peer_python:
            pythons["peer"] = args.peer_python
        seeds = range(args.seed, args.seed + args.train_seeds)
        runs = {
            name: [run(python, path, args, seed=seed) for seed in seeds]
            for name, python in pythons.items()
        }
        ratios = []
        if args.peer_python:
            for _ in range(args.rounds):
                speeds = [
                    run(python, path, args, args.round_epochs, 0)["epochs_per_second"]
                    for python in (sys.executable, args.peer_python)
                ]
                ratios.append(speeds[0] / speeds[1])
    header = ("", "version", "seed", "epochs/s", "test -ELBO", "test -log p(x)")
    print("{:6} {:>8} {:>5} {:>9} {:>11} {:>15}".format(*header))
    for name, results in runs.items():
        for seed, r in zip(seeds, results):
            print(
                f"{name:6} {r['version']:>8} {seed:5d} {r['epochs_per_second']:9.2f} "
                f"{r['test_elbo']:11.2f} {r['test_marginal_ll']:15.2f}"
            )
    if "peer" in runs:

        def mean(name, key):
            return float(np.mean([r[key] for r in runs[name]]))

        speed = mean("ours", "epochs_per_second") / mean("peer", "epochs_per_second")
        peer_ll = mean("peer", "test_marginal_ll")
        ll_gap = (mean("ours", "test_marginal_ll") - peer_ll) / abs(peer_ll)
        gaps = [
            (o["test_marginal_ll"] - p["test_marginal_ll"]) / abs(p["test_marginal_ll"])
            for o, p in zip(runs["ours"], runs["peer"])
        ]
        print(
            f"speed ratio of the {args.epochs}-epoch runs (ours / peer, mean "
            f"epochs/s): {speed:.2f}x"
        )
        print(
            f"speed ratio, median of {len(ratios)} alternating rounds of "
            f"{args.round_epochs} epochs: {np.median(ratios):.2f}x  (target >= 1.5x; "
            f"rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
        print(
            f"held-out marginal log-likelihood, relative gap of the means over "
            f"{len(gaps)} seeds: {ll_gap:+.2%} (target within 1%; negative = ours "
            f"better; per seed: {', '.join(f'{g:+.2%}' for g in gaps)})"
        )


if __name__ == "__main__":
    main()
