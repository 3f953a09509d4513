"""The ``scvi`` command."""

import subprocess
import sys

import numpy as np

import scvi
from scvi.cli import main
from scvi.dataset import SyntheticDataset


def test_demo_prints_the_synthetic_dataset(capsys):
    assert (
        main(["demo", "--cells-per-batch", "30", "--genes", "40", "--seed", "1"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "GeneExpressionDataset object with n_cells x nb_genes = 60 x 40"
    assert (
        "cell_measurements_col_mappings: {'protein_expression': 'protein_names'}"
        in (out[-1])
    )


def test_demo_is_reproducible_and_matches_the_library():
    scvi.set_seed(1)
    expected = SyntheticDataset(batch_size=30, nb_genes=40)
    scvi.set_seed(1)
    again = SyntheticDataset(batch_size=30, nb_genes=40)
    np.testing.assert_array_equal(expected.X, again.X)
    np.testing.assert_array_equal(expected.labels, again.labels)
    assert expected.n_batches == 2 and expected.n_labels == 3


def test_bad_arguments_give_a_clear_error(capsys):
    assert main(["demo", "--genes", "0"]) == 2
    assert "nb_genes must be an integer >= 1" in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "scvi", "demo", "--cells-per-batch", "5"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith(
        "GeneExpressionDataset object with n_cells x nb_genes = 10 x 100"
    )
