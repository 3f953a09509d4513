"""Logging set-up of the ``scvi`` logger and the verbosity switch."""

import logging
import sys
from typing import Union

logger = logging.getLogger("scvi")

_FORMAT = "[%(asctime)s] %(levelname)s - %(name)s | %(message)s"


class _ScviStreamHandler(logging.StreamHandler):
    """Stream handler owned by scvi, so that it is added only once."""


def _add_handler() -> None:
    if any(isinstance(h, _ScviStreamHandler) for h in logger.handlers):
        return
    handler = _ScviStreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    # messages are shown once, by our handler, not again by the root logger
    logger.propagate = False


def set_verbosity(level: Union[int, str]) -> None:
    """Set the verbosity of the ``scvi`` logger.

    Parameters
    ----------
    level
        A level of the :mod:`logging` module, as a number (``logging.INFO`` = 20)
        or a name (``"INFO"``, ``"warning"``). ``WARNING`` and above keep progress
        bars but hide the informative messages; ``DEBUG`` shows everything.

    Raises
    ------
    ValueError
        If ``level`` is not a known logging level.
    """
    if isinstance(level, str):
        name = level.upper()
        if not isinstance(logging.getLevelName(name), int):
            raise ValueError(
                f"level must be a logging level such as 'INFO' or 20, got {level!r}"
            )
        level = logging.getLevelName(name)
    elif isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ValueError(
            f"level must be a logging level such as 'INFO' or 20, got {level!r}"
        )
    logger.setLevel(level)
    for handler in logger.handlers:
        if isinstance(handler, _ScviStreamHandler):
            handler.setLevel(level)


def progress_bar_enabled(show_progbar: bool = True) -> bool:
    """Whether a progress bar is shown: asked for and the ``scvi`` logger shows
    warnings (``set_verbosity("ERROR")`` silences the bars)."""
    return bool(show_progbar) and logger.getEffectiveLevel() <= logging.WARNING


_add_handler()
set_verbosity(logging.INFO)
logger.debug("Added StreamHandler with custom formatter to 'scvi' logger.")
