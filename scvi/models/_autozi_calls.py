"""Zero-inflation calls of AutoZI: from ``q(delta) = Beta(alpha, beta)`` to decisions.

``delta`` is the probability that a gene (or a gene in a batch or a cell type) is
*not* zero-inflated. Bayesian decision theory suggests the posterior probability of
the zero-inflation hypothesis, ``q(delta < 0.5)``: a gene is called zero-inflated
when it exceeds a threshold (0.5 by default, which amounts to ``alpha < beta``).
"""

from typing import Optional, Sequence

import numpy as np
import pandas as pd
from scipy.special import betainc


def _check_unit(value: float, name: str, closed_low: bool) -> float:
    low_ok = value >= 0 if closed_low else value > 0
    if not (low_ok and value < 1):
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def zero_inflation_probabilities(
    alpha_posterior, beta_posterior, delta_threshold: float = 0.5
) -> np.ndarray:
    """Posterior probabilities ``q(delta < delta_threshold)`` of zero-inflation.

    The cumulative distribution function of ``Beta(alpha, beta)``, i.e. the
    regularised incomplete beta function ``I_t(alpha, beta)`` at ``t =
    delta_threshold`` (``scipy.stats.beta.cdf(t, alpha, beta)``).

    Parameters
    ----------
    alpha_posterior, beta_posterior
        Positive parameters of ``q(delta)``, arrays of the same shape (as
        returned by :meth:`~scvi.models.AutoZIVAE.get_alphas_betas`).
    delta_threshold
        Value of ``delta`` in ``(0, 1)`` under which a gene counts as
        zero-inflated.

    Returns
    -------
    numpy.ndarray
        float64 probabilities in ``[0, 1]``, of the shape of the parameters.
    """
    delta_threshold = _check_unit(delta_threshold, "delta_threshold", False)
    alpha = np.asarray(alpha_posterior, dtype=np.float64)
    beta = np.asarray(beta_posterior, dtype=np.float64)
    if alpha.shape != beta.shape:
        raise ValueError(
            "alpha_posterior and beta_posterior must have the same shape, got "
            f"{alpha.shape} and {beta.shape}"
        )
    if not (np.all(alpha > 0) and np.all(beta > 0)):
        raise ValueError("alpha_posterior and beta_posterior must be > 0")
    return betainc(alpha, beta, delta_threshold)


def zero_inflation_table(
    alpha_posterior,
    beta_posterior,
    gene_names: Optional[Sequence[str]] = None,
    category_names: Optional[Sequence[str]] = None,
    threshold: float = 0.5,
    delta_threshold: float = 0.5,
) -> pd.DataFrame:
    """Zero-inflation calls, one row per gene (and batch or cell type).

    Parameters
    ----------
    alpha_posterior, beta_posterior
        Parameters of ``q(delta)``, ``(n_genes,)`` or ``(n_genes, n_categories)``.
    gene_names
        Names of the genes; ``0, 1, ...`` by default.
    category_names
        Names of the batches or cell types (columns of 2-d parameters); ``0, 1,
        ...`` by default.
    threshold
        A gene is called zero-inflated when its probability exceeds this value
        in ``[0, 1)``.
    delta_threshold
        See :func:`zero_inflation_probabilities`.

    Returns
    -------
    pandas.DataFrame
        Columns ``gene``, ``category`` (2-d parameters only), ``alpha_posterior``,
        ``beta_posterior``, ``zi_probability`` and ``is_zi``; genes vary slowest.
    """
    threshold = _check_unit(threshold, "threshold", True)
    probabilities = zero_inflation_probabilities(
        alpha_posterior, beta_posterior, delta_threshold
    )
    if probabilities.ndim not in (1, 2):
        raise ValueError(
            "alpha_posterior must be (n_genes,) or (n_genes, n_categories), got "
            f"shape {probabilities.shape}"
        )
    n_genes = probabilities.shape[0]
    genes = np.arange(n_genes) if gene_names is None else np.asarray(gene_names)
    if genes.shape != (n_genes,):
        raise ValueError(f"gene_names must hold {n_genes} names, got {genes.shape}")
    columns = {"gene": genes}
    if probabilities.ndim == 2:
        n_cat = probabilities.shape[1]
        names = np.arange(n_cat) if category_names is None else category_names
        names = np.asarray(names)
        if names.shape != (n_cat,):
            raise ValueError(
                f"category_names must hold {n_cat} names, got {names.shape}"
            )
        columns = {"gene": np.repeat(genes, n_cat), "category": np.tile(names, n_genes)}
    columns["alpha_posterior"] = np.asarray(alpha_posterior, dtype=np.float64).ravel()
    columns["beta_posterior"] = np.asarray(beta_posterior, dtype=np.float64).ravel()
    columns["zi_probability"] = probabilities.ravel()
    columns["is_zi"] = columns["zi_probability"] > threshold
    return pd.DataFrame(columns)


class ZeroInflationCallsMixin:
    """Zero-inflation probabilities and calls of an AutoZI model (see
    :class:`~scvi.models.AutoZIVAE`), from its :meth:`get_alphas_betas`."""

    def _global_alphas_betas(self):
        if self.zero_inflation == "gene-cell":
            raise ValueError(
                "with zero_inflation='gene-cell', q(delta) depends on the cell: the "
                "calls are per gene, per gene and batch ('gene-batch') or per gene "
                "and label ('gene-label')"
            )
        params = self.get_alphas_betas(as_numpy=True)
        return params["alpha_posterior"], params["beta_posterior"]

    def get_zero_inflation_probabilities(
        self, delta_threshold: float = 0.5
    ) -> np.ndarray:
        """Posterior probabilities ``q(delta < delta_threshold)`` of zero-inflation.

        Parameters
        ----------
        delta_threshold
            See :func:`~scvi.models.autozivae.zero_inflation_probabilities`.

        Returns
        -------
        numpy.ndarray
            ``(n_input,)`` for ``zero_inflation="gene"``, ``(n_input, n_batch)``
            for ``"gene-batch"``, ``(n_input, n_labels)`` for ``"gene-label"``.
        """
        alpha, beta = self._global_alphas_betas()
        return zero_inflation_probabilities(alpha, beta, delta_threshold)

    def zero_inflation_calls(
        self, threshold: float = 0.5, delta_threshold: float = 0.5
    ) -> np.ndarray:
        """Which genes (per batch or label) are called zero-inflated.

        Parameters
        ----------
        threshold
            A gene is zero-inflated when ``q(delta < delta_threshold)`` exceeds
            this value in ``[0, 1)``.
        delta_threshold
            See :func:`~scvi.models.autozivae.zero_inflation_probabilities`.

        Returns
        -------
        numpy.ndarray
            Booleans of the shape of :meth:`get_zero_inflation_probabilities`.
        """
        threshold = _check_unit(threshold, "threshold", True)
        return self.get_zero_inflation_probabilities(delta_threshold) > threshold

    def zero_inflation_table(
        self,
        gene_names: Optional[Sequence[str]] = None,
        category_names: Optional[Sequence[str]] = None,
        threshold: float = 0.5,
        delta_threshold: float = 0.5,
    ) -> pd.DataFrame:
        """The calls as a table, see
        :func:`~scvi.models.autozivae.zero_inflation_table`.

        Parameters
        ----------
        gene_names
            Names of the genes, e.g. ``dataset.gene_names``.
        category_names
            Names of the batches (``"gene-batch"``) or labels (``"gene-label"``,
            e.g. ``dataset.cell_types``).
        threshold, delta_threshold
            See :meth:`zero_inflation_calls`.

        Returns
        -------
        pandas.DataFrame
            One row per gene (and category).
        """
        alpha, beta = self._global_alphas_betas()
        return zero_inflation_table(
            alpha, beta, gene_names, category_names, threshold, delta_threshold
        )
