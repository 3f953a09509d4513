"""The record of a search: hyperopt's ``Trials`` with a table of the runs, saved
atomically after every finished trial."""

import os
import pickle
import tempfile

import pandas as pd

from ._engines import hyperopt


def _flatten(params: dict) -> dict:
    """``{"model_tunable_kwargs": {"n_latent": 5}}`` -> ``{"n_latent": 5}``
    (the group names of the search space are dropped, inner names kept)."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value))
        else:
            flat[key] = value
    return flat


Trials = hyperopt().Trials


class AutotuneTrials(Trials):
    """``hyperopt.Trials`` of an autotune search.

    Each trial's ``result`` holds ``loss`` (what the search minimises),
    ``status`` (``"ok"`` or ``"fail"``), ``space`` (the parameters tried, grouped
    as in the search space), ``run_time`` (seconds), ``n_epochs`` (epochs
    trained), ``metric`` (the objective's value before any change of sign),
    ``history`` (the trainer's history: metric name -> values) and, for a failed
    trial, ``error``.
    """

    def dataframe(self) -> pd.DataFrame:
        """One row per trial: ``status``, ``loss``, ``run_time``, ``n_epochs``,
        ``error`` and one column per parameter tried.

        Returns
        -------
        pandas.DataFrame
            Indexed by trial id (``tid``), in the order the trials were proposed.
        """
        columns = ["tid", "status", "loss", "run_time", "n_epochs", "error"]
        rows = []
        for trial in self.trials:
            result = trial.get("result", {})
            row = {name: result.get(name) for name in columns[1:]}
            row["tid"] = trial["tid"]
            row.update(_flatten(result.get("space") or {}))
            rows.append(row)
        table = pd.DataFrame(rows, columns=None if rows else columns)
        return table.set_index("tid")

    def histories(self) -> dict:
        """Trial id -> the trainer's history of that trial (metric -> values)."""
        return {
            trial["tid"]: trial.get("result", {}).get("history", {})
            for trial in self.trials
        }


def save_trials(trials, path: str) -> None:
    """Pickle ``trials`` to ``path`` through a temporary file in the same folder,
    renamed over ``path`` once complete (a reader never sees half a file)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(trials, stream)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
