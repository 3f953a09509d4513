"""Sphinx configuration of the scvi documentation."""

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
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
