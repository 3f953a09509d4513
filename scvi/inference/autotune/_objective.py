"""The default objective of a trial and the wrapper that runs any objective: its
run time, its failure or timeout recorded instead of raised."""

import contextlib
import logging
import time
import traceback
from typing import Callable, Optional

import numpy as np

from ...models import VAE
from ..posterior import Posterior
from ..trainers import Trainer, UnsupervisedTrainer
from ._space import DEFAULT_EARLY_STOPPING

logger = logging.getLogger("scvi.inference.autotune")


class TrialTimeout(RuntimeError):
    """A trial ran past its time limit (raised at the end of an epoch)."""


def plain(value):
    """NumPy scalars (as hyperopt samples them) -> Python numbers, recursively."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def metric_direction(trainer_class, metric_name: Optional[str]) -> str:
    """``"min"`` or ``"max"``: in which direction ``metric_name`` improves (the
    ``mode`` mark of the posterior method; the held-out marginal negative
    log-likelihood by default)."""
    if metric_name is None:
        return "min"
    posterior_class = getattr(trainer_class, "posterior_class", Posterior)
    method = getattr(posterior_class, metric_name, None)
    if not callable(method):
        raise ValueError(
            f"metric_name={metric_name!r} is not a method of "
            f"{posterior_class.__name__}"
        )
    return getattr(method, "mode", None) or "min"


def fixed_trainer_kwargs(trainer_specific_kwargs: Optional[dict]) -> dict:
    """The trainer keywords of every trial: held-out ELBO early stopping with its
    best state kept, metrics every epoch, no progress bar, the GPU when present;
    ``trainer_specific_kwargs`` override them."""
    fixed = {
        "early_stopping_kwargs": dict(DEFAULT_EARLY_STOPPING),
        "use_cuda": True,
        "show_progbar": False,
        "frequency": 1,
    }
    fixed.update(trainer_specific_kwargs or {})
    return fixed


def objective_hyperopt(
    space: dict,
    is_best_training: bool = False,
    *,
    gene_dataset,
    delayed_populating: bool = False,
    model_class=VAE,
    trainer_class=UnsupervisedTrainer,
    metric_name: Optional[str] = None,
    metric_kwargs: Optional[dict] = None,
    posterior_name: str = "test_set",
    model_specific_kwargs: Optional[dict] = None,
    trainer_specific_kwargs: Optional[dict] = None,
    train_func_specific_kwargs: Optional[dict] = None,
    use_batches: bool = False,
    best_n_epochs: Optional[int] = None,
):
    """scVI 0.6's objective: train a model with the parameters of ``space`` and
    score it.

    Parameters
    ----------
    space
        The sampled parameters: ``{"model_tunable_kwargs": ...,
        "trainer_tunable_kwargs": ..., "train_func_tunable_kwargs": ...}`` (any
        group may be absent); they override the ``*_specific_kwargs``.
    is_best_training
        Train the final model instead: on every cell (``train_size=1.0`` for an
        :class:`UnsupervisedTrainer`, no early stopping), for ``best_n_epochs``.
    gene_dataset
        The data; with ``delayed_populating`` it is populated here first (so that
        a dataset too large to ship is read by each worker).
    model_class, trainer_class
        What to build: ``model_class(gene_dataset.nb_genes, n_batch=...,
        **model_kwargs)`` and ``trainer_class(model, gene_dataset,
        **trainer_kwargs)``.
    metric_name, metric_kwargs, posterior_name
        The score: ``getattr(trainer, posterior_name).<metric_name>(
        **metric_kwargs)``, by default the held-out marginal negative
        log-likelihood (``marginal_ll``). Metrics where larger is better
        (``mode == "max"``, e.g. ``entropy_batch_mixing``) are negated in the loss.
    model_specific_kwargs, trainer_specific_kwargs, train_func_specific_kwargs
        Fixed keywords of the model, the trainer and ``train``.
    use_batches
        Give the model the dataset's batches (``n_batch``); else ``n_batch=0``.
    best_n_epochs
        Epochs of the final training (default: those of ``train_func``).

    Returns
    -------
    dict or Trainer
        hyperopt's result (``loss``, ``status``, ``metric``, ``space``,
        ``n_epochs``, ``best_epoch``, ``history``), or the trained trainer when
        ``is_best_training``.
    """
    space = plain(space)
    if delayed_populating and getattr(gene_dataset, "X", None) is None:
        gene_dataset.populate()
    model_kwargs = dict(model_specific_kwargs or {})
    model_kwargs.update(space.get("model_tunable_kwargs", {}))
    trainer_kwargs = fixed_trainer_kwargs(trainer_specific_kwargs)
    trainer_kwargs.update(space.get("trainer_tunable_kwargs", {}))
    train_kwargs = dict(train_func_specific_kwargs or {})
    train_kwargs.update(space.get("train_func_tunable_kwargs", {}))
    if is_best_training:
        if issubclass(trainer_class, UnsupervisedTrainer):
            trainer_kwargs.update(train_size=1.0, test_size=None)
        trainer_kwargs["early_stopping_kwargs"] = None
        if best_n_epochs is not None:
            train_kwargs["n_epochs"] = best_n_epochs
    logger.debug(
        "Parameters being tested:\nmodel:\n%s\ntrainer:\n%s\ntrain method:\n%s",
        model_kwargs,
        trainer_kwargs,
        train_kwargs,
    )
    n_batch = gene_dataset.n_batches if use_batches else 0
    model = model_class(gene_dataset.nb_genes, n_batch=n_batch, **model_kwargs)
    trainer = trainer_class(model, gene_dataset, **trainer_kwargs)
    trainer.train(**train_kwargs)
    if is_best_training:
        return trainer
    posterior = getattr(trainer, posterior_name, None)
    if posterior is None:
        raise ValueError(
            f"posterior_name={posterior_name!r} is not a posterior of "
            f"{trainer_class.__name__}"
        )
    method = metric_name or "marginal_ll"
    value = getattr(posterior, method)(**(metric_kwargs or {}))
    if isinstance(value, (tuple, list, dict)) or np.ndim(value) != 0:
        raise ValueError(f"metric {method!r} returned {value!r}, not one number")
    value = float(value)
    sign = -1.0 if metric_direction(trainer_class, metric_name) == "max" else 1.0
    return {
        "loss": sign * value,
        "metric": value,
        "status": "ok",
        "space": space,
        "n_epochs": trainer.epoch + 1,
        "best_epoch": getattr(trainer, "best_epoch", None),
        "history": {
            key: plain(list(values)) for key, values in trainer.history.items()
        },
    }


@contextlib.contextmanager
def time_limit(seconds: Optional[float]):
    """Within the block, a :class:`Trainer` whose epoch ends after ``seconds``
    raises :class:`TrialTimeout` (checked once per epoch, no thread)."""
    if seconds is None:
        yield
        return
    deadline = time.monotonic() + seconds
    original = Trainer.on_epoch_end

    def on_epoch_end(self):
        if time.monotonic() > deadline:
            raise TrialTimeout(f"the trial ran past its time limit of {seconds} s")
        return original(self)

    Trainer.on_epoch_end = on_epoch_end
    try:
        yield
    finally:
        Trainer.on_epoch_end = original


def run_trial(
    objective: Callable, params: dict, trial_timeout: Optional[float] = None
) -> dict:
    """``objective(params)`` as a hyperopt result that never raises.

    Parameters
    ----------
    objective
        Takes the sampled parameters and returns hyperopt's result dict (or a
        number, the loss).
    params
        The sampled parameters.
    trial_timeout
        Seconds after which the trial's training stops with a failure.

    Returns
    -------
    dict
        The objective's result plus ``run_time`` (seconds); a trial that raised
        or timed out has ``status="fail"``, ``error`` (its message) and
        ``timed_out``.
    """
    begin = time.time()
    try:
        with time_limit(trial_timeout):
            result = objective(params)
        if not isinstance(result, dict):
            result = {"loss": float(result), "status": "ok"}
        result = dict(result)
        result.setdefault("space", plain(params))
        result.setdefault("status", "ok")
        result["timed_out"] = False
    except Exception as error:  # a failed trial is recorded, the search goes on
        logger.debug("Trial failed:\n%s", traceback.format_exc())
        result = failure(
            params,
            f"{type(error).__name__}: {error}",
            timed_out=isinstance(error, TrialTimeout),
        )
    result["run_time"] = time.time() - begin
    return result


def failure(params: dict, error: str, timed_out: bool = False) -> dict:
    """hyperopt's result of a failed trial (``run_time`` None until set)."""
    return {
        "status": "fail",
        "space": plain(params),
        "error": error,
        "timed_out": timed_out,
        "run_time": None,
    }
