"""The model cards of ``docs/models``: sections, toctree, and a math-to-code table
whose every cited name exists.

Convention of the cards (``docs/models/index.rst``): the section *Math to code*
holds a ``list-table`` with the columns Symbol, Code and Tensor. The Code cell of
each row names, in double backquotes, one or more full dotted paths
(``scvi.models.VAE.inference``); the Tensor cell names, in double backquotes, the
dictionary keys or variables that hold the symbol. A dotted path must import
(module, then attributes: classes, methods, functions) or, for the last part only,
be an attribute that the class sets on its instances (``self.<name> = ...`` or a
registered buffer or parameter in the source of the class or its bases). Every
identifier of the Tensor cell must appear in the source files of the code cited
in the same row. Pure text parsing and imports: no Sphinx, a fraction of a second.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
CARDS = sorted(p for p in (DOCS / "models").glob("*.rst") if p.name != "index.rst")
SECTIONS = ("Model", "Inference", "Training", "Tasks", "Math to code", "References")
HEADER = ["Symbol", "Code", "Tensor"]
LITERAL = re.compile(r"``(.+?)``")
DOTTED = re.compile(r"^scvi(\.[A-Za-z_]\w*)+$")
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def sections(text: str) -> dict:
    """Section titles (underlined with ``-``) mapped to their bodies."""
    lines = text.split("\n")
    starts = [
        i
        for i in range(len(lines) - 1)
        if lines[i].strip()
        and re.fullmatch(r"-{3,}", lines[i + 1])
        and len(lines[i + 1]) >= len(lines[i].rstrip())
    ]
    result = {}
    for k, i in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        result[lines[i].strip()] = "\n".join(lines[i + 2 : end])
    return result


def table_rows(body: str) -> list:
    """Cells of the rows of the first ``list-table`` of ``body`` (header row
    included), each cell's lines joined by spaces."""
    if ".. list-table::" not in body:
        raise ValueError("no list-table")
    rows = []
    for line in body.split(".. list-table::", 1)[1].split("\n")[1:]:
        if line.startswith("   * - "):
            rows.append([line[len("   * - ") :]])
        elif line.startswith("     - ") and rows:
            rows[-1].append(line[len("     - ") :])
        elif line.startswith("       ") and rows:
            rows[-1][-1] += " " + line.strip()
        elif line.strip() and not line.startswith("   :") and rows:
            break  # text after the table
    return [[cell.strip() for cell in row] for row in rows]


def resolve(dotted: str):
    """The object a dotted path names, and the source files it stands for.

    Returns ``(obj, files)``; ``obj`` is None for an instance attribute found in
    the source of its class. Raises LookupError when the path names nothing.
    """
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
            break
        except ImportError:
            continue
    else:
        raise LookupError(f"{dotted}: no importable module")
    owner = None
    for k, name in enumerate(parts[n:], start=n):
        if hasattr(obj, name):
            owner, obj = obj, getattr(obj, name)
            continue
        last = k == len(parts) - 1
        if last and inspect.isclass(obj) and _sets_attribute(obj, name):
            return None, _class_files(obj)
        raise LookupError(f"{dotted}: {'.'.join(parts[:k])} has no {name!r}")
    files = set()
    if inspect.isclass(owner):
        files |= _class_files(owner)
    if inspect.isclass(obj):
        files |= _class_files(obj)
    else:
        target = obj.fget if isinstance(obj, property) else obj
        try:
            files.add(inspect.getsourcefile(inspect.unwrap(target)))
        except TypeError:  # a constant: the module that defines it
            files.add(inspect.getsourcefile(owner))
    return obj, {f for f in files if f}


def _class_files(cls) -> set:
    """Source files of a class and of its bases defined in scvi."""
    return {
        inspect.getsourcefile(c)
        for c in inspect.getmro(cls)
        if c.__module__.startswith("scvi")
    }


def _sets_attribute(cls, name: str) -> bool:
    """Whether the class (or a base in scvi) sets ``name`` on its instances."""
    pattern = re.compile(
        rf"self\.{name}\s*=|register_(?:buffer|parameter)\(\s*[\"']{name}[\"']"
    )
    for base in inspect.getmro(cls):
        if base.__module__.startswith("scvi"):
            if pattern.search(inspect.getsource(base)):
                return True
    return False


def check_table(text: str) -> list:
    """Problems of the math-to-code table of a card (empty when it is sound)."""
    body = sections(text).get("Math to code")
    if body is None:
        return ["no 'Math to code' section"]
    try:
        rows = table_rows(body)
    except ValueError as error:
        return [str(error)]
    if not rows or rows[0] != HEADER:
        return [f"the table's header must be {HEADER}, got {rows[:1]}"]
    problems = []
    if len(rows) < 6:
        problems.append(f"only {len(rows) - 1} rows")
    for row in rows[1:]:
        if len(row) != 3:
            problems.append(f"row {row[:1]} has {len(row)} cells, 3 expected")
            continue
        symbol, code, tensor = row
        names = [n for n in LITERAL.findall(code) if DOTTED.match(n)]
        if not names:
            problems.append(f"row {symbol!r}: no dotted scvi name in the Code cell")
            continue
        files = set()
        for name in names:
            try:
                files |= resolve(name)[1]
            except LookupError as error:
                problems.append(f"row {symbol!r}: {error}")
        if not files:
            continue
        source = "\n".join(Path(f).read_text() for f in sorted(files))
        for literal in LITERAL.findall(tensor):
            for word in IDENTIFIER.findall(literal):
                if not re.search(rf"\b{re.escape(word)}\b", source):
                    problems.append(
                        f"row {symbol!r}: tensor name {word!r} is not in the "
                        f"source of {', '.join(names)}"
                    )
    return problems


def test_there_are_seven_cards_or_more():
    names = {p.stem for p in CARDS}
    assert len(CARDS) >= 7, names
    for model in ("scvi", "ldvae", "vaec", "scanvi", "totalvi", "gimvi", "autozi"):
        assert model in names


def test_every_card_is_in_the_toctree():
    index = (DOCS / "models" / "index.rst").read_text()
    toctree = index.split(".. toctree::", 1)[1]
    listed = {line.strip() for line in toctree.split("\n")[1:] if line.strip()}
    listed = {name for name in listed if not name.startswith(":")}
    assert listed == {p.stem for p in CARDS}


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.stem)
def test_card_has_the_sections_of_the_template(card):
    titles = list(sections(card.read_text()))
    assert [t for t in titles if t in SECTIONS] == list(SECTIONS), titles


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.stem)
def test_every_name_of_the_math_to_code_table_exists(card):
    assert check_table(card.read_text()) == []


BAD_CARD = """
Math to code
------------

.. list-table::
   :header-rows: 1

   * - Symbol
     - Code
     - Tensor
   * - :math:`z`
     - ``scvi.models.VAE.inference`` and ``scvi.models.VAE.no_such_method``
     - ``qz_m``, ``no_such_key``
   * - :math:`x`
     - ``scvi.models.NoSuchModel``
     - ``x``
   * - :math:`\\theta`
     - ``scvi.models.VAE.px_r`` (set in ``__init__``)
     - ``px_r``
   * - :math:`y`
     - the labels, without a dotted name
     - ``y``
"""


def test_the_checker_reports_what_is_missing():
    problems = check_table(BAD_CARD)
    text = "\n".join(problems)
    assert "no 'no_such_method'" in text
    assert "'no_such_key'" in text and "'qz_m'" not in text
    assert "has no 'NoSuchModel'" in text
    assert "px_r" not in text  # an instance attribute set in VAE.__init__
    assert "row ':math:`y`': no dotted scvi name" in text
    assert "only 4 rows" in text
    assert len(problems) == 5, problems


def test_resolve_names_methods_classes_and_functions():
    from scvi.models import TOTALVI
    from scvi.models.log_likelihood import log_mixture_nb

    obj, files = resolve("scvi.models.TOTALVI.inference")
    assert obj is TOTALVI.inference
    assert any(f.endswith("totalvi.py") for f in files)
    assert resolve("scvi.models.log_likelihood.log_mixture_nb")[0] is log_mixture_nb
    assert resolve("scvi.models.TOTALVI")[0] is TOTALVI
    with pytest.raises(LookupError):
        resolve("scvi.models.TOTALVI.not_an_attribute")
