"""A small reader of the cell values of ``.xlsx`` worksheets, without openpyxl.

An ``.xlsx`` workbook is a zip archive of XML parts: ``xl/workbook.xml`` lists the
sheets, ``xl/_rels/workbook.xml.rels`` tells which part holds each of them,
``xl/sharedStrings.xml`` holds the text shared by the cells, and each
``xl/worksheets/sheetN.xml`` holds ``<row>`` elements of ``<c r="B3" t="...">``
cells. Only values are read (no formulas, styles or dates).
"""

import posixpath
import zipfile
from typing import List, Optional, Union
from xml.etree import ElementTree

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"

Cell = Union[str, float, bool, None]


def _column_index(reference: str) -> int:
    """Zero-based column of a cell reference such as ``"AB12"``."""
    index = 0
    for char in reference:
        if not char.isalpha():
            break
        index = index * 26 + ord(char.upper()) - ord("A") + 1
    return index - 1


def _text(element) -> str:
    """All ``<t>`` text under an element (rich text runs are concatenated)."""
    return "".join(t.text or "" for t in element.iter(f"{_MAIN}t"))


def _shared_strings(archive: zipfile.ZipFile) -> List[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    with archive.open("xl/sharedStrings.xml") as handle:
        root = ElementTree.parse(handle).getroot()
    return [_text(si) for si in root.findall(f"{_MAIN}si")]


def _sheet_part(archive: zipfile.ZipFile, sheet: Union[int, str]) -> str:
    """Path in the archive of the worksheet ``sheet`` (position or name)."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    sheets = workbook.findall(f"{_MAIN}sheets/{_MAIN}sheet")
    names = [s.get("name") for s in sheets]
    if isinstance(sheet, str):
        if sheet not in names:
            raise ValueError(f"no sheet named {sheet!r}; the sheets are {names}")
        chosen = sheets[names.index(sheet)]
    elif 0 <= sheet < len(sheets):
        chosen = sheets[sheet]
    else:
        raise ValueError(f"sheet {sheet} asked for, the workbook has {len(sheets)}")
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.iter(f"{_PKG}Relationship")}
    target = targets[chosen.get(f"{_REL}id")]
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join("xl", target))


def _value(cell, strings: List[str]) -> Cell:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(f"{_MAIN}is")
        return None if inline is None else _text(inline)
    value = cell.find(f"{_MAIN}v")
    if value is None or value.text is None:
        return None
    if kind == "s":
        return strings[int(value.text)]
    if kind == "b":
        return value.text.strip() == "1"
    if kind in ("str", "e"):
        return value.text if kind == "str" else None
    return float(value.text)


def read_xlsx(path: str, sheet: Union[int, str] = 0) -> List[List[Cell]]:
    """Read the cell values of one worksheet of an ``.xlsx`` file.

    Parameters
    ----------
    path
        Path of the workbook.
    sheet
        Position (from 0) or name of the worksheet.

    Returns
    -------
    list of list
        One list per row, from the first row to the last non-empty one, each as long
        as the widest row: text as ``str``, numbers as ``float``, booleans as
        ``bool``, empty cells and error values as None.

    Raises
    ------
    ValueError
        If the file is not a readable ``.xlsx`` workbook or has no such sheet.
    """
    rows, index = {}, -1
    try:
        with zipfile.ZipFile(path) as archive:
            strings = _shared_strings(archive)
            with archive.open(_sheet_part(archive, sheet)) as handle:
                for _, element in ElementTree.iterparse(handle):
                    if element.tag != f"{_MAIN}row":
                        continue
                    index = int(element.get("r", index + 2)) - 1
                    cells, position = {}, 0
                    for cell in element.findall(f"{_MAIN}c"):
                        ref = cell.get("r")
                        position = _column_index(ref) if ref else position
                        cells[position] = _value(cell, strings)
                        position += 1
                    rows[index] = cells
                    element.clear()
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as error:
        raise ValueError(f"{path} is not a readable .xlsx workbook: {error}") from error
    filled = [
        r for r, cells in rows.items() if any(v is not None for v in cells.values())
    ]
    n_rows = max(filled, default=-1) + 1
    n_cols = max((max(c) + 1 for c in rows.values() if c), default=0)
    table: List[List[Optional[Cell]]] = []
    for r in range(n_rows):
        cells = rows.get(r, {})
        table.append([cells.get(c) for c in range(n_cols)])
    return table
