"""The sub-commands: ``scvi train`` and ``scvi demo``."""

import argparse
import logging
import os
import sys

import numpy as np

from .covariates import (
    check_covariate_options,
    covariate_settings,
    drop_covariate_arrays,
)
from .launch import launch, needs_launch
from .models import FIT, resolve_model_options
from .proteins import DEFAULT_PROTEIN_KEY
from .reading import _check_counts, load_input
from .writing import _check_output, write_h5ad_atomically

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------- demo
def demo(args: argparse.Namespace) -> int:
    from .. import set_seed
    from ..dataset import SyntheticDataset

    set_seed(args.seed)
    dataset = SyntheticDataset(
        batch_size=args.cells_per_batch,
        nb_genes=args.genes,
        n_batches=args.batches,
        n_labels=args.labels,
    )
    print(dataset)
    return 0


# ------------------------------------------------------------------ training
def train(args: argparse.Namespace) -> int:
    if args.demo and args.input is not None:
        raise ValueError("give either INPUT or --demo, not both")
    if not args.demo and args.input is None:
        raise ValueError("give an INPUT file or folder to train on, or --demo")
    resolve_model_options(args)
    if args.dispersion == "gene-batch" and args.batch_key is None:
        raise ValueError("--dispersion gene-batch needs batches: give --batch-key")
    check_covariate_options(args)
    out = _check_output(args.out, args.force)
    nproc = getattr(args, "nproc", 1)
    if needs_launch(nproc):
        return launch(nproc, getattr(args, "argv", None) or sys.argv[1:])

    import torch

    from .. import __version__, set_seed

    set_seed(args.seed)
    dataset, cell_names, extra_obs, fmt = load_input(args)
    where = "the demo dataset" if args.demo else args.input
    _check_counts(dataset, where)
    n_train = int(np.floor(args.train_size * dataset.nb_cells))
    if n_train < 3:
        raise ValueError(
            f"{where} has {dataset.nb_cells} cells, {n_train} for training with "
            f"--train-size {args.train_size}: at least 3 are needed"
        )
    n_batch = dataset.n_batches if args.batch_key is not None else 0
    use_cuda = bool(args.use_cuda)
    if use_cuda and not torch.cuda.is_available():
        logger.warning("--use-cuda: no CUDA device is available, training on the CPU")
        use_cuda = False
    proteins = ""
    if args.model == "totalvi":
        proteins = f" and {dataset.protein_expression.shape[1]} proteins"
    logger.info(
        "Training %s on %i cells x %i genes%s (%s), %s",
        "totalVI" if args.model == "totalvi" else "scVI",
        dataset.nb_cells,
        dataset.nb_genes,
        proteins,
        fmt,
        f"{n_batch} batches" if n_batch else "no batch correction",
    )

    from ..inference.trainers import distributed

    launched = distributed.env_requests_distributed()  # a worker of --nproc
    try:
        fitted = FIT[args.model](args, dataset, n_batch, use_cuda)
        main_process = distributed.is_main_process()
    finally:
        if launched:
            distributed.shutdown()
    if not main_process:
        return 0  # under --nproc, rank 0 alone reports and writes
    trainer = fitted.trainer
    elbo_train = float(trainer.train_set.elbo())
    elbo_test = None
    if len(trainer.test_set.indices):
        elbo_test = float(trainer.test_set.elbo())

    adata = dataset.to_anndata()
    adata.obs_names = cell_names
    for column, values in extra_obs.items():
        if column not in adata.obs.columns:
            adata.obs[column] = values
    if args.model == "totalvi" and "protein_expression" in adata.obs.columns:
        # to_anndata puts a one-column measurement in obs: keep the proteins together
        del adata.obs["protein_expression"]
        adata.obsm["protein_expression"] = np.asarray(dataset.protein_expression)
    drop_covariate_arrays(args, adata)
    for key, values in fitted.obsm.items():
        adata.obsm[key] = values
    for key, values in fitted.layers.items():
        adata.layers[key] = values
    settings = {
        "scvi_version": __version__,
        "model": args.model,
        "input": "demo" if args.demo else os.path.abspath(args.input),
        "input_format": fmt,
        "batch_key": args.batch_key or "",
        "n_batch": int(n_batch),
        "n_epochs": args.epochs,
        "n_latent": args.n_latent,
        "n_hidden": args.n_hidden,
        "n_layers": args.n_layers,
        "dropout_rate": args.dropout_rate,
        "likelihood": args.likelihood,
        "dispersion": args.dispersion,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "train_size": args.train_size,
        "seed": args.seed,
        "use_cuda": bool(trainer.use_cuda),
        "training_time_s": float(fitted.training_time),
        "elbo_train_set": elbo_train,
    }
    if args.model == "totalvi":
        settings["protein_key"] = (
            "" if fmt != "h5ad" else args.protein_key or DEFAULT_PROTEIN_KEY
        )
    settings.update(covariate_settings(args, dataset))
    settings.update(fitted.settings)
    if elbo_test is not None:
        settings["elbo_test_set"] = elbo_test
    adata.uns["scvi"] = settings
    write_h5ad_atomically(adata, out)

    held_out = "" if elbo_test is None else f", test {elbo_test:.2f}"
    print(
        f"Wrote {out}: {adata.n_obs} cells x {adata.n_vars} genes, "
        f"{fitted.summary}; negative ELBO per cell: train {elbo_train:.2f}{held_out}"
    )
    return 0
