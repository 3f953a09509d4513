"""The helpers of scVI 0.6.8's ``scvi.inference.posterior_utils`` (issue 16).

Expected values were observed with scVI 0.6.8 on the same inputs and are checked
here against NumPy / SciPy / scikit-learn references or derived by hand.
"""

import importlib.util
import math
import os

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch

from scvi.inference import de_output
from scvi.inference.posterior_utils import (
    credible_intervals,
    describe_continuous_distrib,
    entropy_batch_mixing,
    entropy_from_indices,
    pairs_sampler,
    proximity_imputation,
    save_cluster_xlsx,
)

needs_openpyxl = pytest.mark.skipif(
    importlib.util.find_spec("openpyxl") is None, reason="writes with openpyxl"
)

DIGITS = np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3])


# --- credible_intervals
def brute_force_hpd(values, level):
    """Shortest run of floor(level * n) + 1 sorted values, the first if tied."""
    ordered = sorted(values)
    span = math.floor(level * len(ordered))
    runs = [(ordered[s + span] - ordered[s], s) for s in range(len(ordered) - span)]
    width, start = min(runs)
    return ordered[start], ordered[start + span]


def test_credible_intervals_of_1d_samples_as_in_scvi_068():
    # observed with scVI 0.6.8
    np.testing.assert_array_equal(credible_intervals(DIGITS, 0.5), [1.0, 4.0])
    np.testing.assert_array_equal(credible_intervals(DIGITS), [1.0, 9.0])  # 0.94
    np.testing.assert_array_equal(credible_intervals(DIGITS, 0.1), [1.0, 1.0])
    np.testing.assert_array_equal(credible_intervals(DIGITS, 0.0), [1.0, 1.0])
    np.testing.assert_array_equal(credible_intervals(np.arange(10.0), 0.5), [0, 5])
    np.testing.assert_array_equal(credible_intervals(DIGITS, np.array([0.5])), [1, 4])
    rs = np.random.RandomState(0)
    for n in (1, 2, 7, 50):
        values = rs.exponential(size=n)
        for level in (0.0, 0.3, 0.5, 0.9, 0.94):
            result = credible_intervals(values, level)
            assert result.shape == (2,)
            assert tuple(result) == brute_force_hpd(values, level)


def test_credible_intervals_keep_dtype_and_input():
    ints = np.array([1, 5, 2, 8])
    result = credible_intervals(ints, 0.5)
    assert result.dtype == ints.dtype
    np.testing.assert_array_equal(result, [1, 5])
    values = DIGITS.copy()
    credible_intervals(values, 0.5)
    np.testing.assert_array_equal(values, DIGITS)  # not sorted in place
    # NaN sorts last, as in scVI 0.6.8
    np.testing.assert_array_equal(
        credible_intervals(np.array([1.0, np.nan, 3, 4]), 0.5), [3.0, np.nan]
    )
    # lists and tensors are read as arrays
    np.testing.assert_array_equal(credible_intervals(list(DIGITS), 0.5), [1, 4])
    np.testing.assert_array_equal(credible_intervals(torch.tensor(DIGITS), 0.5), [1, 4])


def test_credible_intervals_of_2d_samples_are_per_column():
    rs = np.random.RandomState(0)
    samples = rs.randint(0, 20, size=(7, 3)).astype(float)
    result = credible_intervals(samples, 0.5)
    assert result.shape == (3, 2)
    for column in range(3):
        assert tuple(result[column]) == brute_force_hpd(samples[:, column], 0.5)
    # the first column, by hand: sorted 1 3 4 9 12 13 14, runs of 4: width 5 at 9
    np.testing.assert_array_equal(result[0], [9.0, 14.0])
    # more dimensions: as scVI 0.6.8, the intervals of each ary.T[i], stacked
    cube = rs.rand(5, 2, 3)
    stacked = credible_intervals(cube, 0.5)
    assert stacked.shape == (3, 5, 2)
    np.testing.assert_array_equal(stacked[1], credible_intervals(cube.T[1], 0.5))


def test_credible_intervals_reject_bad_levels_and_empty_samples():
    for level in (1.0, 1.5, -0.3):
        with pytest.raises(ValueError, match="confidence_level"):
            credible_intervals(DIGITS, level)
    with pytest.raises(ValueError, match="at least one sample"):
        credible_intervals(np.array([]), 0.5)
    with pytest.raises(TypeError, match="single number"):
        credible_intervals(DIGITS, [0.5, 0.9])


# --- describe_continuous_distrib
def test_describe_continuous_distrib_matches_numpy():
    rs = np.random.RandomState(0)
    samples = rs.randint(0, 20, size=(7, 3)).astype(float)
    summary = describe_continuous_distrib(samples)
    assert list(summary) == ["mean", "median", "std", "min", "max"]
    np.testing.assert_allclose(summary["mean"], samples.mean(0))
    np.testing.assert_allclose(summary["median"], np.median(samples, 0))
    np.testing.assert_allclose(summary["std"], samples.std(0))  # ddof = 0
    np.testing.assert_array_equal(summary["min"], samples.min(0))
    np.testing.assert_array_equal(summary["max"], samples.max(0))
    # observed with scVI 0.6.8
    np.testing.assert_allclose(summary["std"], [4.89897949, 5.82745087, 5.22943006])

    summary = describe_continuous_distrib(samples, [0.5, 0.9, 1 / 3])
    assert list(summary)[5:] == [
        "confidence_interval_0.5_min",
        "confidence_interval_0.5_max",
        "confidence_interval_0.9_min",
        "confidence_interval_0.9_max",
        "confidence_interval_0.333_min",
        "confidence_interval_0.333_max",
    ]
    intervals = credible_intervals(samples, 0.5)
    np.testing.assert_array_equal(
        summary["confidence_interval_0.5_min"], intervals[:, 0]
    )
    np.testing.assert_array_equal(
        summary["confidence_interval_0.5_max"], intervals[:, 1]
    )
    np.testing.assert_array_equal(summary["confidence_interval_0.5_min"], [9, 3, 5])
    np.testing.assert_array_equal(summary["confidence_interval_0.5_max"], [14, 8, 9])
    # the level is named by str(level)[:5], as in scVI 0.6.8
    names = list(describe_continuous_distrib(samples, [0.9999, 1e-5, 0, 0.975]))[5:]
    assert names[::2] == [
        "confidence_interval_0.999_min",
        "confidence_interval_1e-05_min",
        "confidence_interval_0_min",
        "confidence_interval_0.975_min",
    ]
    assert list(describe_continuous_distrib(samples, [])) == list(summary)[:5]


def test_describe_continuous_distrib_types():
    samples = np.arange(12.0).reshape(6, 2)
    summary = describe_continuous_distrib(samples.astype(np.float32), [0.5])
    assert all(v.dtype == np.float32 for v in summary.values())
    summary = describe_continuous_distrib(samples.astype(int), [0.5])
    assert summary["min"].dtype == summary["confidence_interval_0.5_max"].dtype
    assert summary["mean"].dtype == np.float64
    # a tensor is read as an array: NumPy results (scVI 0.6.8 mixed types)
    from_tensor = describe_continuous_distrib(torch.tensor(samples), [0.5])
    for name, value in describe_continuous_distrib(samples, [0.5]).items():
        assert isinstance(from_tensor[name], np.ndarray)
        np.testing.assert_array_equal(from_tensor[name], value)
    # 1-D samples: scalar properties (and intervals)
    flat = describe_continuous_distrib(np.arange(5.0), [0.5])
    assert flat["mean"] == 2.0 and flat["std"] == pytest.approx(math.sqrt(2))
    assert flat["confidence_interval_0.5_min"] == 0.0
    assert flat["confidence_interval_0.5_max"] == 2.0


# --- pairs_sampler
def test_pairs_sampler_without_permutation_returns_its_inputs():
    a, b = np.arange(5.0), np.arange(10.0, 13.0)
    first, second = pairs_sampler(a, b, use_permutation=False, M_permutation=7)
    assert first is a and second is b
    lists = pairs_sampler([1, 2], [3], use_permutation=False)
    assert lists == ([1, 2], [3])


def test_pairs_sampler_draws_with_numpy_global_generator():
    a, b = np.arange(5.0), np.arange(10.0, 13.0)
    np.random.seed(0)
    first, second = pairs_sampler(a, b, M_permutation=7)
    np.random.seed(0)
    expected_i = np.random.choice(5, size=7)
    expected_j = np.random.choice(3, size=7)
    np.testing.assert_array_equal(first, a[expected_i])
    np.testing.assert_array_equal(second, b[expected_j])
    # observed with scVI 0.6.8 after np.random.seed(0)
    np.testing.assert_array_equal(first, [4, 0, 3, 3, 3, 1, 3])
    np.testing.assert_array_equal(second, [11, 12, 10, 12, 10, 10, 10])
    # the defaults draw one pair, as two elements
    np.random.seed(0)
    pair = pairs_sampler(a, b)
    assert pair == (4.0, 11.0) and np.ndim(pair[0]) == 0
    # rows of 2-D samples, and M_permutation=0
    rows = np.arange(10.0).reshape(5, 2)
    first, second = pairs_sampler(rows, rows + 100, M_permutation=4)
    assert first.shape == second.shape == (4, 2)
    assert set(map(tuple, second - 100)) <= set(map(tuple, rows))
    empty = pairs_sampler(a, b, M_permutation=0)
    assert empty[0].shape == empty[1].shape == (0,)


def test_pairs_sampler_weights_and_types():
    a, b = np.arange(5.0), np.arange(10.0, 13.0)
    first, second = pairs_sampler(
        a, b, M_permutation=20, weights1=[0, 0, 0, 0, 1.0], weights2=[1.0, 0, 0]
    )
    np.testing.assert_array_equal(first, np.full(20, 4.0))
    np.testing.assert_array_equal(second, np.full(20, 10.0))
    weights = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    np.random.seed(3)
    first, _ = pairs_sampler(a, b, M_permutation=9, weights1=torch.tensor(weights))
    np.random.seed(3)
    np.testing.assert_array_equal(first, np.random.choice(5, size=9, p=weights))
    with pytest.raises(ValueError):
        pairs_sampler(a, b, M_permutation=3, weights1=[1.0, 1, 1, 1, 1])
    # tensors stay tensors
    first, second = pairs_sampler(torch.arange(5.0), torch.arange(3.0), M_permutation=4)
    assert isinstance(first, torch.Tensor) and first.shape == (4,)
    assert isinstance(second, torch.Tensor) and second.shape == (4,)


def test_pairs_sampler_sanity_check_pools_the_populations():
    a, b = np.arange(5.0), np.arange(10.0, 13.0)
    np.random.seed(0)
    first, second = pairs_sampler(a, b, M_permutation=7, sanity_check_perm=True)
    np.random.seed(0)
    pooled = np.concatenate([a, b])
    np.testing.assert_array_equal(first, pooled[np.random.choice(8, size=7)])
    np.testing.assert_array_equal(second, pooled[np.random.choice(8, size=7)])
    # observed with scVI 0.6.8 after np.random.seed(0)
    np.testing.assert_array_equal(first, [4, 12, 10, 0, 3, 3, 3])
    np.testing.assert_array_equal(second, [12, 1, 3, 10, 2, 4, 12])


# --- entropy_from_indices
def test_entropy_from_indices_matches_scipy():
    assert entropy_from_indices(np.array([0, 0, 1, 1])) == pytest.approx(math.log(2))
    assert entropy_from_indices(np.array([0, 1, 2, 3])) == pytest.approx(math.log(4))
    assert entropy_from_indices(np.array([0, 0, 0])) == 0.0
    assert entropy_from_indices(np.array([], dtype=int)) == 0.0
    result = entropy_from_indices(np.array([5, 5, 9, 7, 7, 7]))
    assert isinstance(result, np.float64)
    assert result == pytest.approx(scipy.stats.entropy([2, 1, 3]))
    assert result == pytest.approx(1.0114042647073516)  # scVI 0.6.8
    # any values, any shape (flattened), lists and tensors
    expected = scipy.stats.entropy([2, 1])
    for indices in (
        [0, 0, 1],
        np.array(["a", "b", "b"]),
        np.array([0.5, 0.5, 1.0]),
        torch.tensor([0, 0, 1]),
        np.array([True, False, False]),
    ):
        assert entropy_from_indices(indices) == pytest.approx(expected)
    assert entropy_from_indices(np.array([[0, 1], [1, 1]])) == pytest.approx(
        scipy.stats.entropy([1, 3])
    )


def test_entropy_from_indices_is_the_entropy_of_batch_mixing_per_cell():
    # two far groups, each with its batches: every neighbourhood is its group
    latent = np.concatenate([np.zeros((4, 2)), np.full((4, 2), 100.0)])
    latent += np.random.RandomState(0).rand(8, 2) * 1e-3
    batches = np.array([0, 0, 1, 1, 0, 1, 2, 2])
    # pools of 100 cells are lowered to the 8 cells: the score is their mean
    score = entropy_batch_mixing(latent, batches, n_neighbors=3, n_pools=5)
    per_cell = [
        entropy_from_indices(np.delete(batches[g : g + 4], i))
        for g in (0, 4)
        for i in range(4)
    ]
    assert score == pytest.approx(np.mean(per_cell))


# --- proximity_imputation
LATENT_1 = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0]])
EXPRESSION_1 = np.array(
    [[1.0, 0.0], [2.0, 0.0], [3.0, 1.0], [4.0, 1.0], [100.0, 5.0], [110.0, 5.0]]
)
LATENT_2 = np.array([[0.4], [10.6], [2.2]])


def inverse_distance_average(latent1, expression1, latent2, k):
    out = []
    for point in latent2:
        distances = np.linalg.norm(latent1 - point, axis=1)
        nearest = np.argsort(distances, kind="stable")[:k]
        weights = 1.0 / distances[nearest]
        out.append(weights @ expression1[nearest] / weights.sum())
    return np.array(out)


def test_proximity_imputation_is_inverse_distance_knn_regression():
    # by hand, k = 2: 0.4 is 0.4 from cell 0 and 0.6 from cell 1 -> weights 5:3.33
    result = proximity_imputation(LATENT_1, EXPRESSION_1, LATENT_2, k=2)
    np.testing.assert_allclose(result, [[1.4, 0.0], [106.0, 5.0], [3.2, 1.0]])
    default = proximity_imputation(LATENT_1, EXPRESSION_1, LATENT_2)  # k = 4
    assert default.shape == (3, 2) and default.dtype == np.float64
    np.testing.assert_allclose(
        default, inverse_distance_average(LATENT_1, EXPRESSION_1, LATENT_2, 4)
    )
    np.testing.assert_allclose(default[0], [1.78637771, 0.19504644])  # scVI 0.6.8
    rs = np.random.RandomState(0)
    latent1, expression1, latent2 = rs.randn(30, 3), rs.rand(30, 5), rs.randn(9, 3)
    np.testing.assert_allclose(
        proximity_imputation(latent1, expression1, latent2, k=6),
        inverse_distance_average(latent1, expression1, latent2, 6),
    )
    np.testing.assert_allclose(
        proximity_imputation(LATENT_1, EXPRESSION_1, LATENT_2, k=1),
        EXPRESSION_1[[0, 5, 2]],
    )


def test_proximity_imputation_edge_cases():
    # a neighbour at distance 0: the plain mean of the neighbours at distance 0
    latent1 = np.array([[0.0], [0.0], [0.0], [5.0]])
    expression1 = np.array([[1.0], [2.0], [4.0], [8.0]])
    np.testing.assert_allclose(
        proximity_imputation(latent1, expression1, np.zeros((1, 1)), k=2), [[1.5]]
    )
    flat = proximity_imputation(LATENT_1, EXPRESSION_1[:, 0], LATENT_2, k=2)
    np.testing.assert_allclose(flat, [1.4, 106.0, 3.2])
    tensors = proximity_imputation(
        torch.tensor(LATENT_1), torch.tensor(EXPRESSION_1), torch.tensor(LATENT_2), 2
    )
    np.testing.assert_allclose(tensors, [[1.4, 0.0], [106.0, 5.0], [3.2, 1.0]])
    with pytest.raises(ValueError):
        proximity_imputation(LATENT_1, EXPRESSION_1, LATENT_2, k=7)


# --- save_cluster_xlsx
def frames():
    first = pd.DataFrame({"bayes_factor": [1.5, 0.2], "x": [1, 2]}, index=["g1", "g2"])
    second = pd.DataFrame(
        {"bayes_factor": [3.0], "y": ["a"]}, index=pd.Index(["g3"], name="gene")
    )
    return first, second


def read_sheets(path):
    import openpyxl

    workbook = openpyxl.load_workbook(path)
    return {
        sheet.title: [[cell.value for cell in row] for row in sheet.iter_rows()]
        for sheet in workbook.worksheets
    }


@needs_openpyxl
def test_save_cluster_xlsx_writes_one_sheet_per_cluster(tmp_path):
    path = tmp_path / "de.xlsx"
    assert save_cluster_xlsx(str(path), list(frames()), ["c0", 1]) is None
    # as scVI 0.6.8 writes them: the index, named or not, then the columns
    assert read_sheets(path) == {
        "c0": [[None, "bayes_factor", "x"], ["g1", 1.5, 1], ["g2", 0.2, 2]],
        "1": [["gene", "bayes_factor", "y"], ["g3", 3, "a"]],
    }
    for sheet, frame in zip(("c0", "1"), frames()):
        back = pd.read_excel(path, sheet_name=sheet, index_col=0)
        np.testing.assert_array_equal(back["bayes_factor"], frame["bayes_factor"])
    assert os.listdir(tmp_path) == ["de.xlsx"]  # no temporary file left
    assert os.stat(path).st_mode & 0o044  # not private to its owner


@needs_openpyxl
def test_save_cluster_xlsx_follows_the_cluster_names(tmp_path):
    first, second = frames()
    path = tmp_path / "de.xlsx"
    save_cluster_xlsx(path, [first, second], ["only"])  # extra results dropped
    assert list(read_sheets(path)) == ["only"]
    save_cluster_xlsx(path, [], [])  # overwritten: one empty sheet
    assert read_sheets(path) == {"Sheet1": []}
    save_cluster_xlsx(path, [first, second], ["x", "x"])  # same sheet, overlaid
    assert read_sheets(path)["x"][:2] == [["gene", "bayes_factor", "y"], ["g3", 3, "a"]]


@needs_openpyxl
def test_save_cluster_xlsx_errors_write_nothing(tmp_path, monkeypatch):
    first, second = frames()
    path = tmp_path / "de.xlsx"
    with pytest.raises(IndexError, match="2 cluster names but only 1"):
        save_cluster_xlsx(path, [first], ["a", "b"])
    for name in ("a" * 32, "b/c", ""):
        with pytest.raises(ValueError, match="sheet name"):
            save_cluster_xlsx(path, [first], [name])
    with pytest.raises(OSError):
        save_cluster_xlsx(tmp_path / "missing" / "de.xlsx", [first], ["a"])
    assert os.listdir(tmp_path) == []

    # a write that fails leaves neither the file nor a temporary one
    def failing(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_excel", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        save_cluster_xlsx(path, [first], ["a"])
    assert os.listdir(tmp_path) == []


def test_excel_engine_choice(monkeypatch):
    installed = {"openpyxl": False, "xlsxwriter": True}
    monkeypatch.setattr(
        de_output.importlib.util,
        "find_spec",
        lambda name: object() if installed.get(name) else None,
    )
    assert de_output.excel_engine() == "xlsxwriter"
    installed["openpyxl"] = True
    assert de_output.excel_engine() == "openpyxl"
    installed.update(openpyxl=False, xlsxwriter=False)
    with pytest.raises(ImportError, match="openpyxl"):
        de_output.excel_engine()
    with pytest.raises(ImportError, match="openpyxl"):
        save_cluster_xlsx("unused.xlsx", [], [])
