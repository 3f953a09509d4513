"""Classification accuracies: of scVI's classifiers on posteriors, and of scikit-learn
baselines (k nearest neighbours, SVC, random forest) on plain arrays.

Everything here is re-exported by :mod:`scvi.inference.annotation`, where users
import it from.
"""

from collections import namedtuple
from typing import Optional, Tuple

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from .sampling import eval_mode
from ..metrics import unsupervised_clustering_accuracy

__all__ = [
    "Accuracy",
    "compute_accuracy",
    "compute_accuracy_classifier",
    "compute_accuracy_nn",
    "compute_accuracy_rf",
    "compute_accuracy_svc",
    "compute_accuracy_tuple",
    "compute_predictions",
    "unsupervised_classification_accuracy",
]

Accuracy = namedtuple(
    "Accuracy",
    ["unweighted", "weighted", "worst", "accuracy_classes"],
    module="scvi.inference.annotation",
)
Accuracy.__doc__ = """Accuracy of a classification, overall and per class.

``unweighted`` is the fraction of cells correctly classified (each cell counts the
same); ``weighted`` the mean of the per-class accuracies (each class counts the same,
the balanced accuracy); ``worst`` the lowest per-class accuracy; ``accuracy_classes``
the per-class accuracies, in the order of the sorted true labels. (The names are those
of scVI 0.6.)"""


# ---------------------------------------------------------------------------
# predictions of scVI's classifiers
# ---------------------------------------------------------------------------


def owns(container: torch.nn.Module, module: torch.nn.Module) -> bool:
    """True when every parameter of ``module`` belongs to ``container`` (the
    classifier is the container's own, as ``SCANVI.classifier``)."""
    params = {id(p) for p in container.parameters()}
    mine = [id(p) for p in module.parameters()]
    return bool(mine) and all(p in params for p in mine)


def classifier_features(
    sampling_model, x: torch.Tensor, sampling_zl: bool = False
) -> torch.Tensor:
    """The latent representation a classifier on ``sampling_model`` reads.

    Parameters
    ----------
    sampling_model
        A model with ``z_encoder`` and ``l_encoder`` (VAE, LDVAE, SCANVI).
    x
        Counts, shape ``(batch, n_genes)``.
    sampling_zl
        Concatenate the mean of ``q(l | x)`` to that of ``q(z | x)``.

    Returns
    -------
    torch.Tensor
        ``(batch, n_latent)``, or ``(batch, n_latent + 1)`` with ``sampling_zl``;
        no gradient flows into ``sampling_model``.
    """
    with torch.no_grad():
        if getattr(sampling_model, "log_variational", False):
            x = torch.log1p(x)
        features = sampling_model.z_encoder(x)[0]
        if sampling_zl:
            features = torch.cat((features, sampling_model.l_encoder(x)[0]), dim=-1)
    return features


def _as_probabilities(output: torch.Tensor, module) -> torch.Tensor:
    """Softmax of a ``logits=True`` classifier's output; probabilities unchanged."""
    if getattr(module, "logits", False):
        return torch.softmax(output, dim=-1)
    return output


def class_probabilities(
    model, x: torch.Tensor, classifier=None, model_zl: bool = False
) -> torch.Tensor:
    """Class probabilities of the cells ``x``, rows summing to one.

    Parameters
    ----------
    model
        Without ``classifier``: a model with ``classify`` (VAEC, SCANVI) or a
        classifier reading counts. With ``classifier``: the model whose latent space
        the classifier reads (its ``classify`` is used when the classifier is its
        own, as ``scanvi.classifier``).
    x
        Counts, shape ``(batch, n_genes)``.
    classifier
        A classifier of latent representations, or None.
    model_zl
        The classifier reads ``z`` and the library ``l`` (see
        :func:`classifier_features`).

    Returns
    -------
    torch.Tensor
        ``(batch, n_labels)``.
    """
    if classifier is None:
        if hasattr(model, "classify"):
            return model.classify(x)
        return _as_probabilities(model(x), model)
    if hasattr(model, "classify") and owns(model, classifier):
        return model.classify(x)
    features = classifier_features(model, x, model_zl)
    return _as_probabilities(classifier(features), classifier)


def compute_predictions(
    model, data_loader, classifier=None, soft: bool = False, model_zl: bool = False
) -> Tuple[np.ndarray, np.ndarray]:
    """True and predicted labels of the cells of ``data_loader``.

    Parameters
    ----------
    model, classifier, model_zl
        See :func:`class_probabilities`.
    data_loader
        A posterior (or any iterable of mini-batch tuples ``(x, local_l_mean,
        local_l_var, batch_index, labels)``); a posterior is visited in the order of
        its ``indices``.
    soft
        Return the class probabilities instead of the most probable class.

    Returns
    -------
    y : numpy.ndarray
        True labels, int64, ``(n_cells,)``.
    y_pred : numpy.ndarray
        Predicted labels, int64, ``(n_cells,)``; with ``soft``, the probabilities,
        float32, ``(n_cells, n_labels)``, rows summing to one.
    """
    batches = (
        data_loader._ordered() if hasattr(data_loader, "_ordered") else data_loader
    )
    ys, preds = [], []
    modules = [m for m in (model, classifier) if m is not None]
    with eval_mode(modules[0]), eval_mode(modules[-1]):
        for tensors in batches:
            x, labels = tensors[0], tensors[4]
            probs = class_probabilities(model, x, classifier, model_zl)
            ys.append(labels.view(-1).cpu().numpy().astype(np.int64))
            if soft:
                preds.append(probs.cpu().numpy().astype(np.float32))
            else:
                preds.append(probs.argmax(dim=-1).cpu().numpy().astype(np.int64))
    if not ys:
        n_labels = getattr(classifier or model, "n_labels", 0)
        return np.zeros(0, np.int64), (
            np.zeros((0, n_labels), np.float32) if soft else np.zeros(0, np.int64)
        )
    return np.concatenate(ys), np.concatenate(preds)


def compute_accuracy(
    vae, data_loader, classifier=None, model_zl: bool = False
) -> float:
    """Fraction of the cells of ``data_loader`` whose predicted label is right.

    See :func:`compute_predictions` for the arguments.
    """
    y, y_pred = compute_predictions(vae, data_loader, classifier, model_zl=model_zl)
    if y.size == 0:
        raise ValueError("data_loader holds no cell: the accuracy is undefined")
    return float(np.mean(y == y_pred))


def unsupervised_classification_accuracy(
    model, data_loader, classifier=None, model_zl: bool = False
) -> float:
    """Accuracy of the predictions under the best one-to-one matching of predicted
    to true labels (see
    :func:`~scvi.inference.metrics.unsupervised_clustering_accuracy`)."""
    y, y_pred = compute_predictions(model, data_loader, classifier, model_zl=model_zl)
    return unsupervised_clustering_accuracy(y, y_pred)[0]


# ---------------------------------------------------------------------------
# accuracies of array classifiers
# ---------------------------------------------------------------------------


def compute_accuracy_tuple(y, y_pred) -> Accuracy:
    """Overall, balanced, worst and per-class accuracies.

    Parameters
    ----------
    y
        True labels, ``(n_cells,)`` or ``(n_cells, 1)``.
    y_pred
        Predicted labels, same length.

    Returns
    -------
    Accuracy
        ``(unweighted, weighted, worst, accuracy_classes)``, see :class:`Accuracy`;
        the classes are the distinct values of ``y``, sorted.

    Raises
    ------
    ValueError
        If the arrays are empty or differ in length.
    """
    y = np.asarray(y).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y.size == 0:
        raise ValueError("y must not be empty")
    if y_pred.shape != y.shape:
        raise ValueError(
            f"y_pred must have one label per cell ({y.size}), got {y_pred.size}"
        )
    correct = y == y_pred
    per_class = [float(np.mean(correct[y == label])) for label in np.unique(y)]
    return Accuracy(
        unweighted=float(np.mean(correct)),
        weighted=float(np.mean(per_class)),
        worst=float(np.min(per_class)),
        accuracy_classes=per_class,
    )


def compute_accuracy_classifier(
    clf, data_train, labels_train, data_test, labels_test
) -> Tuple[Tuple[Accuracy, Accuracy], np.ndarray]:
    """Fit a scikit-learn classifier on the train data, score it on both sets.

    Returns
    -------
    tuple
        ``((accuracy_train, accuracy_test), y_pred_test)``: the two
        :class:`Accuracy` tuples and the predicted labels of the test cells.
    """
    labels_train = np.asarray(labels_train).ravel()
    labels_test = np.asarray(labels_test).ravel()
    clf.fit(data_train, labels_train)
    y_pred_train = clf.predict(data_train)
    y_pred_test = clf.predict(data_test)
    return (
        compute_accuracy_tuple(labels_train, y_pred_train),
        compute_accuracy_tuple(labels_test, y_pred_test),
    ), y_pred_test


def compute_accuracy_nn(data_train, labels_train, data_test, labels_test, k: int = 5):
    """Accuracies of a distance-weighted ``k``-nearest-neighbour classifier.

    Parameters
    ----------
    data_train, labels_train
        Training cells ``(n_train, n_features)`` (dense or sparse) and labels.
    data_test, labels_test
        Test cells and labels.
    k
        Number of neighbours.

    Returns
    -------
    tuple
        ``((accuracy_train, accuracy_test), y_pred_test)``, see
        :func:`compute_accuracy_classifier`.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    clf = KNeighborsClassifier(n_neighbors=int(k), weights="distance")
    return compute_accuracy_classifier(
        clf, data_train, labels_train, data_test, labels_test
    )


def _grid_search(estimator, param_grid, verbose: int, labels_train):
    """3-fold grid search (fewer folds when a class has fewer than 3 cells)."""
    from sklearn.model_selection import GridSearchCV

    counts = np.unique(np.asarray(labels_train).ravel(), return_counts=True)[1]
    if counts.size < 2:
        raise ValueError("labels_train must hold at least two classes")
    folds = int(min(3, counts.min()))
    if folds < 2:
        raise ValueError(
            "labels_train must hold at least two cells of each class for the "
            "cross-validated grid search"
        )
    return GridSearchCV(estimator, param_grid, verbose=verbose, cv=folds)


def compute_accuracy_svc(
    data_train,
    labels_train,
    data_test,
    labels_test,
    param_grid: Optional[list] = None,
    verbose: int = 0,
    max_iter: int = -1,
):
    """Accuracies of a support vector classifier tuned by grid search.

    Parameters
    ----------
    data_train, labels_train, data_test, labels_test
        See :func:`compute_accuracy_nn`.
    param_grid
        Grid of :class:`sklearn.svm.SVC` parameters searched by 3-fold
        cross-validation on the train cells; default: linear kernels with ``C`` in
        1, 10, 100, 1000 and RBF kernels with the same ``C`` and ``gamma`` in 1e-3,
        1e-4.
    verbose
        Verbosity of :class:`sklearn.model_selection.GridSearchCV`.
    max_iter
        Iteration limit of the solver (-1: none).

    Returns
    -------
    tuple
        ``((accuracy_train, accuracy_test), y_pred_test)`` of the best parameters,
        refitted on all train cells; see :func:`compute_accuracy_classifier`.
    """
    from sklearn.svm import SVC  # imported here: sklearn.svm is slow to import

    if param_grid is None:
        param_grid = [
            {"C": [1, 10, 100, 1000], "kernel": ["linear"]},
            {"C": [1, 10, 100, 1000], "gamma": [0.001, 0.0001], "kernel": ["rbf"]},
        ]
    clf = _grid_search(SVC(max_iter=max_iter), param_grid, verbose, labels_train)
    return compute_accuracy_classifier(
        clf, data_train, labels_train, data_test, labels_test
    )


def compute_accuracy_rf(
    data_train,
    labels_train,
    data_test,
    labels_test,
    param_grid: Optional[dict] = None,
    verbose: int = 0,
):
    """Accuracies of a random forest tuned by grid search.

    Parameters
    ----------
    data_train, labels_train, data_test, labels_test
        See :func:`compute_accuracy_nn`.
    param_grid
        Grid of :class:`sklearn.ensemble.RandomForestClassifier` parameters
        searched by 3-fold cross-validation; default: ``max_depth`` 3 to 9 and
        ``n_estimators`` 10, 50, 100, 200.
    verbose
        Verbosity of :class:`sklearn.model_selection.GridSearchCV`.

    Returns
    -------
    tuple
        ``((accuracy_train, accuracy_test), y_pred_test)``, see
        :func:`compute_accuracy_classifier`.
    """
    # imported here: sklearn.ensemble takes seconds to import
    from sklearn.ensemble import RandomForestClassifier

    if param_grid is None:
        param_grid = {
            "max_depth": list(range(3, 10)),
            "n_estimators": [10, 50, 100, 200],
        }
    forest = RandomForestClassifier(random_state=0)
    clf = _grid_search(forest, param_grid, verbose, labels_train)
    return compute_accuracy_classifier(
        clf, data_train, labels_train, data_test, labels_test
    )
