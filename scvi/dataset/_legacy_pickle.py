"""Reading metadata pickles written by old pandas/numpy versions.

The metadata pickles of the scVI 0.x datasets were written with pandas 0.2x and
numpy 1.x. Two things break with pandas 2 / numpy 2:

* ``pandas.core.indexes.numeric`` (``Int64Index``, ``UInt64Index``,
  ``Float64Index``, ``NumericIndex``) was removed in pandas 2.0; such indexes are
  rebuilt as a plain :class:`pandas.Index` (its dtype comes from the pickled data);
* ``numpy.core`` was renamed ``numpy._core`` in numpy 2.0 (the old name is still an
  alias, used if present).

Only these module paths are redirected; every other class is loaded normally.
Pickles can run code when loaded: only read files from a source you trust.
"""

import importlib
import os
import pickle

import pandas as pd

_REMOVED_INDEXES = {"Int64Index", "UInt64Index", "Float64Index", "NumericIndex"}
_RENAMED_MODULES = {
    "pandas.indexes.base": "pandas.core.indexes.base",
    "pandas.indexes.numeric": "pandas.core.indexes.numeric",
}


class _CompatUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        module = _RENAMED_MODULES.get(module, module)
        if module == "pandas.core.indexes.numeric" and name in _REMOVED_INDEXES:
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                return pd.Index
        if module.startswith("numpy.core"):
            try:
                importlib.import_module(module)
            except ImportError:
                module = "numpy._core" + module[len("numpy.core") :]
        return super().find_class(module, name)


def read_legacy_pickle(path: str):
    """Load a pickle written by old pandas/numpy versions.

    Parameters
    ----------
    path
        Path of the pickle file.

    Returns
    -------
    object
        The unpickled object (for the scVI metadata files, a dict of DataFrames and
        arrays).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable pickle; the message names it.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{os.path.abspath(path)} not found")
    try:
        with open(path, "rb") as handle:
            return _CompatUnpickler(handle, encoding="latin1").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ImportError,
        AttributeError,
        TypeError,
        ValueError,
        IndexError,
        KeyError,
    ) as error:
        raise ValueError(f"could not read the pickle {path}: {error}") from error
