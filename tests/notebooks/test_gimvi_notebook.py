"""The gimVI tutorial notebook runs from top to bottom in test mode, on the shared
data (osmFISH and the Cortex fixture) and on its simulated fallback.

The kernel and the markers come from ``test_notebooks.py``; the kernel runs torch on
one thread (small models are fastest so on a shared CPU).
"""

import pytest

from test_notebooks import NOTEBOOKS, _stdout, kernel_name  # noqa: F401

nbformat = pytest.importorskip("nbformat")

NAME = "gimvi_spatial.ipynb"
SHARED = NOTEBOOKS.parents[1] / "shared" / "data"
HAVE_DATA = (SHARED / "real" / "osmfish_smfish.h5ad").exists() and (
    SHARED / "scvi-0.6-fixtures" / "expression.bin"
).exists()
MARKERS = (
    "test mode: True",
    "joint latent space:",
    "median Spearman correlation of the hidden genes: gimVI",
    "discriminator confusion matrix",
    "loss magnitudes per cell",
)


def run(kernel_name) -> str:  # noqa: F811
    from nbconvert.preprocessors import ExecutePreprocessor

    notebook = nbformat.read(NOTEBOOKS / NAME, as_version=4)
    executor = ExecutePreprocessor(timeout=300, kernel_name=kernel_name)
    # raises CellExecutionError, naming the cell, when a cell fails
    executor.preprocess(notebook, {"metadata": {"path": str(NOTEBOOKS)}})
    return _stdout(notebook)


def test_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOKS / NAME, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("data", ["shared", "simulated"])
def test_gimvi_notebook_runs(kernel_name, monkeypatch, tmp_path, data):  # noqa: F811
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    if data == "simulated":
        monkeypatch.setenv("SCVI_DATA", str(tmp_path))  # an empty folder
    else:
        monkeypatch.delenv("SCVI_DATA", raising=False)
    printed = run(kernel_name)
    for marker in MARKERS:
        assert marker in printed, marker
    fallback = "using simulated data instead" in printed
    assert fallback == (data == "simulated" or not HAVE_DATA)
    if not fallback:  # osmFISH's 33 genes, 600 of its cells in test mode
        assert "spatial: (600, 33)" in printed
