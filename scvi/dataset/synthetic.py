"""Synthetic count data, for tests, demos and benchmarks."""

import os

import numpy as np

from ._legacy_pickle import read_legacy_pickle
from ._synthetic_corr import SyntheticDatasetCorr, ZISyntheticDatasetCorr
from .dataset import CellMeasurement, DownloadableDataset, GeneExpressionDataset

__all__ = [
    "SyntheticDataset",
    "SyntheticRandomDataset",
    "SyntheticDatasetCorr",
    "ZISyntheticDatasetCorr",
]


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
