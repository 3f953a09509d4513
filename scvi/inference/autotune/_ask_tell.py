"""TPE suggestions asked one at a time and their results told back, for searches
whose trials run elsewhere (on Ray)."""

import datetime

import numpy as np

from ._engines import hyperopt


def propose(trials, domain, rng: np.random.Generator):
    """Ask TPE for one new trial, recorded in ``trials`` as running.

    Returns
    -------
    tuple
        ``(doc, params)``: hyperopt's trial document and the sampled parameters
        (the space evaluated at the suggestion).
    """
    hp = hyperopt()
    tids = trials.new_trial_ids(1)
    trials.refresh()
    seed = int(rng.integers(2**31 - 1))
    trials.insert_trial_docs(hp.tpe.suggest(tids, domain, trials, seed))
    trials.refresh()
    doc = next(trial for trial in trials.trials if trial["tid"] == tids[0])
    values = {key: value[0] for key, value in doc["misc"]["vals"].items() if value}
    params = hp.space_eval(domain.expr, values)
    doc["state"] = hp.JOB_STATE_RUNNING
    doc["book_time"] = datetime.datetime.now()
    return doc, params


def tell(trials, doc, result: dict) -> None:
    """Record ``result`` (a hyperopt result dict) as the outcome of ``doc``."""
    hp = hyperopt()
    doc["result"] = result
    doc["state"] = hp.JOB_STATE_DONE
    doc["refresh_time"] = datetime.datetime.now()
    trials.refresh()
