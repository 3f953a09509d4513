"""Training speed of scVI, ours beside scvi-tools 1.4, on the same architecture.

Simulates the counts of ``train_speed.py`` (``--cells`` x ``--genes``, 2 batches)
and trains, in two processes driven epoch by epoch side by side (``Runner`` and
``train_side_by_side`` of ``train_speed.py``, ``--block`` epochs at a time in
turn):

* ours: ``VAE(n_genes, n_batch=2, preset="modern")`` (observed library size, batch
  norm in encoder and decoder: scvi-tools' ``SCVI`` architecture) with
  ``UnsupervisedTrainer(train_size=0.9, batch_size=128)`` and ``train(lr=1e-3)``;
* scvi-tools: ``scvi.model.SCVI`` with its defaults (128 hidden units, 10 latent
  dimensions, ZINB, gene dispersion, KL warm-up over 400 epochs), trained by
  ``model.train(train_size=0.9, batch_size=128)`` without early stopping, from an
  interpreter given by ``--scvi-tools-python`` (a virtual environment holding
  scvi-tools; it imports as ``scvi`` too, hence the separate process).

Both process their epochs with the data in memory, no held-out metric during
training and ``--threads`` torch threads. Each epoch's clock runs from the start of
the epoch to its end (Lightning's ``on_train_epoch_start`` / ``on_train_epoch_end``
for scvi-tools; ``--cuda`` synchronises the GPU before it stops). After training,
each prints its held-out negative ELBO per cell on its own 10% of the cells (the
two libraries draw different held-out cells, so these agree only roughly).

Usage::

    python benchmarks/vs_scvi_tools.py --epochs 30 --scvi-tools-python /path/bin/python
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_speed import (  # noqa: E402
    CONTROL,
    EPOCH_CLOCK,
    Runner,
    add_side_by_side_arguments,
    run_seeds_side_by_side,
    simulate,
)

#: the start of both runner scripts: arguments, messages to the controller
PROLOGUE = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import logging
logging.disable(logging.WARNING)
import numpy as np, torch

path, epochs, seed, threads, cuda = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), bool(int(sys.argv[5]))
if threads > 0:
    torch.set_num_threads(threads)
cuda = cuda and torch.cuda.is_available()
data = np.load(path)

""" + CONTROL

OURS = (
    PROLOGUE
    + r"""
import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.models import VAE
from scvi.inference import UnsupervisedTrainer

dataset = GeneExpressionDataset()
dataset.populate_from_data(data["X"], batch_indices=data["batches"])
scvi.set_seed(seed)
vae = VAE(dataset.nb_genes, n_batch=dataset.n_batches, preset="modern")
trainer = UnsupervisedTrainer(
    vae, dataset, train_size=0.9, batch_size=128, use_cuda=cuda, frequency=None,
    show_progbar=False, seed=seed,
)
"""
    + EPOCH_CLOCK
    + r"""
say(ready=True)
trainer.train(n_epochs=epochs, lr=1e-3)
say(trained=True)
wait()
trainer.model.eval()
torch.manual_seed(seed)
say(version="ours " + scvi.__version__, test_elbo=float(trainer.test_set.elbo()))
"""
)

SCVI_TOOLS = PROLOGUE + r"""
import anndata
import lightning.pytorch as pl
import scvi

adata = anndata.AnnData(X=data["X"])
adata.obs["batch"] = data["batches"].astype(str)
scvi.settings.seed = seed
scvi.settings.verbosity = logging.ERROR
scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
model = scvi.model.SCVI(adata)


class Clock(pl.Callback):
    def on_train_epoch_start(self, trainer, module):
        wait()
        self.begin = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        stop_clock(self.begin, cuda)


say(ready=True)
model.train(
    max_epochs=epochs, accelerator="gpu" if cuda else "cpu", devices=1,
    train_size=0.9, batch_size=128, early_stopping=False, enable_progress_bar=False,
    callbacks=[Clock()], logger=False, enable_checkpointing=False,
)
say(trained=True)
wait()
torch.manual_seed(seed)
elbo = float(model.get_elbo(indices=model.validation_indices))  # the ELBO itself
say(version="scvi-tools " + scvi.__version__, test_elbo=-elbo)
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cuda", action="store_true", help="train on the GPU")
    parser.add_argument(
        "--scvi-tools-python", help="python of a virtual environment with scvi-tools"
    )
    add_side_by_side_arguments(parser)
    parser.set_defaults(train_seeds=1)
    args = parser.parse_args(argv)
    # run_seeds_side_by_side starts the second process from ``--peer-python``
    args.peer_python = args.scvi_tools_python

    counts, batches = simulate(args.cells, args.genes, args.seed)
    print(f"data: {args.cells} cells x {args.genes} genes, 2 batches")

    def runner(python, path, seed):
        script = OURS if python == sys.executable else SCVI_TOOLS
        argv = [path, args.epochs, seed, args.threads, int(args.cuda)]
        return Runner(python, argv, script)

    seeds, runs, ratios = run_seeds_side_by_side(
        runner, {"X": counts, "batches": batches}, args
    )
    print("{:22} {:>5} {:>9} {:>11}".format("", "seed", "epochs/s", "test -ELBO"))
    for results in runs.values():
        for seed, r in zip(seeds, results):
            print(
                f"{r['version']:22} {seed:5d} {r['epochs_per_second']:9.2f} "
                f"{r['test_elbo']:11.2f}"
            )
    if ratios:
        quartiles = np.percentile(ratios, [25, 75])
        print(
            f"speed ratio (ours / scvi-tools), median of {len(ratios)} adjacent blocks "
            f"of {args.block} epochs: {np.median(ratios):.2f}x (quartiles "
            f"{quartiles[0]:.2f}-{quartiles[1]:.2f})"
        )


if __name__ == "__main__":
    main()
