"""Accuracy helpers of scvi.inference.annotation on arrays, and the import layering."""

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from scvi.inference.annotation import (
    Accuracy,
    compute_accuracy_nn,
    compute_accuracy_rf,
    compute_accuracy_svc,
    compute_accuracy_tuple,
)

INFERENCE = Path(__file__).resolve().parents[2] / "scvi" / "inference"


def blobs(n_per_class=30, n_classes=3, n_features=5, seed=0, spread=10.0):
    """Well separated Gaussian blobs, classes 0..n_classes-1 in random order."""
    rs = np.random.RandomState(seed)
    centers = rs.normal(0, spread, (n_classes, n_features))
    labels = rs.permutation(np.repeat(np.arange(n_classes), n_per_class))
    return centers[labels] + rs.normal(0, 1, (labels.size, n_features)), labels


@pytest.fixture(scope="module")
def split():
    x, y = blobs(seed=1)
    x_test, y_test = blobs(n_per_class=20, seed=1)
    x_test = x_test + np.random.RandomState(2).normal(0, 0.1, x_test.shape)
    return x, y, x_test, y_test


def test_accuracy_tuple_values():
    y = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 0, 2])
    acc = compute_accuracy_tuple(y, y_pred)
    assert isinstance(acc, Accuracy)
    assert acc.unweighted == pytest.approx(4 / 6)
    assert acc.accuracy_classes == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert acc.weighted == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert acc.worst == pytest.approx(0.5)


def test_accuracy_tuple_with_labels_that_are_not_0_to_n():
    acc = compute_accuracy_tuple(np.array([[7], [7], [3]]), np.array([7, 3, 3]))
    assert acc.accuracy_classes == pytest.approx([1.0, 0.5])  # classes 3 then 7
    assert acc.unweighted == pytest.approx(2 / 3)
    assert acc.worst == pytest.approx(0.5)


def test_accuracy_tuple_errors():
    with pytest.raises(ValueError, match="y_pred"):
        compute_accuracy_tuple(np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="empty"):
        compute_accuracy_tuple(np.array([]), np.array([]))


@pytest.mark.parametrize(
    "method, kwargs",
    [
        (compute_accuracy_nn, {}),
        (compute_accuracy_nn, {"k": 1}),
        (compute_accuracy_svc, {"param_grid": [{"C": [1, 10], "kernel": ["linear"]}]}),
        (compute_accuracy_rf, {"param_grid": {"max_depth": [3], "n_estimators": [10]}}),
    ],
)
def test_classifiers_separate_blobs(split, method, kwargs):
    x, y, x_test, y_test = split
    (train, test), y_pred_test = method(x, y, x_test, y_test, **kwargs)
    assert isinstance(train, Accuracy) and isinstance(test, Accuracy)
    assert train.unweighted == 1.0 and test.unweighted == 1.0
    assert test.worst == 1.0 and len(test.accuracy_classes) == 3
    np.testing.assert_array_equal(y_pred_test, y_test)


def test_classifiers_report_mistakes(split):
    """Flipped test labels: the accuracy is that of the flips, per class."""
    x, y, x_test, y_test = split
    wrong = y_test.copy()
    wrong[y_test == 0] = 1  # every class-0 cell is now called 1 and predicted 0
    (train, test), y_pred_test = compute_accuracy_nn(x, y, x_test, wrong)
    np.testing.assert_array_equal(y_pred_test, y_test)
    assert test.unweighted == pytest.approx(np.mean(y_test != 0))
    assert test.accuracy_classes == pytest.approx([20 / 40, 1.0])


def test_svc_default_grid_on_sparse_counts():
    x, y = blobs(n_per_class=12, n_classes=2, spread=5.0)
    x = sparse.csr_matrix(np.abs(x))
    (train, test), _ = compute_accuracy_svc(x, y, x, y)
    assert train.unweighted == test.unweighted >= 0.9


def test_grid_search_needs_two_cells_per_class():
    x, y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 1])
    with pytest.raises(ValueError, match="labels_train"):
        compute_accuracy_svc(x, y, x, y)
    with pytest.raises(ValueError, match="k must"):
        compute_accuracy_nn(x, y, x, y, k=0)


# ---------------------------------------------------------------- layering
ANNOTATION_MODULES = {"annotation", "accuracy"}


def imported_modules(path: Path):
    """The last component of every module a file imports (``from . import x``
    imports the module ``x``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.module:
                yield node.module.split(".")[-1]
            else:
                yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name.split(".")[-1] for alias in node.names)


@pytest.mark.parametrize(
    "name",
    [
        "posterior/__init__.py",
        "posterior/core.py",
        "posterior/base.py",
        "posterior/de.py",
        "posterior/de_clusters.py",
        "posterior/sampling.py",
        "posterior/scores.py",
        "posterior/batching.py",
        "trainers/loop.py",
        "metrics/__init__.py",
        "metrics/neighbours.py",
        "metrics/clustering.py",
    ],
)
def test_posterior_modules_do_not_import_annotation(name):
    for module in imported_modules(INFERENCE / name):
        assert module not in ANNOTATION_MODULES, (name, module)


def test_load_posterior_finds_annotation_posterior_by_name():
    import scvi.inference
    from scvi.inference.posterior_utils import POSTERIOR_CLASSES

    registered = POSTERIOR_CLASSES["AnnotationPosterior"]
    assert registered is scvi.inference.annotation.AnnotationPosterior
    assert registered is scvi.inference.AnnotationPosterior
