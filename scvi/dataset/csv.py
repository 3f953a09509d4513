"""Datasets read from delimited text files (.csv, .tsv), possibly compressed."""

import bz2
import csv
import gzip
import io
import logging
import lzma
import os
import zipfile
from typing import Iterable, Optional, Union

import numpy as np
import pandas as pd

from ._single_file import SingleFileMixin
from .dataset import DownloadableDataset

logger = logging.getLogger(__name__)

__all__ = ["CsvDataset", "BreastCancerDataset", "MouseOBDataset"]

_COMPRESSIONS = {
    "gzip": "gzip",
    "gz": "gzip",
    "bz2": "bz2",
    "xz": "xz",
    "zip": "zip",
}
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def _compression(path: str, compression: Optional[str]) -> Optional[str]:
    """The decompression to apply: given, or inferred from the extension."""
    if compression is None or compression == "infer":
        extension = os.path.splitext(path)[1].lower().lstrip(".")
        return _COMPRESSIONS.get(extension)
    key = str(compression).lower().lstrip(".")
    if key not in _COMPRESSIONS:
        raise ValueError(
            f"compression={compression!r} is not supported; use one of "
            f"{sorted(_COMPRESSIONS)}, 'infer' or None"
        )
    return _COMPRESSIONS[key]


def open_text(path: str, compression: Optional[str] = None) -> io.TextIOBase:
    """Open a possibly compressed text file for reading.

    Parameters
    ----------
    path
        Path of the file.
    compression
        ``"gzip"`` (or ``"gz"``), ``"bz2"``, ``"xz"``, ``"zip"`` (an archive holding
        a single file), ``"infer"`` or None (both: from the extension, ``.gz``,
        ``.bz2``, ``.xz``, ``.zip``; no decompression otherwise).

    Raises
    ------
    ValueError
        For an unknown compression, or a zip archive without exactly one file.
    """
    kind = _compression(path, compression)
    if kind is None:
        return open(path, "r", newline="", encoding="utf-8")
    if kind == "zip":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            archive.close()
            raise ValueError(
                f"{path} must hold exactly one file to be read, found {members[:10]}"
            )
        return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", newline="")
    return _OPENERS[kind](path, "rt", newline="", encoding="utf-8")


def _split_rows(handle, sep: str):
    """Yield (line number, fields) for each non-blank line."""
    if len(sep) == 1:
        rows = csv.reader(handle, delimiter=sep)
        for fields in rows:
            if fields:
                yield rows.line_num, fields
    else:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if line:
                yield number, line.split(sep)


def find_bad_line(path: str, sep: str, compression: Optional[str]) -> Optional[str]:
    """Describe the first line of a table with a wrong number of fields or a hole.

    The header may have one field less than the rows (no name for the index
    column); every other row must have as many fields as the first data row and
    no empty field.

    Returns
    -------
    str or None
        E.g. ``"line 4 has 3 fields, 5 expected"``; None if the table is regular.
    """
    with open_text(path, compression) as handle:
        rows = _split_rows(handle, sep)
        header = next(rows, None)
        first = next(rows, None)
        if header is None or first is None:
            return None
        expected = len(first[1])
        if len(header[1]) not in (expected, expected - 1):
            return (
                f"line {header[0]} (header) has {len(header[1])} fields, "
                f"{expected} expected"
            )
        for number, fields in [first] + list(rows):
            if len(fields) != expected:
                return f"line {number} has {len(fields)} fields, {expected} expected"
            if any(field.strip() == "" for field in fields[1:]):
                return f"line {number} has an empty field"
    return None


def read_count_table(
    path: str, sep: str = ",", compression: Optional[str] = None
) -> pd.DataFrame:
    """Read a table with a header row and row names, with clear errors.

    Raises
    ------
    ValueError
        Naming the file (and the line) for ragged rows, empty fields or
        non-numeric values.
    """
    try:
        with open_text(path, compression) as handle:
            # only empty fields are missing: a gene may be called "NA" or "nan"
            table = pd.read_csv(
                handle, sep=sep, index_col=0, keep_default_na=False, na_values=[""]
            )
    except pd.errors.ParserError as error:
        problem = find_bad_line(path, sep, compression)
        raise ValueError(f"{path}: ragged rows, {problem or error}") from None
    except (OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as error:
        raise ValueError(f"could not read {path}: {error}") from None
    if table.isna().to_numpy().any():
        problem = find_bad_line(path, sep, compression)
        raise ValueError(f"{path}: {problem or 'missing values in the table'}")
    bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise ValueError(
            f"{path}: non-numeric values in the count matrix, e.g. in column "
            f"{bad[0]!r}"
        )
    return table


def read_cell_table(
    path: str, cell_names: np.ndarray, what: str, sep: str = ","
) -> np.ndarray:
    """Values of a two-column table (cell name, value) in the order of ``cell_names``.

    The first line is a header. Integer values come back as int64, others as str.

    Raises
    ------
    ValueError
        For ragged rows, duplicated cell names, or cells of the matrix missing from
        the table; the message names the file.
    """
    values = {}
    with open_text(path) as handle:
        rows = _split_rows(handle, sep)
        header = next(rows, None)
        if header is None:
            raise ValueError(f"{what} {path} is empty")
        width = len(header[1])
        if width < 2:
            raise ValueError(
                f"{what} {path} must have two columns (cell name, value), line "
                f"{header[0]} has {width}"
            )
        for number, fields in rows:
            if len(fields) != width:
                raise ValueError(
                    f"{what} {path}: ragged rows, line {number} has {len(fields)} "
                    f"fields, {width} expected"
                )
            if fields[0] in values:
                raise ValueError(f"{what} {path}: cell {fields[0]!r} appears twice")
            values[fields[0]] = fields[1].strip()
    missing = [name for name in cell_names if name not in values]
    if missing:
        raise ValueError(
            f"{what} {path} has no value for {len(missing)} cells of the matrix, "
            f"e.g. {missing[:5]}"
        )
    extra = len(values) - len(cell_names)
    if extra > 0:
        logger.warning("%s %s names %i cells not in the matrix", what, path, extra)
    column = np.array([values[name] for name in cell_names], dtype=str)
    try:
        return column.astype(np.int64)
    except ValueError:
        return column


def _gene_subset(gene_names: np.ndarray, subset_genes) -> np.ndarray:
    """Positions of ``subset_genes`` (names or positions) among ``gene_names``."""
    subset = np.asarray(list(subset_genes)).reshape(-1)
    if subset.size and np.issubdtype(subset.dtype, np.integer):
        if subset.max() >= len(gene_names) or subset.min() < -len(gene_names):
            raise ValueError(
                f"subset_genes has positions outside [0, {len(gene_names)})"
            )
        return subset.astype(np.int64)
    lookup = {name: i for i, name in enumerate(gene_names)}
    missing = [g for g in subset.astype(str) if g not in lookup]
    if missing:
        raise ValueError(f"subset_genes names genes not in the file: {missing[:10]}")
    return np.array([lookup[g] for g in subset.astype(str)], dtype=np.int64)


class CsvDataset(SingleFileMixin, DownloadableDataset):
    """Loads a ``.csv`` file (or any delimited text file) of counts.

    The file has a header row and names in its first column: gene names and cell
    names (genes x cells) by default, or the reverse with ``gene_by_cell=False``.
    Counts are stored as a dense float32 matrix (cells x genes).

    Parameters
    ----------
    filename
        File name to use when saving/loading the data.
    save_path
        Location to use when saving/loading the data.
    url
        URL pointing to the data which will be downloaded if it's not already in
        ``save_path``.
    new_n_genes
        Number of genes to keep, selected by :meth:`subsample_genes` after
        populating; None (or False) keeps all genes.
    subset_genes
        Names or positions of the genes to keep (in this order), applied when
        reading.
    compression
        ``"gzip"``, ``"bz2"``, ``"xz"`` or ``"zip"`` (the archive holding a single
        file) for on-the-fly decompression; with None or ``"infer"`` it is inferred
        from the extension (``.gz``, ``.bz2``, ``.xz``, ``.zip``).
    sep
        Field delimiter, e.g. ``"\\t"`` for ``.tsv`` files.
    gene_by_cell
        If True, rows are genes and columns cells; if False the reverse.
    labels_file
        Name (in ``save_path``) of a ``.csv`` file of labels: a header line, then
        one row per cell holding its name and its label (an integer code or a
        cell type name).
    batch_ids_file
        Name (in ``save_path``) of a ``.csv`` file of batch indices, laid out as
        ``labels_file`` (integer batch indices, or names turned into codes).
    delayed_populating
        Switch for delayed populating mechanism.

    Raises
    ------
    ValueError
        For ragged rows (naming the file and line), empty fields, non-numeric
        counts, unknown ``subset_genes`` or cells without a label/batch.

    Examples
    --------
    >>> # Loading a remote dataset
    >>> remote_url = (
    ...     "https://www.ncbi.nlm.nih.gov/geo/download/?acc=GSE100866&format=file&"
    ...     "file=GSE100866%5FCBMC%5F8K%5F13AB%5F10X%2DRNA%5Fumi%2Ecsv%2Egz"
    ... )
    >>> remote_csv_dataset = CsvDataset(
    ...     "GSE100866_CBMC_8K_13AB_10X-RNA_umi.csv.gz",
    ...     save_path="data/",
    ...     compression="gzip",
    ...     url=remote_url,
    ... )
    >>> # Loading a local dataset
    >>> local_csv_dataset = CsvDataset(
    ...     "GSE100866_CBMC_8K_13AB_10X-RNA_umi.csv.gz",
    ...     save_path="data/",
    ...     compression="gzip",
    ... )
    """

    def __init__(
        self,
        filename: str,
        save_path: str = "data",
        url: Optional[str] = None,
        new_n_genes: Optional[int] = None,
        subset_genes: Optional[Iterable[Union[int, str]]] = None,
        compression: Optional[str] = None,
        sep: str = ",",
        gene_by_cell: bool = True,
        labels_file: Optional[str] = None,
        batch_ids_file: Optional[str] = None,
        delayed_populating: bool = False,
    ):
        self.compression = compression
        self.sep = sep
        self.gene_by_cell = gene_by_cell
        self.labels_file = labels_file
        self.batch_ids_file = batch_ids_file
        self.subset_genes = subset_genes
        self.new_n_genes = new_n_genes
        super().__init__(filename, save_path, url, delayed_populating)

    def populate(self) -> None:
        """Read the file (and the labels and batch files) and populate the dataset;
        then keep ``new_n_genes`` genes if given."""
        super().populate()
        if self.new_n_genes:
            self.subsample_genes(new_n_genes=self.new_n_genes)

    def _read(self, path: str) -> dict:
        table = read_count_table(path, sep=self.sep, compression=self.compression)
        if self.gene_by_cell:
            gene_names, cell_names = table.index, table.columns
            X = np.ascontiguousarray(table.to_numpy(dtype=np.float32).T)
        else:
            cell_names, gene_names = table.index, table.columns
            X = table.to_numpy(dtype=np.float32)
        del table
        gene_names = np.asarray(gene_names).astype(str)
        cell_names = np.asarray(cell_names).astype(str)
        if self.subset_genes is not None:
            keep = _gene_subset(gene_names, self.subset_genes)
            X, gene_names = X[:, keep], gene_names[keep]
        labels = batch_indices = None
        if self.labels_file is not None:
            labels = read_cell_table(
                os.path.join(self.save_path, self.labels_file),
                cell_names,
                "labels_file",
            )
        if self.batch_ids_file is not None:
            batch_indices = read_cell_table(
                os.path.join(self.save_path, self.batch_ids_file),
                cell_names,
                "batch_ids_file",
            )
            if batch_indices.dtype.kind not in "iu":
                _, batch_indices = np.unique(batch_indices, return_inverse=True)
        return dict(
            X=X, batch_indices=batch_indices, labels=labels, gene_names=gene_names
        )


_SPATIAL_RESEARCH = "https://www.spatialresearch.org/wp-content/uploads/2016/07/"


class _SpatialTranscriptomicsMixin:
    """For a :class:`CsvDataset` of a count matrix of *Visualization and analysis
    of gene expression in tissue sections by spatial transcriptomics* (Ståhl et
    al., Science 353, 78-82, 2016).

    ``FILENAME`` is tab separated, with one row per spot and one column per gene;
    it is downloaded from the Spatial Research lab's resources (spatialresearch.org,
    formerly spatialtranscriptomicsresearch.org) if it is not in ``save_path``.
    """

    #: name of the file, set by the subclasses
    FILENAME: str

    def __init__(self, save_path: str = "data", delayed_populating: bool = False):
        super().__init__(
            self.FILENAME,
            save_path=save_path,
            url=_SPATIAL_RESEARCH + self.FILENAME,
            sep="\t",
            gene_by_cell=False,
            delayed_populating=delayed_populating,
        )


class BreastCancerDataset(_SpatialTranscriptomicsMixin, CsvDataset):
    """Spatial transcriptomics of a human breast cancer section (Ståhl et al., 2016).

    Layer 2 of the breast cancer data of *Visualization and analysis of gene
    expression in tissue sections by spatial transcriptomics* (Science 353,
    78-82): ``Layer2_BC_count_matrix-1.tsv``, tab separated, one row per spot
    (named by its array coordinates, e.g. ``"17.907x4.967"``) and one column per
    gene. The file is downloaded from the Spatial Research lab's resources
    (spatialresearch.org, formerly spatialtranscriptomicsresearch.org) if it is not
    in ``save_path``.

    Parameters
    ----------
    save_path
        Location to use when saving/loading the data.
    delayed_populating
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> dataset = BreastCancerDataset(save_path="data/")
    """

    FILENAME = "Layer2_BC_count_matrix-1.tsv"


class MouseOBDataset(_SpatialTranscriptomicsMixin, CsvDataset):
    """Spatial transcriptomics of a mouse olfactory bulb section (Ståhl et al., 2016).

    Replicate 11 of the mouse olfactory bulb data of *Visualization and analysis
    of gene expression in tissue sections by spatial transcriptomics* (Science 353,
    78-82): ``Rep11_MOB_count_matrix-1.tsv``, tab separated, one row per spot and
    one column per gene. The file is downloaded from the Spatial Research lab's
    resources (spatialresearch.org, formerly spatialtranscriptomicsresearch.org)
    if it is not in ``save_path``.

    Parameters
    ----------
    save_path
        Location to use when saving/loading the data.
    delayed_populating
        Switch for delayed populating mechanism.

    Examples
    --------
    >>> dataset = MouseOBDataset(save_path="data/")
    """

    FILENAME = "Rep11_MOB_count_matrix-1.tsv"
