"""Summaries of posterior samples: highest-density intervals and moments.

Pure functions on arrays (a PyTorch tensor is read as a NumPy array). The
differential expression of :mod:`scvi.inference.differential_expression`
summarises the posterior of its effect size with them, and they are public in
:mod:`scvi.inference.posterior_utils`, as in scVI 0.6.8.
"""

import math
from typing import List, Optional, Union

import numpy as np
import torch


def as_numpy(values) -> np.ndarray:
    """``values`` as a NumPy array (a tensor is detached and copied to the host)."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _single_level(confidence_level) -> float:
    level = np.asarray(as_numpy(confidence_level), dtype=float)
    if level.size != 1:
        raise TypeError(
            "confidence_level must be a single number; call credible_intervals "
            f"once per level (got {level.size} values)"
        )
    level = float(level.reshape(()))
    if not 0 <= level < 1:
        raise ValueError(f"confidence_level must lie in [0, 1), got {level!r}")
    return level


def _intervals_of_columns(ordered: np.ndarray, level: float) -> np.ndarray:
    """Shortest intervals of the sorted columns of ``ordered``: ``(n_columns, 2)``."""
    n = ordered.shape[0]
    if n == 0:
        raise ValueError("credible intervals need at least one sample, got none")
    # an interval spans floor(level * n) + 1 consecutive sorted samples
    span = int(math.floor(level * n))
    widths = ordered[span:] - ordered[: n - span]
    start = np.argmin(widths, axis=0)
    columns = np.arange(ordered.shape[1])
    return np.stack([ordered[start, columns], ordered[start + span, columns]], axis=1)


def credible_intervals(
    ary: np.ndarray, confidence_level: Union[float, List[float], np.ndarray] = 0.94
) -> np.ndarray:
    """Calculate highest posterior density (HPD) of array for given credible_interval.

    The HPD interval is the narrowest interval holding a fraction
    ``confidence_level`` of the samples (as in the arviz package, for unimodal
    distributions): with ``n`` samples sorted, it spans ``floor(confidence_level
    * n) + 1`` consecutive ones, the first such run of smallest width. NaN
    samples sort last.

    Parameters
    ----------
    ary
        Posterior samples: ``(n_samples,)``, or ``(n_samples, n_features)`` for
        one interval per feature (column). An array of more dimensions is
        handled as scVI 0.6.8 does: the intervals of each ``ary.T[i]`` (itself
        transposed in turn), stacked. A list or a tensor is read as an array.
    confidence_level
        The fraction of the samples in the interval, in ``[0, 1)``; a single
        number (or an array of one).

    Returns
    -------
    np.ndarray
        ``[minimum, maximum]`` of the interval, shape ``(2,)`` for 1-D samples or
        ``(n_features, 2)`` for 2-D ones, in the dtype of the samples.

    Raises
    ------
    ValueError
        If ``confidence_level`` is outside ``[0, 1)`` or there is no sample.
    TypeError
        If ``confidence_level`` holds several levels.

    Examples
    --------
    >>> credible_intervals(np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3]), 0.5)
    array([1., 4.])
    """
    level = _single_level(confidence_level)
    ary = as_numpy(ary)
    if ary.ndim == 0:
        raise ValueError("ary must hold samples along its first axis, got a scalar")
    if ary.ndim == 1:
        return _intervals_of_columns(np.sort(ary)[:, None], level)[0]
    if ary.ndim == 2:
        return _intervals_of_columns(np.sort(ary, axis=0), level)
    return np.array([credible_intervals(part, level) for part in ary.T])


def describe_continuous_distrib(
    samples: Union[np.ndarray, torch.Tensor],
    credible_intervals_levels: Optional[Union[List[float], np.ndarray]] = None,
) -> dict:
    """Computes properties of distribution based on its samples.

    Parameters
    ----------
    samples
        Samples of shape ``(n_samples, n_features)`` (a tensor is read as a NumPy
        array); 1-D samples give scalar properties.
    credible_intervals_levels
        Confidence in ``[0, 1)`` of credible intervals to be computed (see
        :func:`credible_intervals`).

    Returns
    -------
    dict
        Per feature, over the samples: ``mean``, ``median``, ``std`` (the
        population standard deviation, ``ddof=0``), ``min`` and ``max``, then for
        each level ``l`` the bounds of its credible interval,
        ``confidence_interval_<str(l)[:5]>_min`` and ``..._max`` (``0.5`` gives
        ``confidence_interval_0.5_min``, ``1 / 3`` ``confidence_interval_0.333_min``).
        Values are NumPy arrays of shape ``(n_features,)``.

    Examples
    --------
    >>> summary = describe_continuous_distrib(np.random.rand(100, 3), [0.9])
    >>> sorted(summary)[:3]
    ['confidence_interval_0.9_max', 'confidence_interval_0.9_min', 'max']
    """
    samples = as_numpy(samples)
    summary = {
        "mean": samples.mean(0),
        "median": np.median(samples, 0),
        "std": samples.std(0),
        "min": samples.min(0),
        "max": samples.max(0),
    }
    levels = [] if credible_intervals_levels is None else credible_intervals_levels
    for level in levels:
        intervals = credible_intervals(samples, confidence_level=level)
        name = f"confidence_interval_{str(level)[:5]}"
        if intervals.ndim == 1:  # 1-D samples: one interval
            summary[f"{name}_min"], summary[f"{name}_max"] = intervals
        else:
            summary[f"{name}_min"] = intervals[:, 0]
            summary[f"{name}_max"] = intervals[:, 1]
    return summary
