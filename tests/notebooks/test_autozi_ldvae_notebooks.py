"""The AutoZI (tutorial 2.6) and LDVAE (tutorial 2.8) notebooks run in test mode and
print their results."""

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")

# the kernel spec fixture and the stdout reader of the notebook suite
from test_notebooks import NOTEBOOKS, _stdout, kernel_name  # noqa: E402, F401

MARKERS = {
    "autozi.ipynb": [
        "test mode: True",
        "Fraction of predicted ZI genes :",
        "same calls as the model's helpers: True",
        "Held-out negative marginal log-likelihood per cell",
        "Fraction of predicted ZI genes for cell type",
        "AUROC of the gene-label calls on ZISyntheticDatasetCorr",
    ],
    "linear_decoder.ipynb": [
        "test mode: True",
        "loadings: genes x latent dimensions",
        "same loadings as the model's: True",
        "Top loadings by magnitude",
        "clusters of the latent space:",
    ],
}


@pytest.mark.parametrize("name", sorted(MARKERS))
def test_notebook_prints_its_results(name, kernel_name):  # noqa: F811
    from nbconvert.preprocessors import ExecutePreprocessor

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    executor = ExecutePreprocessor(timeout=300, kernel_name=kernel_name)
    executor.preprocess(notebook, {"metadata": {"path": str(NOTEBOOKS)}})
    printed = _stdout(notebook)
    for marker in MARKERS[name]:
        assert marker in printed, marker
