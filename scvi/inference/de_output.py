"""Writing differential-expression tables to files, atomically.

A file is written under a temporary name in its destination folder and renamed
over the destination once complete (:func:`os.replace`), so that an interrupted
write never leaves a truncated file behind.
"""

import importlib.util
import os
import tempfile
from typing import Callable, List

import pandas as pd

#: the pandas Excel engines that can write ``.xlsx`` files, by preference
EXCEL_ENGINES = ("openpyxl", "xlsxwriter")
# characters Excel forbids in a sheet name, and its longest sheet name
_FORBIDDEN_IN_SHEET_NAMES = set("[]:*?/\\")
_MAX_SHEET_NAME = 31


def excel_engine() -> str:
    """The first installed pandas engine of :data:`EXCEL_ENGINES`.

    Raises
    ------
    ImportError
        If none is installed.
    """
    for engine in EXCEL_ENGINES:
        if importlib.util.find_spec(engine) is not None:
            return engine
    raise ImportError(
        "writing .xlsx files needs the openpyxl package (pip install openpyxl), "
        "or xlsxwriter; neither is installed"
    )


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(temporary_path)``, then rename the temporary file to ``path``.

    The temporary file lies in the folder of ``path`` (so the rename is atomic),
    keeps its extension, and gets the permissions a new file would get; it is
    removed if ``write`` fails.
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    extension = os.path.splitext(name)[1]
    handle, temporary = tempfile.mkstemp(
        prefix=f".{name}.", suffix=extension, dir=folder
    )
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _check_sheet_name(name: str) -> str:
    if not name or len(name) > _MAX_SHEET_NAME:
        raise ValueError(
            f"an Excel sheet name has 1 to {_MAX_SHEET_NAME} characters, got "
            f"{name!r} ({len(name)})"
        )
    forbidden = sorted(_FORBIDDEN_IN_SHEET_NAMES.intersection(name))
    if forbidden:
        raise ValueError(
            f"the Excel sheet name {name!r} holds forbidden characters {forbidden}"
        )
    return name


def save_cluster_xlsx(
    filepath: str, de_results: List[pd.DataFrame], cluster_names: List
):
    """Saves multi-clusters DE in an xlsx sheet.

    One worksheet per cluster, named ``str(cluster_names[i])`` and holding
    ``de_results[i]`` with its index (as :meth:`pandas.DataFrame.to_excel`
    writes it). As in scVI 0.6.8, the sheets follow ``cluster_names``: results
    beyond its length are not written, a name given twice writes its tables into
    the same sheet (the later over the earlier), and no cluster at all gives a
    workbook with one empty sheet, ``Sheet1``. The workbook is written with
    pandas' openpyxl engine (else xlsxwriter) to a temporary file in the same
    folder, renamed to ``filepath`` once complete, whatever its extension.

    Parameters
    ----------
    filepath
        xlsx save path; its folder must exist.
    de_results
        list of pandas Dataframes for each cluster
    cluster_names
        list of cluster names

    Returns
    -------
    None

    Raises
    ------
    IndexError
        If there are fewer results than cluster names (nothing is written).
    ValueError
        If a cluster name is not a valid Excel sheet name (empty, over 31
        characters, or holding one of ``[]:*?/\\``); nothing is written.
    ImportError
        If neither openpyxl nor xlsxwriter is installed.
    """
    names = [_check_sheet_name(str(name)) for name in cluster_names]
    if len(de_results) < len(names):
        raise IndexError(
            f"save_cluster_xlsx got {len(names)} cluster names but only "
            f"{len(de_results)} results"
        )
    engine = excel_engine()

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            writer = pd.ExcelWriter(handle, engine=engine)
            if not names:
                pd.DataFrame().to_excel(writer, sheet_name="Sheet1", index=False)
            for name, frame in zip(names, de_results):
                frame.to_excel(writer, sheet_name=name)
            # saves the workbook; if a table fails, nothing is saved (and the
            # temporary file is removed)
            writer.close()

    write_atomically(filepath, write)
