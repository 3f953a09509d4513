"""Synthetic count data, for tests, demos and benchmarks."""

import os

import numpy as np

from ._legacy_pickle import read_legacy_pickle
from .dataset import CellMeasurement, DownloadableDataset, GeneExpressionDataset


def _check_integers(minimum: int, **values) -> None:
    """Raise a ValueError unless every value is an integer >= ``minimum``."""
    for name, value in values.items():
        if int(value) != value or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class SyntheticDataset(GeneExpressionDataset):
    """Random counts in several batches, with labels and protein counts.

    RNA counts are negative binomial draws (``r=5``, ``p=0.3``, mean about 11.7)
    with 70% of the entries kept (zero-inflation); protein counts are negative
    binomial draws (``r=10``, ``p=0.2``). Labels are drawn uniformly. Uses NumPy's
    global random state (see :func:`scvi.set_seed`).

    Parameters
    ----------
    batch_size
        Number of cells in each batch.
    nb_genes
        Number of genes.
    n_proteins
        Number of proteins in ``protein_expression`` (0 for none).
    n_batches
        Number of batches.
    n_labels
        Number of labels; the cell types are named ``"undefined_0"``, ...

    Examples
    --------
    >>> dataset = SyntheticDataset(batch_size=50, nb_genes=20, n_proteins=5)
    >>> dataset.nb_cells, dataset.protein_expression.shape
    (100, (100, 5))
    """

    def __init__(
        self,
        batch_size: int = 200,
        nb_genes: int = 100,
        n_proteins: int = 100,
        n_batches: int = 2,
        n_labels: int = 3,
    ):
        super().__init__()
        _check_integers(1, batch_size=batch_size, nb_genes=nb_genes)
        _check_integers(0, n_proteins=n_proteins)
        _check_integers(1, n_batches=n_batches, n_labels=n_labels)
        n_cells = batch_size * n_batches
        counts = np.random.negative_binomial(5, 0.3, size=(n_cells, nb_genes))
        kept = np.random.binomial(1, 0.7, size=(n_cells, nb_genes))
        X = (counts * kept).astype(np.float32)
        labels = np.random.randint(0, n_labels, size=n_cells)
        batches = np.repeat(np.arange(n_batches), batch_size)
        measurements = []
        if n_proteins:
            proteins = np.random.negative_binomial(10, 0.2, size=(n_cells, n_proteins))
            measurements.append(
                CellMeasurement(
                    name="protein_expression",
                    data=proteins.astype(np.float32),
                    columns_attr_name="protein_names",
                    columns=np.array([f"protein_{i}" for i in range(n_proteins)]),
                )
            )
        self.populate_from_data(
            X,
            Ys=measurements,
            batch_indices=batches,
            labels=labels,
            gene_names=np.array([f"gene_{i}" for i in range(nb_genes)]),
            cell_types=np.array([f"undefined_{i}" for i in range(n_labels)]),
            remap_attributes=False,
        )


# ------------------------------------------------------------ metadata-based data
class SyntheticRandomDataset(DownloadableDataset):
    """Zero-inflated negative binomial counts around the cells of a real dataset.

    ``random_metadata.pickle`` (read from ``save_path`` only: it is not downloaded)
    holds, for 1,897 cells, ``clusters`` (cluster numbers, which become
    ``labels``; ``cell_types`` are the numbers as text) and ``ydata`` (2-D
    coordinates of the cells, kept as the cell attribute ``latent``). Counts of
    ``N_GENES`` genes are drawn around these positions (NumPy's global random
    state, see :func:`scvi.set_seed`):

    1. ``z``: the coordinates, each standardized to mean 0 and variance 1;
    2. loadings ``W`` (d x N_GENES, with d = 2 columns of ``ydata``) with
       N(0, 0.5^2) entries;
    3. mean of gene g in cell c:
       ``rate[c, g] = mu * exp(z[c] . W[:, g] - ||W[:, g]||^2 / 2)`` (whose
       average over standard normal ``z`` is ``mu``);
    4. negative binomial counts of mean ``rate`` and inverse dispersion ``theta``
       (Poisson draws of Gamma(theta, rate / theta) intensities);
    5. each count set to zero with probability ``dropout`` (zero-inflation).

    The pickle (written with NumPy 1) is read with an unpickler that redirects
    ``numpy.core`` to ``numpy._core`` for NumPy 2. Pickles can run code when
    loaded: only use a file from a source you trust.

    Parameters
    ----------
    mu
        Average expression, > 0.
    theta
        Inverse dispersion of the negative binomial, > 0.
    dropout
        Probability that a count is replaced by zero, in [0, 1).
    save_path
        Folder holding ``random_metadata.pickle``.

    Examples
    --------
    >>> dataset = SyntheticRandomDataset(save_path="data/")  # doctest: +SKIP
    """

    FILENAME = "random_metadata.pickle"
    N_GENES = 100

    def __init__(
        self,
        mu: float = 4.0,
        theta: float = 2.0,
        dropout: float = 0.7,
        save_path: str = "data",
    ):
        if not mu > 0 or not theta > 0:
            raise ValueError(f"mu and theta must be > 0, got {mu!r} and {theta!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.mu, self.theta, self.dropout = mu, theta, dropout
        super().__init__(filenames=[self.FILENAME], save_path=save_path)

    def populate(self) -> None:
        """Load the metadata pickle and draw the counts."""
        path = os.path.join(self.save_path, self.FILENAME)
        content = read_legacy_pickle(path)
        if not isinstance(content, dict):
            raise ValueError(f"{path} holds a {type(content).__name__}, not a dict")
        if not {"clusters", "ydata"} <= set(content):
            raise ValueError(
                f"{path} must hold 'clusters' and 'ydata'; found {sorted(content)}"
            )
        clusters = np.asarray(content["clusters"]).reshape(-1)
        ydata = np.asarray(content["ydata"], dtype=np.float64)
        if ydata.ndim != 2 or len(ydata) != len(clusters):
            raise ValueError(
                f"{path}: ydata of shape {ydata.shape} for {len(clusters)} clusters"
            )
        scale = ydata.std(axis=0)
        z = (ydata - ydata.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        loadings = np.random.normal(0.0, 0.5, size=(z.shape[1], self.N_GENES))
        rate = self.mu * np.exp(z @ loadings - 0.5 * (loadings**2).sum(axis=0))
        intensity = np.random.gamma(self.theta, rate / self.theta)
        counts = np.random.poisson(intensity)
        kept = np.random.random(size=counts.shape) >= self.dropout
        self.populate_from_data(
            (counts * kept).astype(np.float32),
            labels=clusters.astype(np.int64),
            gene_names=np.array([f"gene_{i}" for i in range(self.N_GENES)]),
            cell_attributes_dict={"latent": ydata},
        )


# ------------------------------------------------------------ clustered data
class SyntheticDatasetCorr(GeneExpressionDataset):
    """Clusters of cells, each with its own block of highly expressed genes.

    Generative process (NumPy's global random state, see :func:`scvi.set_seed`):

    - ``n_clusters`` clusters of ``n_cells_cluster`` cells (``labels`` 0, 1, ...,
      ``cell_types`` ``"cluster_0"``, ...);
    - cluster k has a block of ``n_genes_high`` consecutive highly expressed genes
      starting at gene ``k * (n_genes_high - n_overlap)``, so that consecutive
      blocks share ``n_overlap`` genes; there are
      ``n_clusters * (n_genes_high - n_overlap) + n_overlap`` genes;
    - gene g has weight ``weight_high`` in the clusters whose block holds it and
      ``weight_low`` elsewhere (``cluster_weights``, n_clusters x n_genes);
    - counts are Poisson draws of rate ``lam_0 * weight``, then go through
      :meth:`mask` (no change here; zero-inflation in
      :class:`ZISyntheticDatasetCorr`).

    Genes of a block are thus correlated across cells.

    Parameters
    ----------
    n_cells_cluster
        Number of cells of each cluster.
    n_clusters
        Number of clusters.
    n_genes_high
        Number of highly expressed genes of each cluster.
    n_overlap
        Number of genes shared by consecutive blocks, in [0, n_genes_high).
    weight_high
        Weight of the genes of a cluster's block.
    weight_low
        Weight of the other genes.
    lam_0
        Rate scale: Poisson rates are ``lam_0 * weight``.

    Examples
    --------
    >>> dataset = SyntheticDatasetCorr(n_cells_cluster=50, n_clusters=2)
    >>> dataset.X.shape
    (100, 50)
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
    ):
        super().__init__()
        _check_integers(
            1,
            n_cells_cluster=n_cells_cluster,
            n_clusters=n_clusters,
            n_genes_high=n_genes_high,
        )
        if int(n_overlap) != n_overlap or not 0 <= n_overlap < n_genes_high:
            raise ValueError(
                f"n_overlap must be an integer in [0, n_genes_high), got {n_overlap!r}"
            )
        if weight_high < 0 or weight_low < 0 or not lam_0 > 0:
            raise ValueError("weights must be >= 0 and lam_0 > 0")
        step = n_genes_high - n_overlap
        n_genes = n_clusters * step + n_overlap
        high = np.zeros((n_clusters, n_genes), dtype=bool)
        for k in range(n_clusters):
            high[k, k * step : k * step + n_genes_high] = True
        self.cluster_weights = np.where(high, weight_high, weight_low)
        labels = np.repeat(np.arange(n_clusters), n_cells_cluster)
        self._high_mask = high[labels]
        data = np.random.poisson(lam_0 * self.cluster_weights[labels])
        X = self.mask(data)
        self.populate_from_data(
            np.asarray(X, dtype=np.float32),
            labels=labels,
            gene_names=np.array([f"gene_{g}" for g in range(n_genes)]),
            cell_types=np.array([f"cluster_{k}" for k in range(n_clusters)]),
            remap_attributes=False,
        )
        if getattr(self, "is_dropout", None) is not None:
            self.register_dataset_version("is_dropout")

    def mask(self, data: np.ndarray) -> np.ndarray:
        """Apply dropout to generated counts: none here, ``data`` is returned.

        Parameters
        ----------
        data
            Counts of shape (n_cells, n_genes) as generated.
        """
        return data


class ZISyntheticDatasetCorr(SyntheticDatasetCorr):
    """:class:`SyntheticDatasetCorr` with zero-inflation depending on the counts.

    After the Poisson draws, a count ``x`` of a highly expressed gene (in the
    cell's cluster block) is replaced by zero with probability
    ``dropout_coef_high * exp(-lam_dropout_high * x ** 2)``, and a count of another
    gene with probability ``dropout_coef_low * exp(-lam_dropout_low * x ** 2)``.
    With ``lam_dropout = 0`` (default) the probability is constant; larger values
    make large counts less likely to drop out. The entries set to zero are
    flagged in ``is_dropout`` (boolean, cells x genes, registered as a dataset
    version so that filters keep it aligned with ``X``).

    Parameters
    ----------
    dropout_coef_high
        Dropout probability of a zero count of a highly expressed gene, in [0, 1].
    lam_dropout_high
        Decay (>= 0) of that probability with the squared count.
    dropout_coef_low
        Dropout probability of a zero count of another gene, in [0, 1].
    lam_dropout_low
        Decay (>= 0) of that probability with the squared count.
    n_cells_cluster, n_clusters, n_genes_high, n_overlap, weight_high, weight_low, lam_0
        As in :class:`SyntheticDatasetCorr`.

    Examples
    --------
    >>> dataset = ZISyntheticDatasetCorr(dropout_coef_low=0.5)
    >>> dataset.is_dropout.shape
    (600, 75)
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
    ):
        for name, value in (
            ("dropout_coef_high", dropout_coef_high),
            ("dropout_coef_low", dropout_coef_low),
        ):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if lam_dropout_high < 0 or lam_dropout_low < 0:
            raise ValueError("lam_dropout_high and lam_dropout_low must be >= 0")
        self.dropout_coef_high = dropout_coef_high
        self.lam_dropout_high = lam_dropout_high
        self.dropout_coef_low = dropout_coef_low
        self.lam_dropout_low = lam_dropout_low
        super().__init__(
            n_cells_cluster=n_cells_cluster,
            n_clusters=n_clusters,
            n_genes_high=n_genes_high,
            n_overlap=n_overlap,
            weight_high=weight_high,
            weight_low=weight_low,
            lam_0=lam_0,
        )

    def dropout_probability(self, data: np.ndarray) -> np.ndarray:
        """Dropout probability of each entry of generated counts ``data``."""
        data = np.asarray(data, dtype=np.float64)
        if data.shape != self._high_mask.shape:
            raise ValueError(
                f"data must have the shape {self._high_mask.shape} of the generated "
                f"counts, got {data.shape}"
            )
        coef = np.where(self._high_mask, self.dropout_coef_high, self.dropout_coef_low)
        lam = np.where(self._high_mask, self.lam_dropout_high, self.lam_dropout_low)
        return coef * np.exp(-lam * data**2)

    def mask(self, data: np.ndarray) -> np.ndarray:
        """Zero-inflate generated counts; flag the zeroed entries in ``is_dropout``.

        Parameters
        ----------
        data
            Counts of shape (n_cells, n_genes) as generated.

        Returns
        -------
        numpy.ndarray
            ``data`` with each entry set to zero with its
            :meth:`dropout_probability`.
        """
        probability = self.dropout_probability(data)
        self.is_dropout = np.random.random(size=probability.shape) < probability
        return np.where(self.is_dropout, 0, data)
