"""Bayes-factor differential expression from posterior samples of normalized means.

Pure functions on arrays; :mod:`scvi.inference.posterior.de` draws the samples from
a Posterior and calls them. Two modes:

* ``"vanilla"`` (Lopez et al. 2018): ``M1: h1 > h2`` against ``M2: h1 <= h2``, with
  ``p(M1)`` estimated by the fraction of sample pairs where population 1's scale is
  the larger, and the Bayes factor ``log p(M1) - log p(M2)``.
* ``"change"`` (Boyeau et al. 2019): an effect size ``r = change_fn(h1, h2)``
  (default the log2 fold change) and ``M1: r in R1``, the region of differential
  expression (default ``|r| >= delta``); the posterior of ``r`` is summarised by its
  mean, median, standard deviation, extremes and credible intervals.
"""

import logging
import os
import tempfile
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

EPS = 1e-8
MODES = ("vanilla", "change")
# pairs compared at once: bounds the memory of the comparisons to a few MiB per gene
_PAIR_CHUNK = 2048


def log_fold_change(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log2(x) - log2(y)``, the default effect size of the change mode."""
    return np.log2(x + EPS) - np.log2(y + EPS)


def resolve_change_fn(change_fn: Union[str, Callable, None]) -> Callable:
    """The effect-size function (``None`` or ``"log-fold"``: log2 fold change)."""
    if change_fn is None or change_fn == "log-fold":
        return log_fold_change
    if callable(change_fn):
        return change_fn
    raise ValueError(
        f"change_fn must be 'log-fold' or a function of two arrays, got {change_fn!r}"
    )


def resolve_m1_domain_fn(
    m1_domain_fn: Optional[Callable], delta: Optional[float]
) -> Callable:
    """The indicator of the differential-expression region: ``|r| >= delta`` by
    default."""
    if m1_domain_fn is not None:
        if not callable(m1_domain_fn):
            raise ValueError(f"m1_domain_fn must be a function, got {m1_domain_fn!r}")
        return m1_domain_fn
    if delta is None:
        raise ValueError("the change mode needs delta or m1_domain_fn")
    if not delta >= 0:
        raise ValueError(f"delta must be >= 0, got {delta!r}")
    return lambda r: np.abs(r) >= delta


def pair_indices(
    groups1: np.ndarray,
    groups2: np.ndarray,
    use_permutation: bool,
    M_permutation: int,
    rng: np.random.RandomState,
):
    """Indices ``(i, j)`` of the sample pairs compared, within matching groups.

    Samples are paired only inside a group (a batch both populations are
    conditioned on; one group when they share none). Without permutation the
    ``k``-th sample of population 1 in a group meets the ``k``-th of population 2;
    with permutation ``M_permutation`` pairs in all are drawn at random (with
    replacement), split over the groups in proportion to their sizes.
    """
    groups = [g for g in np.unique(groups1) if np.any(groups2 == g)]
    if not groups:
        raise ValueError("the two populations have no batch in common to compare")
    members = [
        (np.flatnonzero(groups1 == g), np.flatnonzero(groups2 == g)) for g in groups
    ]
    sizes = np.array([min(len(a), len(b)) for a, b in members], dtype=float)
    left, right = [], []
    for (a, b), size in zip(members, sizes):
        if use_permutation:
            n_pairs = max(int(round(M_permutation * size / sizes.sum())), 1)
            left.append(a[rng.randint(len(a), size=n_pairs)])
            right.append(b[rng.randint(len(b), size=n_pairs)])
        else:
            n_pairs = int(size)
            left.append(a[:n_pairs])
            right.append(b[:n_pairs])
    return np.concatenate(left), np.concatenate(right)


def credible_interval(samples: np.ndarray, level: float):
    """Shortest interval holding a fraction ``level`` of the samples, per column.

    Parameters
    ----------
    samples
        ``(n_samples, n_genes)``.
    level
        In (0, 1].

    Returns
    -------
    lower, upper : np.ndarray
        ``(n_genes,)`` bounds.
    """
    if not 0 < level <= 1:
        raise ValueError(f"cred_interval_lvls must lie in (0, 1], got {level!r}")
    ordered = np.sort(samples, axis=0)
    n = ordered.shape[0]
    width = max(int(np.ceil(level * n)), 1)
    spans = ordered[width - 1 :] - ordered[: n - width + 1]
    start = np.argmin(spans, axis=0)
    columns = np.arange(ordered.shape[1])
    return ordered[start, columns], ordered[start + width - 1, columns]


def bayes_factors(
    scales1: np.ndarray,
    scales2: np.ndarray,
    pairs,
    mode: str = "vanilla",
    change_fn: Union[str, Callable, None] = None,
    m1_domain_fn: Optional[Callable] = None,
    delta: Optional[float] = 0.5,
    cred_interval_lvls: Optional[Sequence[float]] = None,
) -> Dict[str, np.ndarray]:
    """Differential-expression statistics from paired posterior samples.

    Parameters
    ----------
    scales1, scales2
        Posterior samples of the normalized means, ``(n1, n_genes)`` and
        ``(n2, n_genes)``.
    pairs
        ``(i, j)`` index arrays of the compared pairs (:func:`pair_indices`).
    mode
        ``"vanilla"`` or ``"change"``.
    change_fn, m1_domain_fn, delta, cred_interval_lvls
        Change mode only, see
        :meth:`scvi.inference.Posterior.differential_expression_score`.

    Returns
    -------
    dict of np.ndarray
        Per gene: ``proba_m1``, ``proba_m2``, ``bayes_factor`` (vanilla) or
        ``proba_de``, ``proba_not_de``, ``bayes_factor``, ``lfc_mean``,
        ``lfc_median``, ``lfc_std``, ``lfc_min``, ``lfc_max`` and
        ``lfc_confidence_interval_<level>_min/_max`` (change); then ``scale1`` and
        ``scale2``, the posterior means of the scales.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    i, j = pairs
    scale_means = {"scale1": scales1.mean(0), "scale2": scales2.mean(0)}
    if mode == "vanilla":
        wins = np.zeros(scales1.shape[1])
        for start in range(0, len(i), _PAIR_CHUNK):
            chunk = slice(start, start + _PAIR_CHUNK)
            wins += (scales1[i[chunk]] > scales2[j[chunk]]).sum(0)
        proba_m1 = wins / len(i)
        return {
            "proba_m1": proba_m1,
            "proba_m2": 1.0 - proba_m1,
            "bayes_factor": np.log(proba_m1 + EPS) - np.log(1.0 - proba_m1 + EPS),
            **scale_means,
        }
    change = resolve_change_fn(change_fn)
    in_m1 = resolve_m1_domain_fn(m1_domain_fn, delta)
    r = np.asarray(change(scales1[i], scales2[j]))
    proba_de = np.mean(in_m1(r), axis=0)
    result = {
        "proba_de": proba_de,
        "proba_not_de": 1.0 - proba_de,
        "bayes_factor": np.log(proba_de + EPS) - np.log(1.0 - proba_de + EPS),
        **scale_means,
        "lfc_mean": r.mean(0),
        "lfc_median": np.median(r, axis=0),
        "lfc_std": r.std(0),
        "lfc_min": r.min(0),
        "lfc_max": r.max(0),
    }
    for level in cred_interval_lvls or []:
        lower, upper = credible_interval(r, level)
        result[f"lfc_confidence_interval_{level}_min"] = lower
        result[f"lfc_confidence_interval_{level}_max"] = upper
    return result


def batch_case(batchid1, batchid2, use_observed_batches: bool) -> str:
    """Which batch configuration of the manual applies; warns for unsupported ones.

    Returns
    -------
    str
        ``"observed"``, ``"shared"`` (same batch ids) or ``"disjoint"``.
    """
    if use_observed_batches:
        return "observed"
    if batchid1 is None and batchid2 is None:
        return "shared"
    if batchid1 is None or batchid2 is None:
        warnings.warn(
            "only one of batchid1 and batchid2 is given; samples are compared "
            "across batches as if the batch ids were disjoint",
            UserWarning,
            stacklevel=3,
        )
        return "disjoint"
    set1, set2 = set(np.ravel(batchid1).tolist()), set(np.ravel(batchid2).tolist())
    if set1 == set2:
        return "shared"
    if not set1 & set2:
        return "disjoint"
    warnings.warn(
        f"batchid1 {sorted(set1)} and batchid2 {sorted(set2)} overlap without being "
        "equal, a case not covered; samples are compared across batches as if the "
        "batch ids were disjoint",
        UserWarning,
        stacklevel=3,
    )
    return "disjoint"


def de_dataframe(
    statistics: Dict[str, np.ndarray],
    gene_names: Sequence[str],
    raw_statistics: Optional[Dict[str, np.ndarray]] = None,
) -> pd.DataFrame:
    """Statistics as a DataFrame indexed by gene name, sorted by decreasing Bayes
    factor (ties keep the gene order)."""
    columns = dict(statistics)
    if raw_statistics is not None:
        columns.update(raw_statistics)
    frame = pd.DataFrame(columns, index=pd.Index(np.asarray(gene_names), name=None))
    return frame.sort_values(by="bayes_factor", ascending=False, kind="mergesort")


def write_de_results(
    results: List[pd.DataFrame],
    clusters: Sequence,
    save_dir: str,
    filename: str,
) -> str:
    """Write per-cluster results: one xlsx sheet per cluster when openpyxl is
    installed, else one csv with a ``clusters`` column. The file is written to a
    temporary name and renamed when complete.

    Returns
    -------
    str
        The path written.
    """
    os.makedirs(save_dir, exist_ok=True)
    try:
        import openpyxl  # noqa: F401

        extension = ".xlsx"
    except ImportError:
        extension = ".csv"
    path = os.path.join(save_dir, filename + extension)
    handle, temporary = tempfile.mkstemp(suffix=extension, dir=save_dir)
    os.close(handle)
    try:
        if extension == ".xlsx":
            with pd.ExcelWriter(temporary, engine="openpyxl") as writer:
                for cluster, frame in zip(clusters, results):
                    frame.to_excel(writer, sheet_name=str(cluster)[:31])
        else:
            frames = [f.assign(clusters=c) for f, c in zip(results, clusters)]
            pd.concat(frames).to_csv(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    logger.info("Differential expression results written to %s", path)
    return path
