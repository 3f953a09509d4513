"""Hyper-parameter search on the Cortex fixture: does it beat the defaults, and does
the parallel mode save time?

1. Quality: ``auto_tune_scvi_model`` with scVI 0.6's default space, ``--evals``
   trials of ``--epochs`` epochs (held-out ELBO early stopping, best state kept),
   in process; the best trial's held-out marginal negative log-likelihood against
   that of the manual's default ``VAE`` parameters (``n_latent=10, n_hidden=128,
   n_layers=1, dropout_rate=0.1, zinb, lr=1e-3``) trained by the same objective for
   the same epochs. Every trial and the default run use the same train/test split
   (trainer ``seed``) and the same importance samples, so the losses compare.
   Target: tuned <= default.
2. Speed: ``--speed-evals`` short trials (``--speed-epochs`` epochs) on a synthetic
   dataset of ``--speed-cells`` cells x 200 genes (the Cortex fixture's trials last
   well under the few seconds Ray takes to start), in process and with
   ``parallel=True, n_cpu_workers=2`` (a local Ray started and stopped by the call,
   counted in the time); the ratio of the wall times. Target: parallel faster.

Usage::

    python benchmarks/autotune.py --evals 20 --epochs 100
"""

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scvi.dataset import CortexDataset, SyntheticDataset
from scvi.inference.autotune import auto_tune_scvi_model, objective_hyperopt

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = FIXTURES / "scvi-0.6-fixtures"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(FIXTURES), help="folder of expression.bin"
    )
    parser.add_argument("--evals", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--mc-samples", type=int, default=200)
    parser.add_argument("--speed-evals", type=int, default=8)
    parser.add_argument("--speed-epochs", type=int, default=20)
    parser.add_argument("--speed-cells", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only-speed", action="store_true", help="skip part 1")
    args = parser.parse_args()
    logging.getLogger("scvi").setLevel(logging.ERROR)
    dataset = CortexDataset(save_path=args.data, total_genes=None)
    print(f"data: {dataset.nb_cells} cells x {dataset.nb_genes} genes from {args.data}")
    fixed = dict(
        trainer_specific_kwargs={"seed": args.seed},
        metric_kwargs={"n_mc_samples": args.mc_samples},
    )
    out = tempfile.mkdtemp()

    # 1. quality
    if not args.only_speed:
        quality(dataset, args, fixed, out)
    speed_ratio(args, fixed, out)


def quality(dataset, args, fixed: dict, out: str) -> None:
    """Part 1: tuned against default parameters, same epochs and split."""
    torch.manual_seed(args.seed)
    _, trials = auto_tune_scvi_model(
        "benchmark",
        dataset,
        max_evals=args.evals,
        parallel=False,
        train_best=False,
        save_path=out,
        train_func_specific_kwargs={"n_epochs": args.epochs},
        seed=args.seed,
        **fixed,
    )
    table = trials.dataframe()
    ok = table[table["status"] == "ok"]
    best = ok.loc[ok["loss"].idxmin()]
    torch.manual_seed(args.seed)
    default = objective_hyperopt(
        {},
        gene_dataset=dataset,
        train_func_specific_kwargs={"n_epochs": args.epochs, "lr": 1e-3},
        **fixed,
    )["loss"]
    columns = ["n_latent", "n_hidden", "n_layers", "dropout_rate"]
    columns += ["reconstruction_loss", "lr"]
    print(f"{len(ok)}/{len(table)} trials ok; best: {best[columns].to_dict()}")
    verdict = "met" if best["loss"] <= default else "MISSED"
    print(
        f"held-out marginal NLL: tuned {best['loss']:.3f}, defaults {default:.3f} "
        f"(target tuned <= defaults: {verdict})"
    )


def speed_ratio(args, fixed: dict, out: str) -> None:
    """Part 2: the same short trials in process and on a 2-CPU local Ray."""
    speed = dict(
        max_evals=args.speed_evals,
        train_best=False,
        save_path=out,
        train_func_specific_kwargs={"n_epochs": args.speed_epochs},
        seed=args.seed,
        **fixed,
    )
    synthetic = SyntheticDataset(batch_size=args.speed_cells // 2, nb_genes=200)
    begin = time.perf_counter()
    auto_tune_scvi_model("serial", synthetic, parallel=False, **speed)
    serial = time.perf_counter() - begin
    begin = time.perf_counter()
    _, trials = auto_tune_scvi_model(
        "parallel", synthetic, parallel=True, n_cpu_workers=2, **speed
    )
    parallel = time.perf_counter() - begin
    finished = int(np.sum(trials.dataframe()["status"] == "ok"))
    verdict = "met" if parallel < serial else "MISSED"
    print(
        f"{args.speed_evals} trials of {args.speed_epochs} epochs on "
        f"{synthetic.nb_cells} x {synthetic.nb_genes}: in process "
        f"{serial:.1f} s ({torch.get_num_threads()} torch threads), on Ray with 2 "
        f"CPU workers {parallel:.1f} s ({finished} ok), ratio {serial / parallel:.2f}x "
        f"(target > 1: {verdict})"
    )


if __name__ == "__main__":
    main()
