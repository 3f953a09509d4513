"""Sphinx configuration of the scvi documentation.

Build with warnings as errors: ``sphinx-build -W -b html docs docs/_build/html``.
"""

import importlib.util
import os
import sys

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
