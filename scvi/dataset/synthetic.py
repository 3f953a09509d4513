"""Synthetic count data, for tests, demos and benchmarks."""

import numpy as np

from .dataset import CellMeasurement, GeneExpressionDataset


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
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("nb_genes", nb_genes, 1),
            ("n_proteins", n_proteins, 0),
            ("n_batches", n_batches, 1),
            ("n_labels", n_labels, 1),
        ):
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
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
