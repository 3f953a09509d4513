"""The tutorial notebooks run from top to bottom, in test mode (a couple of epochs).

Each notebook reads ``SCVI_NOTEBOOK_TEST`` (few epochs) and finds its data in
``../../shared/data/scvi-0.6-fixtures`` (``totalVI.ipynb``: ``../../shared/data/real``)
or ``$SCVI_DATA``, falling back on synthetic data without it, so these tests never
need the data files.
"""

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL_NAME = "scvi-tests-python"


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernel spec running this very interpreter (the test's virtual environment),
    first on ``JUPYTER_PATH``, and the test mode switches in the kernel's
    environment."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    sys.executable,
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "Python 3 (scvi tests)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("SCVI_NOTEBOOK_TEST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return KERNEL_NAME


def _stdout(notebook) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def test_the_notebooks_are_stored_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


#: notebooks executed, with their own checks, by a module of their own
OWN_MODULE = {
    "autozi.ipynb": "test_autozi_ldvae_notebooks.py",
    "linear_decoder.ipynb": "test_autozi_ldvae_notebooks.py",
    "gimvi_spatial.ipynb": "test_gimvi_notebook.py",
}


def test_every_notebook_is_executed_somewhere():
    here = Path(__file__).parent
    for name, module in OWN_MODULE.items():
        assert (NOTEBOOKS / name).exists() and (here / module).exists()
        assert name in (here / module).read_text(), (name, module)


@pytest.mark.parametrize(
    "name",
    sorted(
        path.name for path in NOTEBOOKS.glob("*.ipynb") if path.name not in OWN_MODULE
    ),
)
def test_notebook_runs(name, kernel_name):
    from nbconvert.preprocessors import ExecutePreprocessor

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    executor = ExecutePreprocessor(timeout=300, kernel_name=kernel_name)
    # raises CellExecutionError, naming the cell, when a cell fails
    executor.preprocess(notebook, {"metadata": {"path": str(NOTEBOOKS)}})
    printed = _stdout(notebook)
    assert "test mode: True" in printed
    if name == "basic_tutorial.ipynb":
        assert "same latent space: True" in printed
        assert "Entropy of batch mixing" in printed
        assert "DE table columns: ['proba_m1', 'proba_m2', 'bayes_factor'" in printed
        assert "top genes of" in printed
    if name == "harmonization.ipynb":
        assert "scANVI accuracy on the query batch" in printed
        assert "Entropy of batch mixing (scANVI)" in printed
    if name == "totalVI.ipynb":
        assert "mean foreground probability of each protein" in printed
        assert "Top proteins of each cluster" in printed
    if name == "autotune.ipynb":
        assert "best trainer's model has" in printed
        assert "custom space, on Ray: 3 trials ok" in printed
        assert "entropy of batch mixing of each trial" in printed
    if name == "data_loading.ipynb":
        assert "from arrays: 300 cells x 50 genes, 3 batches, 4 labels" in printed
        assert "concatenated: 110 cells, 2 batches" in printed
        assert "back to AnnData: (110, 40)" in printed
    if name == "pbmc_clustering.ipynb":
        assert "Leiden clusters:" in printed
        assert "marker genes shared by scVI and scanpy (top 10):" in printed
