"""The models of ``scvi train --model``: their option defaults, and fitting each
one to a dataset (``scvi``: a VAE and UnsupervisedTrainer, ``totalvi``: TOTALVI
and TotalTrainer)."""

import argparse
import logging
import time
from typing import Dict, NamedTuple

import numpy as np

from .covariates import covariate_model_kwargs

logger = logging.getLogger(__name__)

MODELS = ("scvi", "totalvi")

#: the defaults of the options left unset (None) on the command line: scVI 0.6's
#: defaults of each model (``n_epochs_kl_warmup=None``: totalVI warms up the KL
#: term over 0.75 x the number of cells in iterations)
MODEL_DEFAULTS = {
    "scvi": dict(
        epochs=400,
        lr=1e-3,
        n_epochs_kl_warmup=400,
        n_latent=10,
        n_hidden=128,
        dropout_rate=0.1,
        likelihood="zinb",
    ),
    "totalvi": dict(
        epochs=500,
        lr=4e-3,
        n_epochs_kl_warmup=None,
        n_latent=20,
        n_hidden=256,
        dropout_rate=0.2,
        likelihood="nb",
    ),
}

#: posterior samples averaged for totalVI's denoised expression (as in the tutorial)
DEFAULT_N_SAMPLES = 25

#: the options that only ``--model totalvi`` reads, and their default
_TOTALVI_OPTIONS = {
    "protein_key": None,
    "n_samples": None,
    "no_early_stopping": False,
}
_TOTALVI_LIKELIHOODS = ("zinb", "nb")
_TOTALVI_DISPERSIONS = ("gene", "gene-batch", "gene-label")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve_model_options(args: argparse.Namespace) -> None:
    """Fill the options left unset with the defaults of ``args.model`` and refuse
    those the model cannot use.

    Raises
    ------
    ValueError
        Naming the option: a totalVI option given with another model, or a
        likelihood or dispersion totalVI does not have.
    """
    model = getattr(args, "model", "scvi")
    if getattr(args, "modern", False):
        if args.epochs is None:  # the preset's epoch rule by dataset size
            args.epochs = "auto"
        if model == "scvi" and getattr(args, "n_epochs_kl_warmup", None) is None:
            args.n_epochs_kl_warmup = "auto"  # ends with training when it is short
    for name, value in MODEL_DEFAULTS[model].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if model != "totalvi":
        for name, default in _TOTALVI_OPTIONS.items():
            if getattr(args, name, default) != default:
                raise ValueError(
                    f"{_option(name)} is an option of --model totalvi, not of "
                    f"--model {model}"
                )
        return
    if args.n_samples is None:
        args.n_samples = DEFAULT_N_SAMPLES
    if args.likelihood not in _TOTALVI_LIKELIHOODS:
        raise ValueError(
            f"--likelihood {args.likelihood} is not available with --model totalvi "
            f"(choose {' or '.join(_TOTALVI_LIKELIHOODS)})"
        )
    if args.dispersion not in _TOTALVI_DISPERSIONS:
        raise ValueError(
            f"--dispersion {args.dispersion} is not available with --model totalvi "
            f"(choose {', '.join(_TOTALVI_DISPERSIONS)})"
        )


class Fitted(NamedTuple):
    """What a model adds to the output of ``scvi train``.

    Attributes
    ----------
    trainer
        The trainer, after training.
    training_time
        Seconds spent in ``trainer.train``.
    obsm, layers
        Arrays to write in the ``obsm`` and ``layers`` of the output (one row per
        cell, in the order of the dataset).
    settings
        Model-specific entries of ``uns["scvi"]`` (all but ``None`` values).
    summary
        What was written, for the last line ``scvi train`` prints.
    """

    trainer: object
    training_time: float
    obsm: Dict[str, np.ndarray]
    layers: Dict[str, np.ndarray]
    settings: dict
    summary: str


def _float32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _resolve_preset(args, dataset):
    """The model preset of ``--modern`` (None without it); an ``"auto"`` epoch
    count becomes the preset's rule by dataset size, and an ``"auto"`` KL
    warm-up ``min(epochs, 400)``, so that ``uns["scvi"]`` records the numbers."""
    from ..inference.trainers.unsupervised import auto_kl_warmup_epochs, auto_n_epochs

    if args.epochs == "auto":
        args.epochs = auto_n_epochs(dataset.nb_cells)
    if getattr(args, "n_epochs_kl_warmup", None) == "auto":
        args.n_epochs_kl_warmup = auto_kl_warmup_epochs(args.epochs)
    return "modern" if getattr(args, "modern", False) else None


def fit_scvi(args, dataset, n_batch: int, use_cuda: bool) -> Fitted:
    """Train scVI (a VAE) on ``dataset``: latent means and normalized expression.

    Parameters
    ----------
    args
        The options of ``scvi train``, resolved by :func:`resolve_model_options`.
    dataset
        The dataset read from the input.
    n_batch
        The number of batches corrected for (0: none).
    use_cuda
        Train on the GPU.

    Returns
    -------
    Fitted
        The trainer and what the model adds to the output.
    """
    from ..inference import UnsupervisedTrainer
    from ..models import VAE

    preset = _resolve_preset(args, dataset)
    model = VAE(
        dataset.nb_genes,
        n_batch=n_batch,
        n_labels=dataset.n_labels if args.dispersion == "gene-label" else 0,
        n_hidden=args.n_hidden,
        n_latent=args.n_latent,
        n_layers=args.n_layers,
        dropout_rate=args.dropout_rate,
        dispersion=args.dispersion,
        reconstruction_loss=args.likelihood,
        preset=preset,
        **covariate_model_kwargs(args, dataset),
    )
    trainer = UnsupervisedTrainer(
        model,
        dataset,
        train_size=args.train_size,
        n_epochs_kl_warmup=args.n_epochs_kl_warmup,
        use_cuda=use_cuda,
        show_progbar=not args.no_progress,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    begin = time.time()
    trainer.train(n_epochs=args.epochs, lr=args.lr)
    training_time = time.time() - begin
    full = trainer.create_posterior(
        trainer.model, dataset, indices=np.arange(dataset.nb_cells)
    ).sequential(batch_size=args.batch_size)
    latent, _, _ = full.get_latent(give_mean=True)
    return Fitted(
        trainer=trainer,
        training_time=training_time,
        obsm={"X_scVI": _float32(latent)},
        layers={"scvi_normalized": _float32(full.get_sample_scale())},
        settings={"n_epochs_kl_warmup": args.n_epochs_kl_warmup, "preset": preset},
        summary=f"obsm['X_scVI'] {latent.shape}, layers['scvi_normalized']",
    )


def fit_totalvi(args, dataset, n_batch: int, use_cuda: bool) -> Fitted:
    """Train totalVI (TOTALVI) on the genes and proteins of ``dataset``: latent
    means, denoised genes and proteins, and the proteins' foreground probability,
    each averaged over ``args.n_samples`` posterior samples.

    Parameters
    ----------
    args
        The options of ``scvi train``, resolved by :func:`resolve_model_options`.
    dataset
        The dataset read from the input, with checked protein counts
        (``protein_expression``).
    n_batch
        The number of batches corrected for (0: none).
    use_cuda
        Train on the GPU.

    Returns
    -------
    Fitted
        The trainer and what the model adds to the output.
    """
    from ..inference import TotalTrainer
    from ..models import TOTALVI

    n_proteins = dataset.protein_expression.shape[1]
    preset = _resolve_preset(args, dataset)
    model = TOTALVI(
        dataset.nb_genes,
        n_proteins,
        n_batch=n_batch,
        n_labels=dataset.n_labels if args.dispersion == "gene-label" else 0,
        n_hidden=args.n_hidden,
        n_latent=args.n_latent,
        n_layers_encoder=args.n_layers,
        n_layers_decoder=args.n_layers,
        dropout_rate_encoder=args.dropout_rate,
        dropout_rate_decoder=args.dropout_rate,
        gene_dispersion=args.dispersion,
        reconstruction_loss_gene=args.likelihood,
        preset=preset,
        **covariate_model_kwargs(args, dataset),
    )
    n_train = int(np.floor(args.train_size * dataset.nb_cells))
    early_stopping = not args.no_early_stopping and n_train < dataset.nb_cells
    trainer = TotalTrainer(
        model,
        dataset,
        train_size=args.train_size,
        test_size=None,  # the cells not trained on
        n_epochs_kl_warmup=args.n_epochs_kl_warmup,
        early_stopping_kwargs="auto" if early_stopping else None,
        use_cuda=use_cuda,
        show_progbar=not args.no_progress,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    begin = time.time()
    trainer.train(n_epochs=args.epochs, lr=args.lr)
    training_time = time.time() - begin
    full = trainer.create_posterior(
        trainer.model, dataset, indices=np.arange(dataset.nb_cells)
    ).sequential(batch_size=args.batch_size)
    latent = full.get_latent()[0]
    genes, proteins = full.get_normalized_denoised_expression(
        n_samples=args.n_samples, give_mean=True
    )
    background = full.get_sample_mixing(n_samples=args.n_samples, give_mean=True)
    settings = {
        "n_proteins": int(n_proteins),
        "n_samples": args.n_samples,
        "early_stopping": bool(early_stopping),
        "n_epochs_trained": int(trainer.epoch + 1),
    }
    if preset is not None:
        settings["preset"] = preset
    if args.n_epochs_kl_warmup is not None:
        settings["n_epochs_kl_warmup"] = args.n_epochs_kl_warmup
    else:
        settings["n_iter_kl_warmup"] = float(trainer.n_iter_kl_warmup)
    return Fitted(
        trainer=trainer,
        training_time=training_time,
        obsm={
            "X_totalVI": _float32(latent),
            "totalvi_denoised_proteins": _float32(proteins),
            "totalvi_protein_foreground_prob": _float32(1.0 - background),
        },
        layers={"totalvi_denoised_genes": _float32(genes)},
        settings=settings,
        summary=f"obsm['X_totalVI'] {latent.shape}, layers['totalvi_denoised_genes'], "
        f"obsm['totalvi_denoised_proteins'] and "
        f"obsm['totalvi_protein_foreground_prob'] ({n_proteins} proteins)",
    )


#: the function fitting each model of ``--model``
FIT = {"scvi": fit_scvi, "totalvi": fit_totalvi}
