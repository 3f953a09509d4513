"""Lazy imports of the optional engines (``pip install "scvi[autotune]"``)."""

import importlib


def _optional(name: str, purpose: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the optional package {name!r}: "
            f'pip install "scvi[autotune]"'
        ) from error


def hyperopt():
    """The ``hyperopt`` module (search spaces and TPE)."""
    return _optional("hyperopt", "scvi.inference.autotune")


def ray():
    """The ``ray`` module (the parallel engine of ``parallel=True``)."""
    return _optional("ray", "auto_tune_scvi_model(parallel=True)")
