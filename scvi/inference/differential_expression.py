"""Bayes-factor differential expression from posterior samples of normalized means.

Pure functions on arrays; :mod:`scvi.inference.posterior.de` draws the samples from
a Posterior and calls them. Two modes:

* ``"vanilla"`` (Lopez et al. 2018): ``M1: h1 > h2`` against ``M2: h1 <= h2``, with
  ``p(M1)`` estimated by the fraction of sample pairs where population 1's scale is
  the larger, and the Bayes factor ``log p(M1) - log p(M2)``.
* ``"change"`` (Boyeau et al. 2019): an effect size ``r = change_fn(h1, h2)``
  (default the log2 fold change) and ``M1: r in R1``, the region of differential
  expression (default ``|r| >= delta``); the posterior of ``r`` is summarised by its
  mean, median, standard deviation, extremes and credible intervals
  (:func:`~scvi.inference.summaries.describe_continuous_distrib`).

Pairs of samples are drawn by :func:`pairs_sampler` (public in
:mod:`scvi.inference.posterior_utils`, as in scVI 0.6.8); tables are written by
:mod:`scvi.inference.de_output`.
"""

import logging
import os
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch

from .de_output import excel_engine, save_cluster_xlsx, write_atomically
from .summaries import as_numpy, describe_continuous_distrib

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


def pairs_sampler(
    arr1: Union[List[float], np.ndarray, torch.Tensor],
    arr2: Union[List[float], np.ndarray, torch.Tensor],
    use_permutation: bool = True,
    M_permutation: int = None,
    sanity_check_perm: bool = False,
    weights1: Union[List[float], np.ndarray, torch.Tensor] = None,
    weights2: Union[List[float], np.ndarray, torch.Tensor] = None,
) -> tuple:
    """In a context where we want to estimate a double sum, virtually increases the
    number of samples by considering more pairs so as to better estimate the double
    summation operation.

    With ``use_permutation``, ``M_permutation`` elements (rows) of ``arr1`` are
    drawn with replacement, with probabilities ``weights1`` (uniform if None),
    then ``M_permutation`` of ``arr2`` with ``weights2``: the ``k``-th of each
    form a pair. Draws use NumPy's global generator (:func:`numpy.random.choice`,
    first for ``arr1`` then for ``arr2``), so :func:`scvi.set_seed` makes them
    reproducible.

    Parameters
    ----------
    arr1
        samples from population 1, indexed along the first axis
    arr2
        samples from population 2
    use_permutation
        Whether to draw pairs at random; if False, ``arr1`` and ``arr2`` are
        returned as they are.
    M_permutation
        Number of pairs to draw; None draws a single pair, returned as two
        elements (rows) rather than arrays.
    sanity_check_perm
        If True, both elements of each pair are drawn uniformly from the two
        populations pooled (``numpy.concatenate([arr1, arr2])``, a NumPy array;
        the weights are not used), which should erase any difference between
        them. In most cases, this parameter should remain False.
    weights1
        probabilities associated to array 1 for random sampling (summing to 1)
    weights2
        probabilities associated to array 2 for random sampling

    Returns
    -------
    tuple
        ``(new_arr1, new_arr2)``: each of ``M_permutation`` elements, of the type
        of its input (a list is read as a NumPy array); ``(arr1, arr2)`` without
        permutation.

    Examples
    --------
    >>> np.random.seed(0)
    >>> pairs_sampler(np.arange(5.0), np.arange(10.0, 13.0), M_permutation=3)
    (array([4., 0., 3.]), array([11., 11., 12.]))
    """
    if not use_permutation:
        return arr1, arr2
    if sanity_check_perm:
        pooled = np.concatenate([arr1, arr2])
        first = np.random.choice(len(pooled), size=M_permutation)
        second = np.random.choice(len(pooled), size=M_permutation)
        return pooled[first], pooled[second]
    # tensors are indexed where they are; lists become arrays
    arr1, arr2 = (a if torch.is_tensor(a) else np.asarray(a) for a in (arr1, arr2))
    p1, p2 = (None if w is None else as_numpy(w) for w in (weights1, weights2))
    first = np.random.choice(len(arr1), size=M_permutation, p=p1)
    second = np.random.choice(len(arr2), size=M_permutation, p=p2)
    return arr1[first], arr2[second]


def pair_indices(
    groups1: np.ndarray,
    groups2: np.ndarray,
    use_permutation: bool,
    M_permutation: int,
):
    """Indices ``(i, j)`` of the sample pairs compared, within matching groups.

    Samples are paired only inside a group (a batch both populations are
    conditioned on; one group when they share none). Without permutation the
    ``k``-th sample of population 1 in a group meets the ``k``-th of population 2;
    with permutation ``M_permutation`` pairs in all are drawn at random (with
    replacement, by :func:`pairs_sampler`), split over the groups in proportion to
    their sizes.
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
            a, b = pairs_sampler(a, b, M_permutation=n_pairs)
        else:
            a, b = a[: int(size)], b[: int(size)]
        left.append(a)
        right.append(b)
    return np.concatenate(left), np.concatenate(right)


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
    }
    summary = describe_continuous_distrib(
        r, credible_intervals_levels=cred_interval_lvls
    )
    result.update({f"lfc_{name}": value for name, value in summary.items()})
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
    """Write per-cluster results: one xlsx sheet per cluster (named by its first 31
    characters) when an Excel engine is installed (:func:`save_cluster_xlsx`),
    else one csv with a ``clusters`` column. The file is written to a temporary
    name and renamed when complete.

    Returns
    -------
    str
        The path written.
    """
    os.makedirs(save_dir, exist_ok=True)
    try:
        excel_engine()
        extension = ".xlsx"
    except ImportError:
        extension = ".csv"
    path = os.path.join(save_dir, filename + extension)
    if extension == ".xlsx":
        save_cluster_xlsx(path, results, [str(c)[:31] for c in clusters])
    else:
        frames = [f.assign(clusters=c) for f, c in zip(results, clusters)]
        write_atomically(path, pd.concat(frames).to_csv)
    logger.info("Differential expression results written to %s", path)
    return path
