"""Scores of latent spaces, clusterings and imputations in scvi.inference.metrics."""

import itertools
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

import scvi  # noqa: E402
from scvi.inference.metrics import (  # noqa: E402
    apply_t_sne,
    clustering_scores,
    entropy_batch_mixing,
    imputation_error,
    knn_purity,
    nn_overlap,
    plot_imputation,
    unsupervised_clustering_accuracy,
)


def brute_force_neighbours(x, k):
    """Indices of the k nearest other points of each point, in pure Python."""
    n = len(x)
    result = []
    for i in range(n):
        dists = [(float(np.sum((x[i] - x[j]) ** 2)), j) for j in range(n) if j != i]
        dists.sort()
        result.append([j for _, j in dists[:k]])
    return result


def separated_blobs(rng, n_per_blob=100, n_blobs=2, dim=5, spread=50.0):
    centres = rng.normal(size=(n_blobs, dim)) * spread
    x = np.concatenate([c + rng.normal(size=(n_per_blob, dim)) for c in centres])
    labels = np.repeat(np.arange(n_blobs), n_per_blob)
    return x, labels


# ---------------------------------------------------------------------------
# entropy_batch_mixing
# ---------------------------------------------------------------------------


def test_entropy_random_batches_is_log2():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(2000, 4))
    batches = rng.permutation(np.repeat([0, 1], 1000))
    scvi.set_seed(0)
    score = entropy_batch_mixing(latent, batches)
    assert abs(score - math.log(2)) < 0.05


def test_entropy_separated_batches_is_zero():
    rng = np.random.default_rng(1)
    latent, batches = separated_blobs(rng, n_per_blob=200)
    scvi.set_seed(0)
    assert entropy_batch_mixing(latent, batches) < 0.05


def brute_force_entropy(latent, batches, k):
    entropies = []
    for i, neigh in enumerate(brute_force_neighbours(latent, k)):
        h = 0.0
        for b in set(batches):
            p = sum(batches[j] == b for j in neigh) / k
            if p > 0:
                h -= p * math.log(p)
        entropies.append(h)
    return entropies


def test_entropy_matches_brute_force_three_batches():
    rng = np.random.default_rng(2)
    latent = rng.normal(size=(15, 3))
    batches = np.array(list("abc") * 5)
    expected = np.mean(brute_force_entropy(latent, batches, 4))
    # one pool holding every cell: the mean over all cells, whatever the draw
    score = entropy_batch_mixing(
        latent, batches, n_neighbors=4, n_pools=1, n_samples_per_pool=15
    )
    assert score == pytest.approx(expected, abs=1e-12)
    # pools larger than the data are clipped to all cells
    score = entropy_batch_mixing(
        latent, batches, n_neighbors=4, n_pools=3, n_samples_per_pool=1000
    )
    assert score == pytest.approx(expected, abs=1e-12)


def test_entropy_two_batches_is_binary_entropy_of_batch_one_share():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=(30, 2))
    batches = rng.integers(0, 2, size=(30, 1))  # (n, 1) as in scVI datasets
    k = 6
    expected = []
    for neigh in brute_force_neighbours(latent, k):
        p = np.mean(batches[neigh, 0] == 1)
        expected.append(
            0.0 if p in (0, 1) else -p * np.log(p) - (1 - p) * np.log(1 - p)
        )
    score = entropy_batch_mixing(
        latent, batches, n_neighbors=k, n_pools=1, n_samples_per_pool=30
    )
    assert score == pytest.approx(np.mean(expected), abs=1e-12)


def test_entropy_pools_follow_global_seed():
    rng = np.random.default_rng(4)
    latent = rng.normal(size=(300, 3))
    batches = rng.integers(0, 3, size=300)
    kwargs = dict(n_neighbors=10, n_pools=5, n_samples_per_pool=20)
    scvi.set_seed(7)
    first = entropy_batch_mixing(latent, batches, **kwargs)
    scvi.set_seed(7)
    second = entropy_batch_mixing(latent, batches, **kwargs)
    third = entropy_batch_mixing(latent, batches, **kwargs)
    assert first == second
    assert first != third
    assert 0.0 < first <= math.log(3)


def test_entropy_clips_n_neighbors():
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(10, 2))
    batches = np.array([0] * 3 + [1] * 7)
    clipped = entropy_batch_mixing(latent, batches, n_neighbors=500, n_pools=2)
    exact = entropy_batch_mixing(latent, batches, n_neighbors=9, n_pools=2)
    # every other cell is a neighbour: 3 of 9 or 2 of 9 from batch 0
    h = lambda p: -p * math.log(p) - (1 - p) * math.log(1 - p)  # noqa: E731
    assert clipped == pytest.approx(exact)
    assert clipped == pytest.approx(0.3 * h(2 / 9) + 0.7 * h(3 / 9))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(batches=np.zeros(9)), "batches"),
        (dict(n_neighbors=0), "n_neighbors"),
        (dict(n_neighbors=2.5), "n_neighbors"),
        (dict(n_pools=0), "n_pools"),
        (dict(n_samples_per_pool=-1), "n_samples_per_pool"),
        (dict(latent_space=np.zeros(10)), "latent_space"),
        (dict(latent_space=np.full((10, 2), np.nan)), "latent_space"),
    ],
)
def test_entropy_invalid_inputs(kwargs, name):
    args = dict(latent_space=np.random.rand(10, 2), batches=np.zeros(10))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        entropy_batch_mixing(**args)


# ---------------------------------------------------------------------------
# knn_purity
# ---------------------------------------------------------------------------


def test_knn_purity_separated_labels_is_one():
    rng = np.random.default_rng(6)
    latent, labels = separated_blobs(rng, n_per_blob=60, n_blobs=3)
    assert knn_purity(latent, labels) == 1.0


def test_knn_purity_random_labels():
    rng = np.random.default_rng(7)
    latent = rng.normal(size=(3000, 3))
    labels = rng.integers(0, 3, size=3000)
    assert abs(knn_purity(latent, labels) - 1 / 3) < 0.03


def test_knn_purity_averages_per_label_class():
    rng = np.random.default_rng(8)
    latent = rng.normal(size=(20, 2))
    labels = np.array(["x"] * 14 + ["y"] * 6)
    k = 5
    purity = [
        np.mean(labels[neigh] == labels[i])
        for i, neigh in enumerate(brute_force_neighbours(latent, k))
    ]
    purity = np.array(purity)
    expected = (purity[labels == "x"].mean() + purity[labels == "y"].mean()) / 2
    assert knn_purity(latent, labels, n_neighbors=k) == pytest.approx(expected)


def test_knn_purity_invalid_inputs():
    latent = np.random.rand(10, 2)
    with pytest.raises(ValueError, match="label"):
        knn_purity(latent, np.zeros(11))
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_purity(latent, np.zeros(10), n_neighbors=0)
    with pytest.raises(ValueError, match="latent"):
        knn_purity(latent[:1], np.zeros(1))


# ---------------------------------------------------------------------------
# nn_overlap
# ---------------------------------------------------------------------------


def dense_adjacency(x, k):
    a = np.zeros((len(x), len(x)))
    for i, neigh in enumerate(brute_force_neighbours(x, k)):
        a[i, neigh] = 1
    return a


@pytest.mark.parametrize("noise", [0.3, 3.0])
def test_nn_overlap_matches_dense_spearman_and_counts(noise):
    rng = np.random.default_rng(9)
    n, k = 40, 5
    x1 = rng.normal(size=(n, 3))
    x2 = np.hstack([x1, x1[:, :1]]) + noise * rng.normal(size=(n, 4))
    a1, a2 = dense_adjacency(x1, k), dense_adjacency(x2, k)
    spearman, fold = nn_overlap(x1, x2, k=k)
    assert spearman == pytest.approx(spearmanr(a1.ravel(), a2.ravel())[0])
    shared = np.sum(a1 * a2)
    assert fold == pytest.approx(shared / (n * k * k / (n - 1)))


def test_nn_overlap_identical_spaces():
    rng = np.random.default_rng(10)
    n, k = 200, 10
    x = rng.normal(size=(n, 4))
    spearman, fold = nn_overlap(x, 3 * x + 1, k=k)
    assert spearman == pytest.approx(1.0)
    assert fold == pytest.approx((n - 1) / k)


def test_nn_overlap_independent_spaces():
    rng = np.random.default_rng(11)
    n, k = 500, 10
    spearman, fold = nn_overlap(rng.normal(size=(n, 3)), rng.normal(size=(n, 3)), k)
    assert abs(fold - 1.0) < 0.3
    assert abs(spearman) < 0.01


def test_nn_overlap_clips_k():
    rng = np.random.default_rng(12)
    spearman, fold = nn_overlap(rng.normal(size=(8, 2)), rng.normal(size=(8, 2)))
    # every other cell is a neighbour in both spaces
    assert spearman == pytest.approx(1.0)
    assert fold == pytest.approx(1.0)


def test_nn_overlap_invalid_inputs():
    with pytest.raises(ValueError, match="X1 and X2"):
        nn_overlap(np.random.rand(10, 2), np.random.rand(9, 2))
    with pytest.raises(ValueError, match="k must"):
        nn_overlap(np.random.rand(10, 2), np.random.rand(10, 2), k=0)
    with pytest.raises(ValueError, match="X2"):
        nn_overlap(np.random.rand(10, 2), np.random.rand(10))


# ---------------------------------------------------------------------------
# unsupervised_clustering_accuracy
# ---------------------------------------------------------------------------


def brute_force_accuracy(y, y_pred):
    clusters, labels = sorted(set(y_pred)), sorted(set(y))
    best = 0
    if len(clusters) <= len(labels):
        for targets in itertools.permutations(labels, len(clusters)):
            mapping = dict(zip(clusters, targets))
            best = max(best, sum(mapping[p] == t for p, t in zip(y_pred, y)))
    else:
        for sources in itertools.permutations(clusters, len(labels)):
            mapping = dict(zip(sources, labels))
            best = max(best, sum(mapping.get(p) == t for p, t in zip(y_pred, y)))
    return best / len(y)


def test_accuracy_of_permuted_labels_is_one():
    rng = np.random.default_rng(13)
    y = rng.integers(0, 5, size=200)
    permutation = np.array([3, 0, 4, 1, 2])
    accuracy, assignment = unsupervised_clustering_accuracy(y, permutation[y] + 10)
    assert accuracy == 1.0
    assert assignment.shape == (5, 2)
    for cluster, label in assignment:
        assert permutation[label] + 10 == cluster


@pytest.mark.parametrize("n_clusters, n_labels", [(3, 3), (4, 2), (2, 4), (5, 3)])
def test_accuracy_matches_brute_force(n_clusters, n_labels):
    rng = np.random.default_rng(n_clusters * 10 + n_labels)
    for _ in range(5):
        y = rng.integers(0, n_labels, size=30)
        y_pred = rng.integers(0, n_clusters, size=30)
        accuracy, assignment = unsupervised_clustering_accuracy(y, y_pred)
        assert accuracy == pytest.approx(brute_force_accuracy(y, y_pred))
        n_matched = min(len(set(y)), len(set(y_pred)))
        assert assignment.shape == (n_matched, 2)
        assert len(set(assignment[:, 0])) == len(set(assignment[:, 1])) == n_matched
        hits = sum(np.sum((y_pred == c) & (y == t)) for c, t in assignment)
        assert hits / len(y) == pytest.approx(accuracy)


def test_accuracy_with_string_labels():
    y = np.array(["b", "b", "a", "a", "c"])
    y_pred = np.array([1, 1, 0, 2, 2])
    accuracy, assignment = unsupervised_clustering_accuracy(y, y_pred)
    assert accuracy == pytest.approx(4 / 5)
    assert dict((int(c), t) for c, t in assignment)[1] == "b"


def test_accuracy_invalid_inputs():
    with pytest.raises(ValueError, match="y_pred"):
        unsupervised_clustering_accuracy(np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match="y must"):
        unsupervised_clustering_accuracy(np.zeros((2, 2)), np.zeros(2))


# ---------------------------------------------------------------------------
# clustering_scores
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["knn", "gmm"])
def test_clustering_scores_on_separated_blobs(algorithm):
    rng = np.random.default_rng(14)
    latent, labels = separated_blobs(rng, n_per_blob=50, n_blobs=3, spread=20.0)
    labels = np.array(["t", "b", "nk"])[labels]
    asw, nmi, ari, uca = clustering_scores(latent, labels, algorithm)
    assert asw > 0.8
    assert nmi == pytest.approx(1.0)
    assert ari == pytest.approx(1.0)
    assert uca == pytest.approx(1.0)


def test_clustering_scores_reproducible_and_n_labels():
    rng = np.random.default_rng(15)
    latent = rng.normal(size=(120, 2))
    labels = rng.integers(0, 3, size=120)
    first = clustering_scores(latent, labels, "gmm", seed=3)
    assert first == clustering_scores(latent, labels, "gmm", seed=3)
    asw, nmi, ari, uca = clustering_scores(latent, labels, n_labels=1)
    assert nmi == pytest.approx(0.0)
    assert ari == pytest.approx(0.0)
    assert uca == pytest.approx(np.bincount(labels).max() / 120)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(prediction_algorithm="kmeans"), "prediction_algorithm.*knn.*gmm"),
        (dict(n_labels=0), "n_labels"),
        (dict(n_labels=100), "n_labels"),
        (dict(labels=np.zeros(20)), "labels"),
        (dict(labels=np.zeros(19)), "labels"),
    ],
)
def test_clustering_scores_invalid_inputs(kwargs, name):
    args = dict(latent=np.random.rand(20, 2), labels=np.arange(20) % 2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        clustering_scores(**args)


# ---------------------------------------------------------------------------
# imputation
# ---------------------------------------------------------------------------


def test_imputation_error_values():
    original = np.array([[0.0, 1.0, 5.0], [2.0, 2.0, 8.0]])
    imputed = np.array([[0.5, 1.0, 2.0], [2.0, 4.0, 9.0]])
    # absolute errors 0.5, 0, 3, 0, 2, 1 -> median 0.75
    assert imputation_error(original, imputed) == pytest.approx(0.75)
    ragged_original = [np.array([0.0, 1.0]), np.array([5.0]), np.array([2, 2, 8])]
    ragged_imputed = [np.array([0.5, 1.0]), np.array([2.0]), np.array([2, 4, 9])]
    assert imputation_error(ragged_original, ragged_imputed) == pytest.approx(0.75)


def test_imputation_error_invalid_inputs():
    with pytest.raises(ValueError, match="original and imputed"):
        imputation_error(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="original and imputed"):
        imputation_error([], [])


def test_plot_imputation_returns_figure_without_showing(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    rng = np.random.default_rng(16)
    original = rng.poisson(3.0, size=(50, 20)).astype(float)
    original[0, :5] = 50.0  # left out of the plot
    imputed = original + rng.normal(scale=0.5, size=original.shape)
    fig = plot_imputation(original, imputed, show_plot=False, title="my title")
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert not shown
        ax = fig.axes[0]
        assert ax.get_title() == "my title"
        counts = ax.get_images()[0].get_array()
        in_range = (original < 10) & (imputed >= 0) & (imputed <= 10)
        assert counts.sum() == in_range.sum()
    finally:
        plt.close(fig)
    fig = plot_imputation(original, imputed)
    plt.close(fig)
    assert shown == [True]


# ---------------------------------------------------------------------------
# apply_t_sne
# ---------------------------------------------------------------------------


def test_apply_t_sne_subset_and_separation():
    rng = np.random.default_rng(17)
    latent, labels = separated_blobs(rng, n_per_blob=40, n_blobs=2, dim=6)
    scvi.set_seed(0)
    embedding, idx = apply_t_sne(latent, n_samples=50)
    assert embedding.shape == (50, 2)
    assert idx.shape == (50,) and len(set(idx)) == 50 and idx.max() < 80
    assert knn_purity(embedding, labels[idx], n_neighbors=5) == 1.0
    scvi.set_seed(0)
    embedding_2, idx_2 = apply_t_sne(latent, n_samples=50)
    np.testing.assert_array_equal(idx, idx_2)
    np.testing.assert_allclose(embedding, embedding_2)


def test_apply_t_sne_takes_all_cells_when_few():
    rng = np.random.default_rng(18)
    latent = rng.normal(size=(12, 1))
    embedding, idx = apply_t_sne(latent)
    assert embedding.shape == (12, 2)
    assert sorted(idx) == list(range(12))
    assert np.all(np.isfinite(embedding))
    with pytest.raises(ValueError, match="n_samples"):
        apply_t_sne(latent, n_samples=2)
