"""The mouse cortex and hippocampus dataset of Zeisel et al. (2015)."""

import csv
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

_URL = (
    "https://storage.googleapis.com/linnarsson-lab-www-blobs/blobs/cortex/"
    "expression_mRNA_17-Aug-2014.txt"
)


class CortexDataset(DownloadableDataset):
    """Loads cortex dataset.

    The Mouse Cortex Cells dataset (Zeisel et al., 2015) contains 3005 mouse cortex
    cells profiled with Smart-seq2 (with UMIs) and gold-standard labels for seven
    distinct cell types. By default the 558 genes of largest variance are kept.

    The file ``expression.bin`` is the authors' tab-separated text file: first rows
    of cell metadata (a name in the second column, e.g. ``tissue``, ``cell_id``,
    ``level1class``, ``level2class``, then one value per cell), an empty row, then
    one row per gene (name, cluster number, then one count per cell). ``labels``
    are the ``level1class`` names, numbered in alphabetical order (``cell_types``);
    ``precise_labels`` (a cell attribute) are the ``level2class`` names numbered the
    same way, named by ``precise_cell_types``. All cells are in batch 0. A metadata
    row longer than the gene rows is cut to the number of cells, with a warning.

    Parameters
    ----------
    save_path
        Folder holding (or receiving) ``expression.bin``.
    genes_to_keep
        Names of genes to keep (case-sensitive); they come first, in this order.
    total_genes
        Total number of genes to keep: after ``genes_to_keep``, the genes of largest
        count variance, in decreasing order of variance. If None and
        ``genes_to_keep`` is empty/None, all genes are loaded, in file order; if None
        with ``genes_to_keep``, only those are kept.
    delayed_populating
        If True, the file is downloaded but not read.

    Raises
    ------
    ValueError
        If a name of ``genes_to_keep`` is not in the file, ``total_genes`` is not a
        positive integer, or the file does not have the layout above.

    Examples
    --------
    >>> gene_dataset = CortexDataset()
    >>> gene_dataset.cell_types  # doctest: +SKIP
    array(['astrocytes_ependymal', 'endothelial-mural', 'interneurons', ...])
    """

    def __init__(
        self,
        save_path: str = "data/",
        genes_to_keep: Optional[List[str]] = None,
        total_genes: Optional[int] = 558,
        delayed_populating: bool = False,
    ):
        if total_genes is not None and (
            isinstance(total_genes, bool)
            or int(total_genes) != total_genes
            or total_genes < 1
        ):
            raise ValueError(
                f"total_genes must be a positive integer or None, got {total_genes!r}"
            )
        if isinstance(genes_to_keep, str):
            genes_to_keep = [genes_to_keep]
        self.genes_to_keep = list(genes_to_keep) if genes_to_keep is not None else []
        self.total_genes = total_genes
        super().__init__(
            urls=[_URL],
            filenames=["expression.bin"],
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def populate(self) -> None:
        """Read ``expression.bin``, select the genes and populate the dataset."""
        logger.info("Loading Cortex data")
        path = os.path.join(self.save_path, self.filenames[0])
        metadata, n_header_lines = _read_metadata(path)
        gene_names, X = _read_genes(path, n_header_lines)
        n_cells = X.shape[0]
        level1 = _metadata_row(metadata, "level1class", n_cells, path)
        level2 = _metadata_row(metadata, "level2class", n_cells, path)
        cell_types, labels = np.unique(level1, return_inverse=True)
        precise_cell_types, precise_labels = np.unique(level2, return_inverse=True)
        kept = _select_genes(gene_names, X, self.genes_to_keep, self.total_genes)
        X, gene_names = X[:, kept], gene_names[kept]
        logger.info("Finished preprocessing Cortex data")
        self.populate_from_data(
            X,
            labels=labels.astype(np.int64),
            gene_names=gene_names,
            cell_types=cell_types,
            cell_attributes_dict={"precise_labels": precise_labels.astype(np.int64)},
        )
        self.precise_cell_types = precise_cell_types


def _read_metadata(path: str) -> Tuple[Dict[str, List[str]], int]:
    """Metadata rows by name, and the number of lines before the first gene row."""
    metadata = {}
    with open(path, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            if not any(field.strip() for field in row):
                continue
            if row[0].strip() in ("", "(none)") and len(row) > 1 and row[1].strip():
                metadata[row[1].strip()] = [field.strip() for field in row[2:]]
                continue
            return metadata, reader.line_num - 1
    raise ValueError(f"{path} has no gene rows after its metadata rows")


def _read_genes(path: str, n_header_lines: int) -> Tuple[np.ndarray, np.ndarray]:
    """Gene names and the (cells x genes) float32 counts of the gene rows."""
    try:
        table = pd.read_csv(
            path,
            sep="\t",
            header=None,
            skiprows=n_header_lines,
            quoting=csv.QUOTE_NONE,
            dtype={0: str},
            keep_default_na=False,
            na_values=[""],
        )
    except pd.errors.ParserError as error:
        raise ValueError(f"{path}: the gene rows are ragged ({error})") from error
    table = table.dropna(how="all")
    if table.shape[1] < 3:
        raise ValueError(
            f"{path}: gene rows need a name, a cluster and counts; got "
            f"{table.shape[1]} columns"
        )
    try:
        counts = table.iloc[:, 2:].to_numpy(dtype=np.float32)
    except ValueError as error:
        raise ValueError(f"{path}: non-numeric counts in the gene rows") from error
    if np.isnan(counts).any():
        row = int(np.nonzero(np.isnan(counts).any(axis=1))[0][0])
        raise ValueError(
            f"{path}: gene {table.iloc[row, 0]!r} has missing counts (ragged rows?)"
        )
    return table.iloc[:, 0].astype(str).to_numpy(), counts.T.copy()


def _metadata_row(metadata, name: str, n_cells: int, path: str) -> np.ndarray:
    if name not in metadata:
        raise ValueError(
            f"{path} has no {name!r} metadata row; found {sorted(metadata)}"
        )
    values = metadata[name]
    if len(values) < n_cells:
        raise ValueError(
            f"{path}: the {name!r} row has {len(values)} values for {n_cells} cells"
        )
    if len(values) > n_cells:
        logger.warning(
            "%s: the %r row has %i values for %i cells; keeping the first %i",
            path,
            name,
            len(values),
            n_cells,
            n_cells,
        )
    return np.asarray(values[:n_cells], dtype=str)


def _select_genes(
    gene_names: np.ndarray,
    X: np.ndarray,
    genes_to_keep: Sequence[str],
    total_genes: Optional[int],
) -> np.ndarray:
    """Positions of ``genes_to_keep``, then of the most variable other genes."""
    if not genes_to_keep and total_genes is None:
        return np.arange(len(gene_names))
    positions = {}
    for i, name in enumerate(gene_names):
        positions.setdefault(name, i)
    missing = [name for name in genes_to_keep if name not in positions]
    if missing:
        raise ValueError(
            f"genes_to_keep has {len(missing)} names not in the Cortex data, e.g. "
            f"{missing[:10]} (names are case-sensitive)"
        )
    kept = list(dict.fromkeys(positions[name] for name in genes_to_keep))
    n_more = 0 if total_genes is None else total_genes - len(kept)
    if n_more > 0:
        variances = X.var(axis=0)
        variances[kept] = -np.inf
        order = np.argsort(-variances, kind="stable")
        kept += [int(i) for i in order[: min(n_more, len(gene_names) - len(kept))]]
    return np.asarray(kept, dtype=np.int64)
