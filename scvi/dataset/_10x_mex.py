"""Finding and reading Cell Ranger matrices in Market Exchange (MEX) format.

A Cell Ranger output folder holds a sparse ``matrix.mtx`` (features x barcodes), a
feature table and a barcode list, plain (Cell Ranger 1.x/2.x: ``genes.tsv``,
``barcodes.tsv``, ``matrix.mtx``, under a genome folder such as ``hg19/``) or gzipped
(Cell Ranger 3.x: ``features.tsv.gz``, ``barcodes.tsv.gz``, ``matrix.mtx.gz``).
"""

import csv
import os
import shutil
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp_sparse

from ._download import extract_archive

MATRIX_FILES = ("matrix.mtx", "matrix.mtx.gz")
FEATURE_FILES = ("features.tsv", "features.tsv.gz", "genes.tsv", "genes.tsv.gz")
BARCODE_FILES = ("barcodes.tsv", "barcodes.tsv.gz")
GENE_EXPRESSION = "Gene Expression"
ARCHIVE_ENDINGS = (".tar.gz", ".tgz", ".tar", ".zip")


def describe_expected(root: str) -> str:
    """Human-readable description of what is searched for under ``root``."""
    return (
        f"a Cell Ranger matrix folder ({' or '.join(MATRIX_FILES)} with "
        f"{' or '.join(FEATURE_FILES)} and {' or '.join(BARCODE_FILES)}) or a "
        f".tar.gz archive of one, in {os.path.abspath(root)} or its sub-folders"
    )


def find_matrix_folders(root: str) -> List[str]:
    """Folders under ``root`` (itself included) that hold a ``matrix.mtx[.gz]``.

    Hidden folders and macOS ``__MACOSX`` folders are skipped. Paths are sorted.
    """
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [
            s for s in subfolders if not s.startswith(".") and s != "__MACOSX"
        ]
        if any(name in files for name in MATRIX_FILES):
            found.append(os.path.normpath(folder))
    return sorted(found)


def matches_type(folder: str, root: str, type: str) -> bool:
    """Whether a folder, relative to ``root``, is named for ``type`` (raw/filtered).

    A part of the relative path must start with ``raw`` or ``filtered``, as in
    ``filtered_gene_bc_matrices/hg19`` or ``raw_feature_bc_matrix``.
    """
    parts = os.path.relpath(folder, root).replace("\\", "/").split("/")
    return any(part.startswith(type) for part in parts)


def pick_folder(
    candidates: List[str], root: str, type: str, typed_only: bool
) -> Optional[str]:
    """The one folder to read among ``candidates``, or None.

    Folders named for ``type`` are preferred; with ``typed_only`` (an archive of a
    known type is expected) the others are ignored.

    Raises
    ------
    ValueError
        If several folders qualify.
    """
    typed = [c for c in candidates if matches_type(c, root, type)]
    pool = typed if (typed or typed_only) else candidates
    if len(pool) > 1:
        raise ValueError(
            f"several 10x matrices found under {os.path.abspath(root)}: {pool}; "
            "set save_path to the folder of the one to load"
        )
    return pool[0] if pool else None


def find_archive(folder: str, type: str) -> Optional[str]:
    """The one archive in ``folder`` (those named for ``type`` preferred), or None.

    Raises
    ------
    ValueError
        If several archives qualify.
    """
    if not os.path.isdir(folder):
        return None
    found = sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.endswith(ARCHIVE_ENDINGS) and not name.startswith(".")
    )
    found = [a for a in found if os.path.basename(a).startswith(type)] or found
    if len(found) > 1:
        raise ValueError(
            f"several archives in {os.path.abspath(folder)}: {found}; give the one "
            "to load as filename"
        )
    return found[0] if found else None


def extract_and_find(archive: str, root: str, type: str) -> Tuple[str, List[str]]:
    """Extract ``archive`` next to itself and find the Cell Ranger folder in it.

    Returns
    -------
    folder, extracted
        The folder to read, and the top-level paths the extraction created.

    Raises
    ------
    ValueError
        If the archive is corrupt (see :func:`~scvi.dataset._download.extract_archive`)
        or holds no (or several) Cell Ranger matrices; nothing extracted is left then.
    """
    destination = os.path.dirname(os.path.abspath(archive))
    before = set(os.listdir(destination))
    extract_archive(archive, destination)
    extracted = [
        os.path.join(destination, name)
        for name in sorted(set(os.listdir(destination)) - before)
    ]
    candidates = [f for path in extracted for f in find_matrix_folders(path)]
    if any(os.path.basename(path) in MATRIX_FILES for path in extracted):
        candidates.append(destination)
    try:
        folder = pick_folder(candidates, root, type, typed_only=False)
    except ValueError:
        remove_paths(extracted)
        raise
    if folder is None:
        remove_paths(extracted)
        raise ValueError(
            f"archive {archive} holds no Cell Ranger matrix "
            f"({' or '.join(MATRIX_FILES)})"
        )
    return folder, extracted


def remove_paths(paths: List[str]) -> None:
    """Delete files and folders (not following links)."""
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.remove(path)


def resolve(folder: str, names) -> Optional[str]:
    """Path of the first of ``names`` present in ``folder``, or None."""
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _read_table(path: str, what: str) -> pd.DataFrame:
    """Read a tab-separated table without header, all values as text."""
    try:
        table = pd.read_csv(
            path,
            sep="\t",
            header=None,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            compression="infer",
        )
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"{what} file {path} is empty") from error
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as error:
        raise ValueError(f"could not read {what} file {path}: {error}") from error
    return table


def _read_matrix(path: str) -> sp_sparse.csr_matrix:
    """Read a features x barcodes Matrix Market file as a barcodes x features CSR."""
    try:
        matrix = scipy.io.mmread(path)
    except (ValueError, OSError, EOFError, IndexError, TypeError) as error:
        raise ValueError(
            f"could not read the Matrix Market file {path}: {error}"
        ) from error
    if not sp_sparse.issparse(matrix):
        matrix = sp_sparse.coo_matrix(np.asarray(matrix))
    return sp_sparse.csr_matrix(matrix.T)


def read_mex(folder: str, measurement_names_column: int = 0) -> Dict[str, object]:
    """Read a Cell Ranger MEX folder.

    Parameters
    ----------
    folder
        Folder holding ``matrix.mtx[.gz]``, ``features.tsv[.gz]`` or
        ``genes.tsv[.gz]`` and (optionally) ``barcodes.tsv[.gz]``.
    measurement_names_column
        Column of the feature table holding the names to use (0: ids, 1: symbols).

    Returns
    -------
    dict
        ``X``: CSR counts, (n_barcodes, n_features), int64; ``names``, ``ids``,
        ``symbols``, ``types``: str arrays, (n_features,), ``types`` being
        ``"Gene Expression"`` where the table has no type column; ``barcodes``: str
        array, (n_barcodes,), or None without barcode file.

    Raises
    ------
    FileNotFoundError
        If the matrix or the feature table is missing.
    ValueError
        If a file cannot be parsed, ``measurement_names_column`` is not a column of
        the feature table, or the sizes of the files disagree.
    """
    matrix_path = resolve(folder, MATRIX_FILES)
    features_path = resolve(folder, FEATURE_FILES)
    if matrix_path is None or features_path is None:
        missing = MATRIX_FILES if matrix_path is None else FEATURE_FILES
        raise FileNotFoundError(
            f"no {' or '.join(missing)} in {os.path.abspath(folder)}"
        )
    X = _read_matrix(matrix_path)
    features = _read_table(features_path, "feature")
    n_columns = features.shape[1]
    if not 0 <= measurement_names_column < n_columns:
        raise ValueError(
            f"measurement_names_column={measurement_names_column} but {features_path} "
            f"has {n_columns} column(s) (0 to {n_columns - 1})"
        )
    if features.shape[0] != X.shape[1]:
        raise ValueError(
            f"{matrix_path} has {X.shape[1]} rows (features) but {features_path} "
            f"lists {features.shape[0]} features"
        )
    barcodes_path = resolve(folder, BARCODE_FILES)
    barcodes = None
    if barcodes_path is not None:
        barcodes = _read_table(barcodes_path, "barcode")[0].to_numpy().astype(str)
        if barcodes.shape[0] != X.shape[0]:
            raise ValueError(
                f"{matrix_path} has {X.shape[0]} columns (barcodes) but "
                f"{barcodes_path} lists {barcodes.shape[0]} barcodes"
            )
    ids = features[0].to_numpy().astype(str)
    symbols = features[1 if n_columns > 1 else 0].to_numpy().astype(str)
    if n_columns > 2:
        types = features[2].to_numpy().astype(str)
    else:
        types = np.full(ids.shape, GENE_EXPRESSION)
    return dict(
        X=X,
        names=features[measurement_names_column].to_numpy().astype(str),
        ids=ids,
        symbols=symbols,
        types=types,
        barcodes=barcodes,
    )


def batches_from_barcodes(barcodes: Optional[np.ndarray], n_cells: int) -> np.ndarray:
    """Batch code of each cell from its barcode suffix (``AAAC-2`` -> 2).

    Barcodes without an integer suffix after the last dash (or no barcodes at all)
    give batch 0 to every cell.
    """
    if barcodes is None:
        return np.zeros(n_cells, dtype=np.int64)
    suffixes = np.char.rpartition(barcodes.astype(str), "-")
    if not (suffixes[:, 1] == "-").all():
        return np.zeros(n_cells, dtype=np.int64)
    try:
        return suffixes[:, 2].astype(np.int64)
    except ValueError:
        return np.zeros(n_cells, dtype=np.int64)
