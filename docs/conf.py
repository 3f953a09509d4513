"""Sphinx configuration of the scvi documentation.

Build with warnings as errors: ``sphinx-build -W -b html docs docs/_build/html``.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(".."))

import scvi  # noqa: E402

project = "scvi"
author = "the scvi developers"
version = release = scvi.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
]
# the summary tables link to the pages written by hand, no stub is generated
autosummary_generate = False
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
# the search engines of scvi.inference.autotune (an extra) are mocked when absent,
# so that the API pages build with the docs extra alone
autodoc_mock_imports = [
    name for name in ("hyperopt", "ray") if importlib.util.find_spec(name) is None
]
napoleon_numpy_docstring = True
napoleon_google_docstring = False
templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"

# The tutorials are the notebooks of ../notebooks, rendered as stored (without
# outputs: executing them is the test suite's job, tests/notebooks). Sphinx reads
# sources inside docs/ only, so they are copied into docs/tutorials (ignored by git).
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath"]
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TUTORIALS = Path(__file__).resolve().parent / "tutorials"


def _copy_notebooks(source: Path = NOTEBOOKS, target: Path = TUTORIALS) -> None:
    """Copy each notebook whose content changed, so that incremental builds work."""
    target.mkdir(exist_ok=True)
    for notebook in sorted(source.glob("*.ipynb")):
        copy = target / notebook.name
        if not copy.exists() or copy.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, copy)


_copy_notebooks()
