"""The tutorials page of the docs renders every notebook of ``notebooks/``."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def toctree_entries(page: Path):
    """The documents listed by the toctree directives of an rst page."""
    entries, inside = [], False
    for line in page.read_text().splitlines():
        if line.startswith(".. toctree::"):
            inside = True
        elif inside and line and not line.startswith(" "):
            inside = False
        elif inside and re.match(r"^   [^:\s]", line):
            entries.append(line.strip())
    return entries


def test_every_notebook_is_a_tutorial_page():
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    entries = toctree_entries(DOCS / "tutorials.rst")
    assert sorted(entries) == sorted(f"tutorials/{name}" for name in notebooks)
    assert "tutorials" in toctree_entries(DOCS / "index.rst")


def test_conf_copies_changed_notebooks_only(tmp_path):
    spec = importlib.util.spec_from_file_location("_docs_conf", DOCS / "conf.py")
    # loading conf.py copies the real notebooks into docs/tutorials, as a build does
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert conf.nb_execution_mode == "off"
    assert "myst_nb" in conf.extensions
    source, target = tmp_path / "nb", tmp_path / "out"
    source.mkdir()
    (source / "a.ipynb").write_text('{"cells": []}')
    conf._copy_notebooks(source, target)
    assert (target / "a.ipynb").read_text() == '{"cells": []}'
    stamp = (target / "a.ipynb").stat().st_mtime_ns
    conf._copy_notebooks(source, target)
    assert (target / "a.ipynb").stat().st_mtime_ns == stamp  # unchanged: not rewritten
    (source / "a.ipynb").write_text('{"cells": [1]}')
    conf._copy_notebooks(source, target)
    assert (target / "a.ipynb").read_text() == '{"cells": [1]}'
