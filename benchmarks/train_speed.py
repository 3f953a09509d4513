"""Training speed and held-out likelihood of scVI, ours beside scvi 0.6.8.

Simulates a count matrix of 3,000 cells x 1,000 genes in 2 batches (5 cell types,
zero-inflated negative binomial counts at single-cell depth), trains the manual's
default VAE (1 hidden layer of 128 units, 10 latent dimensions, ZINB, gene
dispersion) with ``UnsupervisedTrainer(train_size=0.9, batch_size=128)`` for
``--epochs`` epochs in one ``train`` call, and prints epochs per second, the held-out
negative ELBO and the held-out negative marginal log-likelihood. With
``--peer-python`` (an environment made by ``../shared/tools/make-peer-env``, holding
scvi 0.6.8) the same script runs in that interpreter too, on the same data and
seeds, and the ratios are printed. Both runs execute the same code below
(``RUNNER``): the API is the same.

The speed of a shared virtual machine drifts by tens of percent within seconds, so
the two trainings are not run one after the other: both processes start, and
each waits for a go-ahead before every epoch. The two then take turns, ``--block``
epochs at a time (ours first in even turns, the peer first in odd ones), so that
each block of ours is timed next to a block of the peer's, under the same
conditions; the speed ratio is the median of the ratios of adjacent blocks (the
ratio of the total times is printed too). The held-out scores are computed after
both trainings, one process at a time. The held-out marginal log-likelihood of one
training seed moves by about 1% with the random stream alone, so the runs are
repeated for ``--train-seeds`` seeds (the data stay those of ``--seed``) and the gap
is taken between the means.

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

#: the runners' side of the protocol: ``say`` a message to the controller, ``wait``
#: for its go-ahead, ``stop_clock`` reports an epoch's seconds
CONTROL = r"""
def say(**message):  # lines for the controller start with @@
    print("@@" + json.dumps(message), flush=True)


def wait():  # block until the controller says go
    if sys.stdin.readline().strip() != "go":
        sys.exit(0)


def stop_clock(begin, cuda=False):  # the GPU finishes its work first
    if cuda:
        torch.cuda.synchronize()
    say(seconds=time.perf_counter() - begin)
"""

#: wraps the epoch hooks of ``trainer`` (a trainer of this library or of scvi
#: 0.6.8): wait for the go-ahead before each epoch, report its seconds after it
#: (synchronising the GPU where the runner set ``cuda``)
EPOCH_CLOCK = r"""
on_epoch_begin, on_epoch_end, clock = trainer.on_epoch_begin, trainer.on_epoch_end, {}


def timed_epoch_begin():
    wait()
    clock["begin"] = time.perf_counter()
    on_epoch_begin()


def timed_epoch_end():
    carry_on = on_epoch_end()
    stop_clock(clock["begin"], globals().get("cuda", False))
    return carry_on


trainer.on_epoch_begin, trainer.on_epoch_end = timed_epoch_begin, timed_epoch_end
"""

RUNNER = (
    r"""
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


"""
    + CONTROL
    + r"""

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
"""
    + EPOCH_CLOCK
    + r"""say(ready=True)
trainer.train(n_epochs=epochs, lr=1e-3)
say(trained=True)
wait()
torch.manual_seed(seed)
elbo = float(trainer.test_set.elbo())
torch.manual_seed(seed)
marginal_ll = float(trainer.test_set.marginal_ll(n_mc_samples=mc))
say(version=scvi.__version__, test_elbo=elbo, test_marginal_ll=marginal_ll,
    threads=torch.get_num_threads())
"""
)


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


class Runner:
    """One training process driven epoch by epoch: ``script`` (see ``RUNNER``) run
    by ``python -c`` with ``argv``, in an empty folder (so that ``import scvi`` is
    the installed package)."""

    def __init__(self, python: str, argv, script: str = RUNNER):
        self.cwd = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            [python, "-c", script] + [str(a) for a in argv],
            cwd=self.cwd.name,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.python = python
        self.seconds = []

    def message(self) -> dict:
        for line in self.process.stdout:
            if line.startswith("@@"):
                return json.loads(line[2:])
        self.process.wait()
        sys.exit(f"{self.python} failed:\n{self.process.stderr.read()[-3000:]}")

    def go(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def epochs(self, n: int) -> float:
        """Run ``n`` epochs; their total time in seconds."""
        total = 0.0
        for _ in range(n):
            self.go()
            message = self.message()
            self.seconds.append(message["seconds"])
            total += message["seconds"]
        return total

    def finish(self) -> dict:
        self.message()  # trained
        self.go()
        result = self.message()
        result["epochs_per_second"] = len(self.seconds) / sum(self.seconds)
        self.process.wait()
        self.cwd.cleanup()
        return result


def train_side_by_side(runners, epochs: int, block: int):
    """Alternate the runners ``block`` epochs at a time; per-turn block ratios."""
    for runner in runners:
        runner.message()  # ready
    ratios, done, turn = [], 0, 0
    while done < epochs:
        n = min(block, epochs - done)
        order = runners if turn % 2 == 0 else runners[::-1]
        times = {id(runner): runner.epochs(n) for runner in order}
        if len(runners) == 2:
            ratios.append(times[id(runners[1])] / times[id(runners[0])])
        done += n
        turn += 1
    return [runner.finish() for runner in runners], ratios


def add_side_by_side_arguments(parser, block: int = 5) -> None:
    """The options shared by the side-by-side benchmarks: ``--threads``,
    ``--peer-python``, ``--train-seeds`` and ``--block``."""
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
        help="training seeds (seed, seed + 1, ...), same data",
    )
    parser.add_argument(
        "--block", type=int, default=block, help="epochs per turn when alternating"
    )


def run_seeds_side_by_side(make_runner, data: dict, args):
    """Save ``data`` to a temporary ``.npz``, then for each training seed train ours
    (and the peer, with ``--peer-python``) side by side.

    ``make_runner(python, path, seed)`` starts one :class:`Runner`.

    Returns
    -------
    tuple
        ``(seeds, runs, ratios)``: the seeds, ``{"ours"/"peer": [result per
        seed]}`` and the speed ratios of all adjacent blocks.
    """
    pythons = {"ours": sys.executable}
    if args.peer_python:
        pythons["peer"] = args.peer_python
    seeds = range(args.seed, args.seed + args.train_seeds)
    runs = {name: [] for name in pythons}
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.npz")
        np.savez(path, **data)
        for seed in seeds:
            runners = [make_runner(python, path, seed) for python in pythons.values()]
            results, block_ratios = train_side_by_side(runners, args.epochs, args.block)
            ratios += block_ratios
            for name, result in zip(pythons, results):
                runs[name].append(result)
    return seeds, runs, ratios


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
    add_side_by_side_arguments(parser)
    args = parser.parse_args()

    counts, batches = simulate(args.cells, args.genes, args.seed)
    print(
        f"data: {args.cells} cells x {args.genes} genes, 2 batches, "
        f"{(counts > 0).mean():.1%} non-zero, mean library {counts.sum(1).mean():.0f}"
    )

    def runner(python, path, seed):
        argv = [path, args.epochs, seed, args.mc_samples, args.threads]
        return Runner(python, argv)

    seeds, runs, ratios = run_seeds_side_by_side(
        runner, {"X": counts, "batches": batches}, args
    )
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
        quartiles = np.percentile(ratios, [25, 75])
        print(
            f"speed ratio (ours / peer), median of {len(ratios)} adjacent blocks of "
            f"{args.block} epochs: {np.median(ratios):.2f}x (target >= 1.3x; "
            f"quartiles {quartiles[0]:.2f}-{quartiles[1]:.2f}); ratio of the mean "
            f"epochs/s: {speed:.2f}x"
        )
        peer_ll = mean("peer", "test_marginal_ll")
        ll_gap = (mean("ours", "test_marginal_ll") - peer_ll) / abs(peer_ll)
        gaps = [
            (o["test_marginal_ll"] - p["test_marginal_ll"]) / abs(p["test_marginal_ll"])
            for o, p in zip(runs["ours"], runs["peer"])
        ]
        print(
            f"held-out marginal log-likelihood, relative gap of the means over "
            f"{len(gaps)} seeds: {ll_gap:+.2%} (target within 1%; negative = ours "
            f"better; per seed: {', '.join(f'{g:+.2%}' for g in gaps)})"
        )


if __name__ == "__main__":
    main()
