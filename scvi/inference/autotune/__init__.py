"""Hyper-parameter search for scVI models (scVI 0.6's ``autotune``).

:func:`auto_tune_scvi_model` searches with hyperopt's TPE, in this process or in
parallel on Ray (``pip install "scvi[autotune]"`` installs both). hyperopt is
needed to import this module, Ray only for ``parallel=True``; ``import scvi``
needs neither.

Layout: :mod:`._tune` (the entry point), :mod:`._space` (the default space and
fixed settings), :mod:`._objective` (the default objective, trials that never
raise), :mod:`._in_process` (``fmin``), :mod:`._ray_search` and :mod:`._ask_tell`
(TPE suggestions dispatched to Ray), :mod:`._trials` (the record and its pickle).
"""

from ._objective import TrialTimeout, objective_hyperopt
from ._space import DEFAULT_EARLY_STOPPING, default_space
from ._trials import AutotuneTrials, save_trials
from ._tune import auto_tune_scvi_model, trials_path

__all__ = [
    "auto_tune_scvi_model",
    "default_space",
    "objective_hyperopt",
    "AutotuneTrials",
    "TrialTimeout",
    "DEFAULT_EARLY_STOPPING",
    "save_trials",
    "trials_path",
]
