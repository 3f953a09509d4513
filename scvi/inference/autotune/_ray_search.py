"""The parallel search: TPE suggestions dispatched as Ray tasks, one per free
worker slot (CPU slots and GPU slots), on a local Ray started for the call or on
an existing cluster."""

import logging
import os
import time
from typing import Callable, List, Optional

import numpy as np
from tqdm.auto import tqdm

from ._ask_tell import propose, tell
from ._engines import hyperopt, ray as ray_module
from ._objective import failure, run_trial

logger = logging.getLogger("scvi.inference.autotune")

#: seconds between two looks at the running trials
POLL = 0.5


def _remote_trial(objective: Callable, params: dict, trial_timeout: Optional[float]):
    """A trial in a Ray worker: torch uses the CPUs Ray gave the task."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    return run_trial(objective, params, trial_timeout)


def start_ray(address: Optional[str], n_cpus: int, gpu_ids: List[int]) -> bool:
    """Connect to the running Ray (nothing to do), to the cluster at ``address``
    or ``RAY_ADDRESS``, or start a local Ray with ``n_cpus`` CPUs and the GPUs
    ``gpu_ids``.

    Returns
    -------
    bool
        Whether this call started or connected Ray (and must shut it down).
    """
    ray = ray_module()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        logger.info("Connecting to the Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=False)
        return True
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpu_ids)
    try:
        logger.info("Starting a local Ray: %d CPUs, GPUs %s", n_cpus, gpu_ids)
        ray.init(
            num_cpus=n_cpus,
            num_gpus=len(gpu_ids),
            include_dashboard=False,
            log_to_driver=False,
        )
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
    return True


def wait_for_resources(cpus: float, gpus: float, reserve_timeout: float) -> None:
    """Wait up to ``reserve_timeout`` seconds for the cluster to offer what one
    trial needs; raise a RuntimeError naming what is missing otherwise."""
    ray = ray_module()
    deadline = time.monotonic() + reserve_timeout
    while True:
        offered = ray.cluster_resources()
        if offered.get("CPU", 0) >= cpus and offered.get("GPU", 0) >= gpus:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the Ray cluster offers {offered.get('CPU', 0)} CPUs and "
                f"{offered.get('GPU', 0)} GPUs; a trial needs {cpus} CPU and "
                f"{gpus} GPU (waited reserve_timeout={reserve_timeout} s)"
            )
        time.sleep(POLL)


def search_with_ray(
    objective: Callable,
    space: dict,
    trials,
    max_evals: int,
    rng: np.random.Generator,
    on_trial_end: Callable,
    slots: List[str],
    n_workers_per_gpu: int = 1,
    fmin_timer: Optional[float] = None,
    fmin_timeout: Optional[float] = None,
    reserve_timeout: float = 180.0,
    trial_timeout: Optional[float] = None,
    progress: bool = True,
) -> None:
    """Run trials on Ray, one per free slot, until ``trials`` holds
    ``max_evals`` of them or ``fmin_timer`` is over (trials still running then
    get ``fmin_timeout`` more seconds before they are cancelled and recorded as
    failed). Ray must be initialised.

    Parameters
    ----------
    objective, space, trials, max_evals, rng, on_trial_end
        As in :func:`~._in_process.search_in_process`.
    fmin_timer, trial_timeout, progress
        As in :func:`~._in_process.search_in_process`.
    slots
        One entry per concurrent trial: ``"cpu"`` (1 CPU) or ``"gpu"`` (1 CPU and
        ``1 / n_workers_per_gpu`` GPU).
    n_workers_per_gpu
        Trials sharing one GPU.
    fmin_timeout
        Grace in seconds for the running trials once ``fmin_timer`` is over.
    reserve_timeout
        Seconds to wait for the cluster to offer the resources of a trial.
    """
    ray = ray_module()
    hp = hyperopt()
    if not slots:
        raise ValueError("no worker: n_cpu_workers is 0 and no GPU is used")
    gpu_share = 1.0 / n_workers_per_gpu
    wait_for_resources(1, gpu_share if "gpu" in slots else 0, reserve_timeout)
    domain = hp.base.Domain(lambda params: None, space)
    tasks = {
        "cpu": ray.remote(num_cpus=1)(_remote_trial),
        "gpu": ray.remote(num_cpus=1, num_gpus=gpu_share)(_remote_trial),
    }
    shared_objective = ray.put(objective)
    running, free = {}, list(slots)
    begin, stopped_at = time.monotonic(), None
    bar = tqdm(total=max_evals, initial=len(trials.trials), disable=not progress)
    try:
        while True:
            now = time.monotonic()
            timer_over = fmin_timer is not None and now - begin > fmin_timer
            if timer_over and stopped_at is None:
                logger.info("fmin_timer (%s s) is over: the search stops", fmin_timer)
                stopped_at = now
            while free and not timer_over and len(trials.trials) < max_evals:
                kind = free.pop()
                doc, params = propose(trials, domain, rng)
                task = tasks[kind].remote(shared_objective, params, trial_timeout)
                running[task] = (doc, params, kind)
            if not running:
                break
            if (
                stopped_at is not None
                and fmin_timeout is not None
                and now - stopped_at > fmin_timeout
            ):
                logger.warning(
                    "fmin_timeout: cancelling %d running trials", len(running)
                )
                break
            done, _ = ray.wait(list(running), num_returns=1, timeout=POLL)
            for task in done:
                doc, params, kind = running.pop(task)
                try:
                    result = ray.get(task)
                except Exception as error:  # the worker died: a failed trial
                    result = failure(params, f"{type(error).__name__}: {error}")
                tell(trials, doc, result)
                on_trial_end(trials)
                free.append(kind)
                bar.update(1)
                logger.info("%d job.s done", bar.n)
    finally:
        bar.close()
        for task, (doc, params, _) in running.items():
            ray.cancel(task, force=True)
            message = "cancelled: the search stopped before the trial finished"
            tell(trials, doc, failure(params, message, timed_out=True))
        if running:
            on_trial_end(trials)
