"""SyntheticDatasetCorr and ZISyntheticDatasetCorr: scVI 0.6.8's simulations."""

import hashlib

import numpy as np
import pytest

from scvi.dataset import SyntheticDatasetCorr, ZISyntheticDatasetCorr
from scvi.dataset.synthetic import SyntheticDatasetCorr as FromSyntheticModule

SMALL = dict(
    n_cells_cluster=30,
    n_clusters=4,
    n_genes_high=6,
    n_overlap=2,
    weight_high=0.1,
    weight_low=0.02,
    lam_0=20.0,
)
ZI_SMALL = dict(
    dropout_coef_high=0.3,
    lam_dropout_high=0.2,
    dropout_coef_low=0.6,
    lam_dropout_low=1.0,
    n_cells_cluster=40,
    n_clusters=2,
    n_genes_high=10,
    n_overlap=3,
    lam_0=30.0,
)


def digest(array) -> str:
    data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


# (shape, sum of X, sha256 of X as float32, technical zeros) of what scvi 0.6.8
# returns for these arguments (it draws from NumPy with seed 0)
PEER = [
    (SyntheticDatasetCorr, {}, (600, 75), 29878, "a9e14f1b3a1af8de", None),
    (SyntheticDatasetCorr, SMALL, (120, 18), 2400, "e8e689585083295a", None),
    (ZISyntheticDatasetCorr, {}, (600, 75), 27992, "005f10bfd759b475", 3232),
    (ZISyntheticDatasetCorr, ZI_SMALL, (80, 17), 2169, "bbb6678342ebcb3a", 246),
]


@pytest.mark.parametrize("cls, kwargs, shape, total, sha, n_technical", PEER)
def test_same_counts_as_scvi_068(cls, kwargs, shape, total, sha, n_technical):
    dataset = cls(**kwargs)
    assert dataset.X.shape == shape and dataset.X.sum() == total
    assert digest(dataset.X) == sha
    if n_technical is not None:
        assert int(dataset.is_technical.sum()) == n_technical


def test_block_structure_and_attributes():
    dataset = SyntheticDatasetCorr(**SMALL)
    assert FromSyntheticModule is SyntheticDatasetCorr
    step = SMALL["n_genes_high"] - SMALL["n_overlap"]
    n_genes = 4 * step + SMALL["n_overlap"]
    assert dataset.n_genes_total == dataset.nb_genes == n_genes == 18
    assert (dataset.n_clusters, dataset.n_cells_cluster) == (4, 30)
    labels = dataset.labels.ravel()
    np.testing.assert_array_equal(labels, np.repeat(np.arange(4), 30))
    assert dataset.n_labels == 4 and list(dataset.gene_names[:3]) == ["0", "1", "2"]
    # reference: weights per cluster, normalised to sum to lam_0
    high = np.zeros((4, n_genes), dtype=bool)
    for k in range(4):
        high[k, k * step : k * step + 6] = True
    weights = np.where(high, 0.1, 0.02)
    expected = 20.0 * weights / weights.sum(1, keepdims=True)
    assert dataset.exprs_param.shape == dataset.is_highly_exp.shape == (1, 120, 18)
    np.testing.assert_allclose(dataset.exprs_param[0], expected[labels])
    np.testing.assert_array_equal(dataset.is_highly_exp[0], high[labels])
    np.testing.assert_allclose(dataset.exprs_param[0].sum(1), 20.0)
    np.testing.assert_allclose(dataset.poisson_zero, np.exp(-dataset.exprs_param))
    assert dataset.probas_zero_bio_tech_high is None
    # overlap genes 4 and 5 are high in clusters 0 and 1
    assert dataset.is_highly_exp[0][labels == 1][0, 4:6].all()
    data = np.ones((1, 120, 18))
    assert dataset.mask(data) is data


def test_counts_follow_the_poisson_means():
    dataset = SyntheticDatasetCorr(n_cells_cluster=2000, seed=3)
    labels = dataset.labels.ravel()
    params = dataset.exprs_param[0]
    for k in range(3):
        rows = labels == k
        mean = dataset.X[rows].mean(0)
        # sd of a mean of 2000 Poisson(<= 4/3) counts is < 0.026
        np.testing.assert_allclose(mean, params[rows][0], atol=0.11)
        zero = (dataset.X[rows] == 0).mean(0)
        np.testing.assert_allclose(zero, np.exp(-params[rows][0]), atol=0.04)


def test_zero_inflation_marks_technical_zeros():
    base = SyntheticDatasetCorr(n_cells_cluster=1000, seed=5)
    zi = ZISyntheticDatasetCorr(
        dropout_coef_high=0.4,
        lam_dropout_high=0.3,
        dropout_coef_low=0.2,
        n_cells_cluster=1000,
        seed=5,
    )
    tech = zi.is_technical[0]
    assert zi.is_technical.shape == zi.p_dropout.shape == (1, 3000, 75)
    # the same Poisson draws, then the dropout
    assert np.all(zi.X[tech] == 0)
    np.testing.assert_array_equal(zi.X[~tech], base.X[~tech])
    high = zi.is_highly_exp[0]
    p_high = 0.4 * np.exp(-0.3 * (4 / 3) ** 2)
    np.testing.assert_allclose(zi.p_dropout[0][high], p_high)
    np.testing.assert_allclose(zi.p_dropout[0][~high], 0.2)
    assert zi.zi_zero is zi.p_dropout
    assert abs(tech[high].mean() - p_high) < 0.01
    assert abs(tech[~high].mean() - 0.2) < 0.01
    # joint table of biological (rows) and technical (columns) zeros
    table = zi.probas_zero_bio_tech_high
    assert table.shape == (2, 2) and np.isclose(table.sum(), 1.0)
    np.testing.assert_allclose(table.sum(0), [1 - p_high, p_high])
    np.testing.assert_allclose(table.sum(1), [1 - np.exp(-4 / 3), np.exp(-4 / 3)])
    low = zi.probas_zero_bio_tech_low
    np.testing.assert_allclose(low[1, 1], np.exp(-1 / 3) * 0.2)
    # observed zeros of highly expressed genes: P(bio or tech)
    zero_rate = (zi.X[high] == 0).mean()
    assert abs(zero_rate - (1 - table[0, 0])) < 0.01


def test_default_shares_of_technical_and_biological_zeros():
    # scVI 0.6.8 with its defaults: 3,232 technical zeros, 23,549 biological only
    dataset = ZISyntheticDatasetCorr()
    zeros = dataset.X == 0
    technical = dataset.is_technical[0]
    assert technical.sum() == 3232 and (zeros & ~technical).sum() == 23549
    assert technical.sum() >= 1000


def test_seed_and_global_random_state():
    np.random.seed(11)
    expected = np.random.random_sample()
    np.random.seed(11)
    first = ZISyntheticDatasetCorr(n_cells_cluster=20)
    assert np.random.random_sample() == expected  # global state untouched
    again = ZISyntheticDatasetCorr(n_cells_cluster=20)
    other = ZISyntheticDatasetCorr(n_cells_cluster=20, seed=1)
    np.testing.assert_array_equal(first.X, again.X)
    assert not np.array_equal(first.X, other.X)


def test_mask_of_given_counts():
    dataset = ZISyntheticDatasetCorr(dropout_coef_high=1.0, n_cells_cluster=10)
    data = np.full((30, 75), 7)
    masked = dataset.mask(data)
    assert masked.shape == data.shape and data.min() == 7  # a copy
    high = dataset.is_highly_exp[0]
    assert np.all(masked[high] == 0)  # dropout probability 1
    np.testing.assert_array_equal(masked == 0, dataset.is_technical[0])
    assert dataset.mask(data[None]).shape == (1, 30, 75)
    with pytest.raises(ValueError, match="shape"):
        dataset.mask(np.ones((2, 2)))


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (SyntheticDatasetCorr, dict(n_genes_high=5, n_overlap=5), "n_overlap"),
        (SyntheticDatasetCorr, dict(n_clusters=0), "n_clusters"),
        (SyntheticDatasetCorr, dict(weight_high=0, weight_low=0), "weight_high"),
        (SyntheticDatasetCorr, dict(lam_0=0), "lam_0"),
        (ZISyntheticDatasetCorr, dict(dropout_coef_low=1.5), "dropout_coef_low"),
        (ZISyntheticDatasetCorr, dict(lam_dropout_high=-1), "lam_dropout_high"),
    ],
)
def test_invalid_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)
