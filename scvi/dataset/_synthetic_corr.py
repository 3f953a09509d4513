"""Clustered Poisson counts, with or without zero-inflation (scVI 0.6's simulations).

The data of :class:`SyntheticDatasetCorr` and :class:`ZISyntheticDatasetCorr` are
drawn from their own ``numpy.random.RandomState(seed)`` (seed 0 by default): with
the default seed they are the very counts scVI 0.6.8 draws with the same arguments,
and NumPy's global random state is left untouched.
"""

import logging

import numpy as np

from .dataset import GeneExpressionDataset

logger = logging.getLogger(__name__)


def _bio_tech_table(p_bio: float, p_tech: float) -> np.ndarray:
    """Joint probabilities of a biological and a technical zero of one entry.

    Rows: the Poisson count is non-zero / zero; columns: no dropout / dropout.
    """
    return np.outer([1.0 - p_bio, p_bio], [1.0 - p_tech, p_tech])


class SyntheticDatasetCorr(GeneExpressionDataset):
    """Clusters of cells, each with its own block of highly expressed genes.

    Generative process:

    - ``n_clusters`` clusters of ``n_cells_cluster`` cells, in that order
      (``labels`` 0, ..., ``n_clusters - 1``; ``cell_types`` ``"cluster_0"``, ...);
    - cluster k highly expresses a block of ``n_genes_high`` consecutive genes
      starting at gene ``k * (n_genes_high - n_overlap)``, so that consecutive
      blocks share ``n_overlap`` genes; there are ``n_genes_total = n_clusters *
      (n_genes_high - n_overlap) + n_overlap`` genes, named ``"0"``, ``"1"``, ...;
    - the genes of the block of a cell's cluster have weight ``weight_high``, the
      others ``weight_low``; the Poisson mean of gene g in a cell of cluster k is
      ``exprs_param = lam_0 * w_kg / sum_g' w_kg'`` (so ``lam_0`` is the expected
      library size);
    - counts are independent Poisson draws (genes of a block are correlated
      across cells through the clusters only), then go through :meth:`mask`
      (unchanged here; zero-inflation in :class:`ZISyntheticDatasetCorr`).

    The attributes below describe the cells as generated, with scVI 0.6's leading
    axis of one batch: they are not updated when cells are filtered.

    Parameters
    ----------
    n_cells_cluster
        Number of cells of each cluster.
    n_clusters
        Number of clusters.
    n_genes_high
        Number of highly expressed genes of each cluster.
    n_overlap
        Number of genes shared by consecutive blocks, in ``[0, n_genes_high)``.
    weight_high
        Weight (>= 0) of the genes of a cluster's block.
    weight_low
        Weight (>= 0) of the other genes.
    lam_0
        Expected library size, > 0.
    seed
        Seed of the random state the counts are drawn from (scVI 0.6.8 draws
        with seed 0).

    Attributes
    ----------
    exprs_param
        Poisson means, ``(1, n_cells, n_genes_total)``.
    is_highly_exp
        Whether a gene is in the block of the cell's cluster, same shape, boolean.
    poisson_zero
        ``exp(-exprs_param)``: probability of a (biological) Poisson zero.
    probas_zero_bio_tech_high, probas_zero_bio_tech_low
        None here (see :class:`ZISyntheticDatasetCorr`).
    n_clusters, n_cells_cluster, n_genes_high, n_genes_total
        The sizes above.

    Examples
    --------
    >>> dataset = SyntheticDatasetCorr(n_cells_cluster=50, n_clusters=2)
    >>> dataset.X.shape, dataset.exprs_param.shape
    ((100, 50), (1, 100, 50))
    """

    def __init__(
        self,
        n_cells_cluster: int = 200,
        n_clusters: int = 3,
        n_genes_high: int = 25,
        n_overlap: int = 0,
        weight_high: float = 0.04,
        weight_low: float = 0.01,
        lam_0: float = 50.0,
        *,
        seed: int = 0,
    ):
        super().__init__()
        for name, value in (
            ("n_cells_cluster", n_cells_cluster),
            ("n_clusters", n_clusters),
            ("n_genes_high", n_genes_high),
        ):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if int(n_overlap) != n_overlap or not 0 <= n_overlap < n_genes_high:
            raise ValueError(
                f"n_overlap must be an integer in [0, n_genes_high), got {n_overlap!r}"
            )
        if not (weight_high >= 0 and weight_low >= 0 and weight_high + weight_low > 0):
            raise ValueError(
                "weight_high and weight_low must be >= 0 and not both 0, got "
                f"{weight_high!r} and {weight_low!r}"
            )
        if not lam_0 > 0:
            raise ValueError(f"lam_0 must be > 0, got {lam_0!r}")
        self.n_cells_cluster, self.n_clusters = int(n_cells_cluster), int(n_clusters)
        self.n_genes_high = int(n_genes_high)
        step = self.n_genes_high - int(n_overlap)
        self.n_genes_total = self.n_clusters * step + int(n_overlap)
        high = np.zeros((self.n_clusters, self.n_genes_total), dtype=bool)
        for k in range(self.n_clusters):
            high[k, k * step : k * step + self.n_genes_high] = True
        weights = np.where(high, weight_high, weight_low)
        # every cluster has n_genes_high heavy genes: the same normaliser
        total = weights[0].sum()
        self._exprs_high = lam_0 * weight_high / total
        self._exprs_low = lam_0 * weight_low / total
        labels = np.repeat(np.arange(self.n_clusters), self.n_cells_cluster)
        self.exprs_param = (lam_0 * weights / total)[labels][None]
        self.is_highly_exp = high[labels][None]
        self.poisson_zero = np.exp(-self.exprs_param)
        self.probas_zero_bio_tech_high = None
        self.probas_zero_bio_tech_low = None
        logger.info(
            "Poisson means of the genes: %s (low), %s (high)",
            self._exprs_low,
            self._exprs_high,
        )
        self._random_state = np.random.RandomState(seed)
        data = self.mask(self._random_state.poisson(self.exprs_param))
        self.populate_from_data(
            np.asarray(data, dtype=np.float32).reshape(len(labels), -1),
            labels=labels,
            gene_names=np.arange(self.n_genes_total).astype(str),
            cell_types=np.array([f"cluster_{k}" for k in range(self.n_clusters)]),
            remap_attributes=False,
        )

    def mask(self, data: np.ndarray) -> np.ndarray:
        """Apply technical dropout to generated counts: none here.

        Parameters
        ----------
        data
            Counts as generated.

        Returns
        -------
        numpy.ndarray
            ``data`` itself.
        """
        return data


class ZISyntheticDatasetCorr(SyntheticDatasetCorr):
    """:class:`SyntheticDatasetCorr` with technical zeros (zero-inflation).

    After the Poisson draws, :meth:`mask` sets each count to zero with
    probability ``p_dropout``, which depends on the Poisson mean ``lambda`` of
    the entry: ``dropout_coef_high * exp(-lam_dropout_high * lambda ** 2)`` for
    the genes of the block of the cell's cluster, ``dropout_coef_low *
    exp(-lam_dropout_low * lambda ** 2)`` for the others. With ``lam_dropout = 0``
    (default) the probability is the coefficient; larger values spare the more
    expressed genes. The zeros of the counts are thus either biological (a
    Poisson zero) or technical (``is_technical``), or both.

    Parameters
    ----------
    dropout_coef_high
        Dropout probability factor of the highly expressed genes, in [0, 1].
    lam_dropout_high
        Decay (>= 0) of that probability with the squared Poisson mean.
    dropout_coef_low
        Dropout probability factor of the other genes, in [0, 1].
    lam_dropout_low
        Decay (>= 0) of that probability with the squared Poisson mean.
    n_cells_cluster, n_clusters, n_genes_high, n_overlap
        As in :class:`SyntheticDatasetCorr`.
    weight_high, weight_low, lam_0, seed
        As in :class:`SyntheticDatasetCorr`.

    Attributes
    ----------
    p_dropout
        Dropout probability of each entry, ``(1, n_cells, n_genes_total)``;
        ``zi_zero`` is the same array (scVI 0.6's two names).
    is_technical
        Entries set to zero by the dropout, same shape, boolean (a technical
        zero; the Poisson count may have been zero too).
    probas_zero_bio_tech_high, probas_zero_bio_tech_low
        2 x 2 joint probabilities of an entry of a highly (lowly) expressed gene:
        row 0 / 1 for a non-zero / zero Poisson count, column 0 / 1 without / with
        dropout.
    exprs_param, is_highly_exp, poisson_zero, n_clusters, ...
        As in :class:`SyntheticDatasetCorr`.

    Examples
    --------
    >>> dataset = ZISyntheticDatasetCorr()
    >>> int(dataset.is_technical.sum()), int((dataset.X == 0).sum())
    (3232, 26781)
    """

    def __init__(
        self,
        dropout_coef_high: float = 0.05,
        lam_dropout_high: float = 0.0,
        dropout_coef_low: float = 0.08,
        lam_dropout_low: float = 0.0,
        n_cells_cluster: int = 200,
        n_clusters: int = 3,
        n_genes_high: int = 25,
        n_overlap: int = 0,
        weight_high: float = 0.04,
        weight_low: float = 0.01,
        lam_0: float = 50.0,
        *,
        seed: int = 0,
    ):
        for name, value in (
            ("dropout_coef_high", dropout_coef_high),
            ("dropout_coef_low", dropout_coef_low),
        ):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        for name, value in (
            ("lam_dropout_high", lam_dropout_high),
            ("lam_dropout_low", lam_dropout_low),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        self.dropout_coef_high, self.lam_dropout_high = (
            dropout_coef_high,
            lam_dropout_high,
        )
        self.dropout_coef_low, self.lam_dropout_low = dropout_coef_low, lam_dropout_low
        super().__init__(
            n_cells_cluster=n_cells_cluster,
            n_clusters=n_clusters,
            n_genes_high=n_genes_high,
            n_overlap=n_overlap,
            weight_high=weight_high,
            weight_low=weight_low,
            lam_0=lam_0,
            seed=seed,
        )

    def _dropout(self, exprs, high: bool):
        """Dropout probability of an entry of Poisson mean ``exprs``."""
        if high:
            return self.dropout_coef_high * np.exp(-self.lam_dropout_high * exprs**2)
        return self.dropout_coef_low * np.exp(-self.lam_dropout_low * exprs**2)

    def mask(self, data: np.ndarray) -> np.ndarray:
        """Zero-inflate generated counts; record the zeroed entries.

        Draws a Bernoulli variable of probability ``p_dropout`` per entry (from
        the dataset's random state) into ``is_technical``, and sets the counts
        of the entries drawn to zero.

        Parameters
        ----------
        data
            Counts of shape ``(1, n_cells, n_genes_total)`` or ``(n_cells,
            n_genes_total)``.

        Returns
        -------
        numpy.ndarray
            A copy of ``data`` (same shape) with the technical zeros.
        """
        data = np.asarray(data)
        if data.shape[-2:] != self.exprs_param.shape[1:] or data.ndim not in (2, 3):
            raise ValueError(
                f"data must have the shape {self.exprs_param.shape} (or without its "
                f"first axis) of the generated counts, got {data.shape}"
            )
        self.p_dropout = np.where(
            self.is_highly_exp,
            self._dropout(self.exprs_param, True),
            self._dropout(self.exprs_param, False),
        )
        self.zi_zero = self.p_dropout
        self.is_technical = self._random_state.binomial(1, self.p_dropout).astype(bool)
        self.probas_zero_bio_tech_high = _bio_tech_table(
            np.exp(-self._exprs_high), self._dropout(self._exprs_high, True)
        )
        self.probas_zero_bio_tech_low = _bio_tech_table(
            np.exp(-self._exprs_low), self._dropout(self._exprs_low, False)
        )
        return np.where(self.is_technical.reshape(data.shape), 0, data)
