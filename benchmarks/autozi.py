"""AutoZI's zero-inflation calls on simulated data, ours beside scvi 0.6.8.

Simulates ``--cells`` cells x ``--genes`` genes of 5 cell types: negative binomial
counts whose mean levels are spread over ``--levels`` (counts per cell, each gene
modulated by cell type and each cell by its library size), then, on a known subset
of the genes only (``--zi-share`` of them), extra zeros drawn as independent
Bernoulli variables of a per-gene rate taken from ``--rates``. Every combination of
level and rate holds about the same number of zero-inflated genes.

On it, trains the tutorial's AutoZI (``AutoZIVAE(alpha_prior=0.5, beta_prior=0.5,
minimal_dropout=0.01)``, zero-inflation per gene, ``UnsupervisedTrainer`` with its
defaults but ``train_size=0.9`` in both (the manual's default is 0.8, scvi 0.6.8's
0.9), ``train(lr=1e-2)``) for ``--epochs`` epochs, and scores the per-gene
posterior probability of zero-inflation ``q(delta_g < 0.5)`` against the truth: the
area under the ROC curve (AUROC), overall and per level and rate, and the accuracy of
the calls at the threshold 0.5. With ``--peer-python`` (an environment made by
``../shared/tools/make-peer-env``, holding scvi 0.6.8) the same code (``RUNNER``)
runs there too, on the same data and seeds, for ``--train-seeds`` training seeds;
the two trainings run side by side ``--block`` epochs at a time (``Runner`` and
``train_side_by_side`` of ``train_speed.py``), so the speed ratio of adjacent blocks
is printed as well. Targets: AUROC >= 0.8 and >= the peer's minus 0.02 (means over
the seeds).

Usage::

    python benchmarks/autozi.py --epochs 100 --peer-python /path/to/peer/bin/python
"""

import argparse
import os
import sys

import numpy as np
from scipy.special import betainc
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_speed import (  # noqa: E402
    CONTROL,
    EPOCH_CLOCK,
    Runner,
    add_side_by_side_arguments,
    run_seeds_side_by_side,
)

RUNNER = (
    r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.models import AutoZIVAE
from scvi.inference import UnsupervisedTrainer

path, epochs, seed, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4])
if threads > 0:
    torch.set_num_threads(threads)


"""
    + CONTROL
    + r"""

data = np.load(path)
dataset = GeneExpressionDataset()
dataset.populate_from_data(data["X"], labels=data["labels"])
np.random.seed(seed)
torch.manual_seed(seed)
model = AutoZIVAE(dataset.nb_genes, alpha_prior=0.5, beta_prior=0.5,
                  minimal_dropout=0.01)
trainer = UnsupervisedTrainer(model, dataset, train_size=0.9, use_cuda=False,
                              frequency=None, show_progbar=False, seed=seed)
"""
    + EPOCH_CLOCK
    + r"""say(ready=True)
trainer.train(n_epochs=epochs, lr=1e-2)
say(trained=True)
wait()
outputs = model.get_alphas_betas()
say(version=scvi.__version__, alpha=outputs["alpha_posterior"].tolist(),
    beta=outputs["beta_posterior"].tolist(), threads=torch.get_num_threads())
"""
)


def simulate(args):
    """NB counts of 5 cell types; Bernoulli zeros on a known subset of genes.

    Returns
    -------
    dict
        ``X`` (cells x genes, float32), ``labels``, and per gene ``is_zi``,
        ``level`` (nominal mean count) and ``rate`` (0 for genes without
        zero-inflation).
    """
    rs = np.random.RandomState(args.seed)
    n_cells, n_genes, n_types = args.cells, args.genes, 5
    labels = rs.randint(n_types, size=n_cells)
    # levels and rates cycle so that every (level, rate) pair is represented
    level = np.resize(np.asarray(args.levels, dtype=float), n_genes)
    order = rs.permutation(n_genes)
    level = level[order]
    is_zi = np.zeros(n_genes, dtype=bool)
    rate = np.zeros(n_genes)
    for value in args.levels:
        genes = np.flatnonzero(level == value)
        chosen = genes[: int(round(args.zi_share * len(genes)))]
        is_zi[chosen] = True
        rate[chosen] = np.resize(np.asarray(args.rates, dtype=float), len(chosen))
    programs = level * np.exp(rs.normal(0.0, 0.5, size=(n_types, n_genes)))
    library = rs.lognormal(0.0, 0.3, size=(n_cells, 1))
    mean = library * programs[labels]
    theta = rs.uniform(2.0, 10.0, size=n_genes)
    counts = rs.poisson(rs.gamma(theta, mean / theta))
    dropped = rs.uniform(size=counts.shape) < rate
    counts[dropped] = 0
    return {
        "X": counts.astype(np.float32),
        "labels": labels,
        "is_zi": is_zi,
        "level": level,
        "rate": rate,
    }


def autozi_runner(python: str, path: str, args, seed: int) -> Runner:
    """One AutoZI training process driven epoch by epoch (see ``RUNNER``)."""
    return Runner(python, [path, args.epochs, seed, args.threads], RUNNER)


def scores(result: dict, truth: dict) -> dict:
    """AUROC of ``q(delta_g < 0.5)`` overall and per level and rate; accuracy."""
    probability = betainc(np.asarray(result["alpha"]), np.asarray(result["beta"]), 0.5)
    is_zi = truth["is_zi"]
    out = {
        "auroc": roc_auc_score(is_zi, probability),
        "accuracy": float(np.mean((probability > 0.5) == is_zi)),
    }
    for level in np.unique(truth["level"]):
        genes = truth["level"] == level
        out[f"level {level:g}"] = roc_auc_score(is_zi[genes], probability[genes])
    for rate in np.unique(truth["rate"][is_zi]):
        genes = ~is_zi | (truth["rate"] == rate)
        out[f"rate {rate:g}"] = roc_auc_score(is_zi[genes], probability[genes])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--genes", type=int, default=240)
    parser.add_argument(
        "--levels", type=float, nargs="+", default=[0.5, 2.0, 8.0, 30.0]
    )
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[0.05, 0.15, 0.3, 0.5]
    )
    parser.add_argument("--zi-share", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    add_side_by_side_arguments(parser, block=10)
    args = parser.parse_args()

    truth = simulate(args)
    print(
        f"data: {args.cells} cells x {args.genes} genes, {truth['is_zi'].sum()} "
        f"zero-inflated (levels {args.levels}, rates {args.rates}), "
        f"{(truth['X'] == 0).mean():.1%} zeros; {args.epochs} epochs"
    )
    seeds, runs, ratios = run_seeds_side_by_side(
        lambda python, path, seed: autozi_runner(python, path, args, seed),
        {"X": truth["X"], "labels": truth["labels"]},
        args,
    )
    runs = {
        name: [{**result, **scores(result, truth)} for result in results]
        for name, results in runs.items()
    }
    keys = [k for k in runs["ours"][0] if k.startswith(("level", "rate"))]
    header = ["", "version", "seed", "epochs/s", "AUROC", "accuracy"] + keys
    print(" ".join(f"{h:>9}" for h in header))
    for name, results in runs.items():
        for seed, r in zip(seeds, results):
            cells = [name, r["version"], seed, f"{r['epochs_per_second']:.2f}"]
            cells += [f"{r[k]:.3f}" for k in ["auroc", "accuracy"] + keys]
            print(" ".join(f"{c:>9}" for c in cells))
    ours = float(np.mean([r["auroc"] for r in runs["ours"]]))
    line = f"AUROC of q(delta_g < 0.5), mean over seeds: ours {ours:.3f} (target >= 0.8"
    if "peer" in runs:
        peer = float(np.mean([r["auroc"] for r in runs["peer"]]))
        line += f" and >= peer - 0.02 = {peer - 0.02:.3f}); peer {peer:.3f}"
        print(line)
        print(
            f"speed ratio (ours / peer), median of {len(ratios)} adjacent blocks of "
            f"{args.block} epochs: {np.median(ratios):.2f}x"
        )
    else:
        print(line + ")")


if __name__ == "__main__":
    main()
