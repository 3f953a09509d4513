"""Data derived from the counts: normalized and corrupted versions, statistics."""

from typing import Tuple

import numpy as np
import scipy.sparse as sp_sparse

from ._checks import as_index
from ._matrix import mean_normalize, nonzero_fraction


class DerivedDataMixin:
    """``normalize``, ``corrupt`` and ``raw_counts_properties`` of
    :class:`~scvi.dataset.GeneExpressionDataset`."""

    def normalize(self) -> None:
        """Store in ``norm_X`` the counts of each cell divided by its mean count.

        Rows of ``norm_X`` average to 1 (empty cells stay zero); it is registered as
        a dataset version, so filters keep it aligned.
        """
        self.norm_X = mean_normalize(self.X)
        self.register_dataset_version("norm_X")

    def corrupt(self, rate: float = 0.1, corruption: str = "uniform") -> None:
        """Store in ``corrupted_X`` a copy of ``X`` with some entries perturbed.

        Each entry is picked with probability about ``rate`` (exactly
        ``floor(rate * n_nonzero)`` of the non-zero entries are drawn; zeros stay zero
        under both methods) and perturbed:

        - ``"uniform"`` multiplies the count by a Bernoulli(0.9) variable;
        - ``"binomial"`` replaces the count with a Binomial(count, 0.2) draw.

        Uses NumPy's global random state (see :func:`scvi.set_seed`).

        Parameters
        ----------
        rate
            Fraction of entries to corrupt, in [0, 1].
        corruption
            ``"uniform"`` or ``"binomial"``.
        """
        if corruption not in ("uniform", "binomial"):
            raise ValueError(
                f"corruption must be 'uniform' or 'binomial', got {corruption!r}"
            )
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        corrupted = self.X.copy()
        values = (
            corrupted.data if sp_sparse.issparse(corrupted) else corrupted.reshape(-1)
        )
        nonzero = np.flatnonzero(values)
        picked = np.random.choice(nonzero, int(np.floor(rate * nonzero.size)), False)
        if corruption == "uniform":
            values[picked] = values[picked] * np.random.binomial(1, 0.9, picked.size)
        else:
            values[picked] = np.random.binomial(values[picked].astype(np.int64), 0.2)
        if sp_sparse.issparse(corrupted):
            corrupted.eliminate_zeros()
        self.corrupted_X = corrupted
        self.register_dataset_version("corrupted_X")

    def raw_counts_properties(
        self, idx1, idx2
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-gene statistics of the raw counts of two sub-populations.

        Parameters
        ----------
        idx1, idx2
            Cell positions or boolean masks of the two populations.

        Returns
        -------
        mean1, mean2, nonz1, nonz2, norm_mean1, norm_mean2
            Arrays of shape (nb_genes,): mean count, fraction of cells with a
            non-zero count, and mean of the normalized counts (each cell divided by
            its mean count, as in :meth:`normalize`) in each population.
        """
        return counts_properties(self.X, idx1, idx2, self.norm_X)


def counts_properties(
    counts, idx1, idx2, normalized=None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-column statistics of a count matrix in two sub-populations of its rows
    (genes of ``X``, or the proteins of ``protein_expression``).

    Parameters
    ----------
    counts
        Dense or sparse ``(n_cells, n_features)`` counts.
    idx1, idx2
        Cell positions or boolean masks of the two populations.
    normalized
        The counts normalized per cell (default: each cell divided by its mean
        count).

    Returns
    -------
    mean1, mean2, nonz1, nonz2, norm_mean1, norm_mean2
        Arrays of shape ``(n_features,)``.
    """
    results = []
    for name, idx in (("idx1", idx1), ("idx2", idx2)):
        rows = as_index(idx, counts.shape[0], name)
        if rows.size == 0:
            raise ValueError(f"{name} selects no cell")
        X = counts[rows]
        norm = normalized[rows] if normalized is not None else mean_normalize(X)
        results.append(
            (
                np.asarray(X.mean(axis=0)).reshape(-1),
                nonzero_fraction(X),
                np.asarray(norm.mean(axis=0)).reshape(-1),
            )
        )
    (m1, z1, n1), (m2, z2, n2) = results
    return m1, m2, z1, z2, n1, n2
