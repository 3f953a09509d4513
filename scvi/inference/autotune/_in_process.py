"""The search in this process: hyperopt's ``fmin`` with TPE, one trial per call
so that the trials are saved as they finish."""

import functools
import logging
import time
from typing import Callable, Optional

import numpy as np
from tqdm.auto import tqdm

from ._engines import hyperopt
from ._objective import run_trial

logger = logging.getLogger("scvi.inference.autotune")


def search_in_process(
    objective: Callable,
    space: dict,
    trials,
    max_evals: int,
    rng: np.random.Generator,
    on_trial_end: Callable,
    fmin_timer: Optional[float] = None,
    trial_timeout: Optional[float] = None,
    progress: bool = True,
) -> None:
    """Run trials until ``trials`` holds ``max_evals`` of them or ``fmin_timer``
    seconds have passed (the running trial then finishes; none starts after).

    Parameters
    ----------
    objective
        Sampled parameters -> hyperopt result (see :func:`run_trial`).
    space
        hyperopt search space.
    trials
        :class:`~scvi.inference.autotune.AutotuneTrials`, filled in place.
    max_evals
        Total number of trials.
    rng
        Random generator of TPE's suggestions (advanced by every call).
    on_trial_end
        Called with ``trials`` after each trial (saving them).
    fmin_timer
        Time budget of the search in seconds.
    trial_timeout
        Time limit of each trial in seconds.
    progress
        Show a progress bar.
    """
    hp = hyperopt()
    function = functools.partial(run_trial, objective, trial_timeout=trial_timeout)
    begin = time.monotonic()
    with tqdm(total=max_evals, initial=len(trials.trials), disable=not progress) as bar:
        while len(trials.trials) < max_evals:
            if fmin_timer is not None and time.monotonic() - begin > fmin_timer:
                logger.info("fmin_timer (%s s) is over: the search stops", fmin_timer)
                break
            try:
                hp.fmin(
                    function,
                    space,
                    algo=hp.tpe.suggest,
                    max_evals=len(trials.trials) + 1,
                    trials=trials,
                    rstate=rng,
                    show_progressbar=False,
                    return_argmin=False,
                )
            except hp.exceptions.AllTrialsFailed:
                pass  # fmin looks for the best trial on return; failures are kept
            on_trial_end(trials)
            bar.update(1)
            logger.info("%d job.s done", len(trials.trials))
