"""``auto_tune_scvi_model``: the search, its record and the final training."""

import functools
import logging
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..._settings import progress_bar_enabled
from ...models import VAE
from ..trainers import Trainer, UnsupervisedTrainer
from ._engines import ray as ray_module
from ._in_process import search_in_process
from ._objective import fixed_trainer_kwargs, metric_direction, objective_hyperopt
from ._ray_search import search_with_ray, start_ray
from ._space import check_space, default_space
from ._trials import AutotuneTrials, save_trials

logger = logging.getLogger("scvi.inference.autotune")

_MONGO_DEFAULTS = {
    "mongo_port": "1234",
    "mongo_host": "localhost",
    "db_name": "scvi_db",
    "multiple_hosts": False,
}


def trials_path(save_path: str, exp_key: str) -> str:
    """Where the trials of ``exp_key`` are pickled."""
    return os.path.join(save_path, f"trials_{exp_key}.pkl")


def _check_arguments(exp_key, gene_dataset, custom_objective, max_evals):
    if not isinstance(exp_key, str) or not exp_key:
        raise ValueError(f"exp_key must be a non-empty string, got {exp_key!r}")
    if custom_objective is None and gene_dataset is None:
        raise ValueError(
            "gene_dataset is required unless custom_objective_hyperopt is given"
        )
    if custom_objective is not None and not callable(custom_objective):
        raise ValueError("custom_objective_hyperopt must be callable")
    if isinstance(max_evals, bool) or not isinstance(max_evals, (int, np.integer)):
        raise ValueError(f"max_evals must be a positive integer, got {max_evals!r}")
    if max_evals < 1:
        raise ValueError(f"max_evals must be a positive integer, got {max_evals}")


def _check_mongo(parallel: bool, mongo: dict, address: Optional[str]) -> None:
    """The MongoDB arguments of scVI 0.6 are accepted; the parallel engine is
    Ray, which they do not configure."""
    changed = {k: v for k, v in mongo.items() if v != _MONGO_DEFAULTS[k]}
    if not changed:
        return
    if not parallel:
        logger.warning("%s: MongoDB is not used (parallel=False)", sorted(changed))
        return
    try:
        ray_module()
    except ImportError as error:
        raise ImportError(
            f"{sorted(changed)} configure MongoDB, which scvi does not use: the "
            'parallel engine is Ray (pip install "scvi[autotune]"); give a Ray '
            "cluster with address= or RAY_ADDRESS"
        ) from error
    if mongo["multiple_hosts"] and not (address or os.environ.get("RAY_ADDRESS")):
        raise ValueError(
            "multiple_hosts=True: trials run on several hosts through a Ray "
            "cluster; give its address with address= or RAY_ADDRESS"
        )
    logger.warning(
        "%s are ignored: the parallel engine is Ray, not MongoDB", sorted(changed)
    )


def _slots(n_cpu_workers, gpu_ids, n_workers_per_gpu) -> Tuple[List[str], list]:
    """Worker slots (``"cpu"``/``"gpu"``) and the GPU ids (all GPUs torch sees by
    default; without GPUs, one CPU worker per core by default)."""
    import torch

    if gpu_ids is None:
        gpu_ids = list(range(torch.cuda.device_count()))
    if n_workers_per_gpu < 1:
        raise ValueError(f"n_workers_per_gpu must be >= 1, got {n_workers_per_gpu}")
    if n_cpu_workers is None:
        n_cpu_workers = 0 if gpu_ids else os.cpu_count() or 1
    if n_cpu_workers < 0:
        raise ValueError(f"n_cpu_workers must be >= 0, got {n_cpu_workers}")
    slots = ["cpu"] * n_cpu_workers + ["gpu"] * (len(gpu_ids) * n_workers_per_gpu)
    return slots, list(gpu_ids)


def auto_tune_scvi_model(
    exp_key: str,
    gene_dataset=None,
    delayed_populating: bool = False,
    custom_objective_hyperopt: Optional[Callable] = None,
    objective_kwargs: Optional[Dict[str, Any]] = None,
    model_class=VAE,
    trainer_class=UnsupervisedTrainer,
    metric_name: Optional[str] = None,
    metric_kwargs: Optional[Dict[str, Any]] = None,
    posterior_name: str = "test_set",
    model_specific_kwargs: Optional[dict] = None,
    trainer_specific_kwargs: Optional[dict] = None,
    train_func_specific_kwargs: Optional[dict] = None,
    space: Optional[dict] = None,
    max_evals: int = 100,
    train_best: bool = True,
    pickle_result: bool = True,
    save_path: str = ".",
    use_batches: bool = False,
    parallel: bool = True,
    n_cpu_workers: Optional[int] = None,
    gpu_ids: Optional[List[int]] = None,
    n_workers_per_gpu: int = 1,
    reserve_timeout: float = 180.0,
    fmin_timeout: float = 300.0,
    fmin_timer: Optional[float] = None,
    mongo_port: str = "1234",
    mongo_host: str = "localhost",
    db_name: str = "scvi_db",
    multiple_hosts: bool = False,
    address: Optional[str] = None,
    trial_timeout: Optional[float] = None,
    seed: int = 0,
) -> Tuple[Optional[Trainer], AutotuneTrials]:
    """Hyper-parameter search for scVI models with hyperopt's TPE.

    Each trial builds ``model_class`` and ``trainer_class`` with parameters drawn
    from ``space``, trains it with the held-out ELBO's early stopping and scores
    it, by default with the held-out marginal negative log-likelihood of its best
    state. ``parallel=False`` runs the trials here with hyperopt's ``fmin``;
    ``parallel=True`` runs them as Ray tasks, on a local Ray started for the call
    (and shut down after it) or on the cluster at ``address`` / ``RAY_ADDRESS``.

    Parameters
    ----------
    exp_key
        Name of the experiment (the pickle is ``save_path/trials_<exp_key>.pkl``).
    gene_dataset
        The data (not needed with a custom objective).
    delayed_populating
        ``gene_dataset`` is populated inside each trial (a
        ``DownloadableDataset(delayed_populating=True)``), so that large data are
        read by each worker instead of shipped.
    custom_objective_hyperopt
        ``f(space, is_best_training=False, **objective_kwargs)`` returning
        hyperopt's result dict (``loss``, ``status``) or the loss, and a trained
        trainer when ``is_best_training``; replaces the default objective.
    objective_kwargs
        Keywords of ``custom_objective_hyperopt``.
    model_class, trainer_class
        Model and trainer of the default objective.
    metric_name, metric_kwargs, posterior_name
        The score: ``trainer.<posterior_name>.<metric_name>(**metric_kwargs)``
        (default ``marginal_ll`` of ``test_set``); a metric where larger is better
        (``entropy_batch_mixing``, ``accuracy``...) is negated into the loss.
    model_specific_kwargs, trainer_specific_kwargs, train_func_specific_kwargs
        Fixed keywords of the model, the trainer and ``train``; the trainer's
        default early stopping (held-out ELBO, patience 50, best state kept)
        applies unless ``trainer_specific_kwargs`` replaces it.
    space
        hyperopt space: ``{"model_tunable_kwargs": ..., "trainer_tunable_kwargs":
        ..., "train_func_tunable_kwargs": ...}``; default: scVI 0.6's (see
        :func:`default_space`).
    max_evals
        Number of trials.
    train_best
        Retrain the best parameters on the whole dataset (for the epochs at which
        the best trial reached its best state) and return that trainer.
    pickle_result
        Pickle the trials after each finished trial (atomically).
    save_path
        Folder of the pickle.
    use_batches
        Give the model the batches of the dataset.
    parallel
        Run the trials on Ray (``pip install "scvi[autotune]"``).
    n_cpu_workers
        Concurrent CPU trials (default: one per core without GPUs, else 0).
    gpu_ids
        GPUs for trials (default: all that torch sees).
    n_workers_per_gpu
        Concurrent trials per GPU.
    reserve_timeout
        Seconds to wait for the Ray cluster to offer the resources of a trial.
    fmin_timeout
        Once ``fmin_timer`` is over, seconds the running trials may take before
        they are cancelled (and recorded as failed).
    fmin_timer
        Time budget of the search in seconds: no trial starts after it.
    mongo_port, mongo_host, db_name, multiple_hosts
        scVI 0.6's MongoDB settings, accepted and not used: the parallel engine
        is Ray (``multiple_hosts=True`` needs a Ray cluster ``address``).
    address
        Address of a Ray cluster (default ``RAY_ADDRESS``, else a local Ray).
    trial_timeout
        Time limit of one trial in seconds (checked at the end of each epoch);
        a trial past it is recorded as failed.
    seed
        Seed of TPE's suggestions.

    Returns
    -------
    tuple
        ``(best_trainer, trials)``: the trainer of the best parameters (None
        when ``train_best`` is False) and the :class:`AutotuneTrials` (each
        trial's parameters, loss, status, run time and history;
        ``trials.dataframe()`` tabulates them).
    """
    _check_arguments(exp_key, gene_dataset, custom_objective_hyperopt, max_evals)
    mongo = dict(
        mongo_port=mongo_port,
        mongo_host=mongo_host,
        db_name=db_name,
        multiple_hosts=multiple_hosts,
    )
    _check_mongo(parallel, mongo, address)
    logger.info("Starting experiment: %s", exp_key)
    if space is None:
        logger.debug("Using default parameter search space.")
        space = default_space()
    if custom_objective_hyperopt is None:
        check_space(space)
        metric_direction(trainer_class, metric_name)  # a clear error early
        objective = functools.partial(
            objective_hyperopt,
            gene_dataset=gene_dataset,
            delayed_populating=delayed_populating,
            model_class=model_class,
            trainer_class=trainer_class,
            metric_name=metric_name,
            metric_kwargs=metric_kwargs,
            posterior_name=posterior_name,
            model_specific_kwargs=model_specific_kwargs,
            trainer_specific_kwargs=trainer_specific_kwargs,
            train_func_specific_kwargs=train_func_specific_kwargs,
            use_batches=use_batches,
        )
        logger.info(
            "Fixed parameters:\nmodel:\n%s\ntrainer:\n%s\ntrain method:\n%s",
            model_specific_kwargs or {},
            fixed_trainer_kwargs(trainer_specific_kwargs),
            train_func_specific_kwargs or {},
        )
    else:
        objective = functools.partial(
            custom_objective_hyperopt, **(objective_kwargs or {})
        )
    trials = AutotuneTrials(exp_key=exp_key)
    path = trials_path(save_path, exp_key)
    on_trial_end = (
        functools.partial(save_trials, path=path) if pickle_result else _ignore
    )
    common = dict(
        objective=objective,
        space=space,
        trials=trials,
        max_evals=int(max_evals),
        rng=np.random.default_rng(seed),
        on_trial_end=on_trial_end,
        fmin_timer=fmin_timer,
        trial_timeout=trial_timeout,
        progress=progress_bar_enabled(True)
        and logger.getEffectiveLevel() <= logging.WARNING,
    )
    if parallel:
        ray_module()
        slots, gpu_ids = _slots(n_cpu_workers, gpu_ids, n_workers_per_gpu)
        started = start_ray(address, max(len(slots), 1), gpu_ids)
        try:
            logger.info("Starting parallel hyperoptimization on Ray")
            search_with_ray(
                slots=slots,
                n_workers_per_gpu=n_workers_per_gpu,
                fmin_timeout=fmin_timeout,
                reserve_timeout=reserve_timeout,
                **common,
            )
        finally:
            if started:
                ray_module().shutdown()
    else:
        logger.info("Starting sequential hyperoptimization")
        search_in_process(**common)
    best_trainer = (
        _train_best(trials, objective, custom_objective_hyperopt)
        if train_best
        else None
    )
    return best_trainer, trials


def _ignore(trials) -> None:
    """No record on disk (``pickle_result=False``)."""


def _train_best(trials, objective, custom_objective):
    """Retrain the parameters of the best successful trial."""
    finished = [t for t in trials.trials if t["result"].get("status") == "ok"]
    if not finished:
        errors = {t["result"].get("error") for t in trials.trials}
        raise RuntimeError(
            f"all {len(trials.trials)} trials failed, nothing to retrain; "
            f"errors: {sorted(str(e) for e in errors)}"
        )
    best = min(finished, key=lambda t: t["result"]["loss"])["result"]
    logger.info("Training the best parameters (loss %.4f)", best["loss"])
    if custom_objective is not None:
        return objective(best["space"], True)
    epochs = best.get("best_epoch")
    epochs = best.get("n_epochs") if epochs is None else epochs + 1
    return objective(best["space"], True, best_n_epochs=epochs)
