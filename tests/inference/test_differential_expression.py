"""Bayes-factor differential expression: statistics, sampling, calibration."""

import sys
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.inference import UnsupervisedTrainer
from scvi.inference import differential_expression as de
from scvi.models import SCANVI, VAE


# ---------------------------------------------------------------- pure functions
def test_vanilla_probabilities_count_winning_pairs():
    s1 = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 5.0], [4.0, 5.0]])
    s2 = np.array([[0.5, 1.0], [2.5, 1.0], [0.0, 1.0], [5.0, 1.0]])
    pairs = (np.arange(4), np.arange(4))
    out = de.bayes_factors(s1, s2, pairs, mode="vanilla")
    np.testing.assert_allclose(out["proba_m1"], [0.5, 0.5])
    np.testing.assert_allclose(out["proba_m2"], [0.5, 0.5])
    np.testing.assert_allclose(out["bayes_factor"], [0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(out["scale1"], s1.mean(0))
    certain = de.bayes_factors(s1 + 10, s2, pairs)
    np.testing.assert_allclose(certain["proba_m1"], 1.0)
    assert certain["bayes_factor"][0] == pytest.approx(np.log(1 + 1e-8) - np.log(1e-8))


def test_change_mode_statistics_match_numpy():
    rs = np.random.RandomState(0)
    s1 = rs.gamma(2.0, 1.0, size=(3000, 4))
    s2 = rs.gamma(2.0, 1.0, size=(3000, 4)) * np.array([1.0, 4.0, 0.25, 1.0])
    pairs = (np.arange(3000), np.arange(3000))
    out = de.bayes_factors(
        s1, s2, pairs, mode="change", delta=0.5, cred_interval_lvls=[0.5, 0.9]
    )
    r = np.log2(s1 + 1e-8) - np.log2(s2 + 1e-8)
    np.testing.assert_allclose(out["lfc_mean"], r.mean(0))
    np.testing.assert_allclose(out["lfc_median"], np.median(r, 0))
    np.testing.assert_allclose(out["lfc_std"], r.std(0))
    np.testing.assert_allclose(out["lfc_min"], r.min(0))
    np.testing.assert_allclose(out["proba_de"], (np.abs(r) >= 0.5).mean(0))
    np.testing.assert_allclose(out["proba_de"] + out["proba_not_de"], 1.0)
    # genes 1 and 2 have a fold change of 4 (log2: -2, +2)
    assert out["lfc_median"][1] == pytest.approx(-2, abs=0.15)
    assert out["lfc_median"][2] == pytest.approx(2, abs=0.15)
    lower, upper = (
        out["lfc_confidence_interval_0.9_min"],
        out["lfc_confidence_interval_0.9_max"],
    )
    inside = ((r >= lower) & (r <= upper)).mean(0)
    assert np.all(inside >= 0.9) and np.all(inside < 0.91)
    assert np.all(
        out["lfc_confidence_interval_0.5_max"] - out["lfc_confidence_interval_0.5_min"]
        < upper - lower
    )
    custom = de.bayes_factors(
        s1, s2, pairs, mode="change", change_fn=lambda x, y: x - y,
        m1_domain_fn=lambda r: r > 0,
    )  # fmt: skip
    np.testing.assert_allclose(custom["proba_de"], (s1 - s2 > 0).mean(0))


def test_change_mode_intervals_are_the_public_credible_intervals():
    from scvi.inference.posterior_utils import credible_intervals

    rs = np.random.RandomState(1)
    s1, s2 = rs.exponential(size=(200, 3)), rs.exponential(size=(200, 3))
    pairs = (np.arange(200), np.arange(200))
    out = de.bayes_factors(s1, s2, pairs, mode="change", cred_interval_lvls=[0.8])
    r = np.log2(s1 + 1e-8) - np.log2(s2 + 1e-8)
    expected = credible_intervals(r, 0.8)
    np.testing.assert_array_equal(
        out["lfc_confidence_interval_0.8_min"], expected[:, 0]
    )
    np.testing.assert_array_equal(
        out["lfc_confidence_interval_0.8_max"], expected[:, 1]
    )
    with pytest.raises(ValueError, match="confidence_level"):
        de.bayes_factors(s1, s2, pairs, mode="change", cred_interval_lvls=[1.5])


def test_pairs_stay_within_shared_batches():
    groups1 = np.array([0, 0, 0, 1, 1])
    groups2 = np.array([1, 1, 0, 0, 2])
    np.random.seed(0)
    i, j = de.pair_indices(groups1, groups2, False, 0)
    np.testing.assert_array_equal(groups1[i], groups2[j])
    assert len(i) == 2 + 2  # min(3, 2) in batch 0, min(2, 2) in batch 1
    i, j = de.pair_indices(groups1, groups2, True, 1000)
    np.testing.assert_array_equal(groups1[i], groups2[j])
    assert abs(len(i) - 1000) <= 2
    with pytest.raises(ValueError, match="no batch in common"):
        de.pair_indices(np.zeros(3), np.ones(3), False, 0)


def test_batch_configurations():
    assert de.batch_case(None, None, True) == "observed"
    assert de.batch_case(None, None, False) == "shared"
    assert de.batch_case([0, 1], [1, 0], False) == "shared"
    assert de.batch_case([0], [1], False) == "disjoint"
    with pytest.warns(UserWarning, match="overlap"):
        assert de.batch_case([0, 1], [1, 2], False) == "disjoint"
    with pytest.warns(UserWarning, match="only one"):
        de.batch_case([0], None, False)


def test_bad_options_are_named():
    s = np.ones((3, 2))
    pairs = (np.arange(3), np.arange(3))
    with pytest.raises(ValueError, match="mode"):
        de.bayes_factors(s, s, pairs, mode="fancy")
    with pytest.raises(ValueError, match="change_fn"):
        de.bayes_factors(s, s, pairs, mode="change", change_fn="ratio")
    with pytest.raises(ValueError, match="delta or m1_domain_fn"):
        de.bayes_factors(s, s, pairs, mode="change", delta=None)


# ---------------------------------------------------------------- simulation
def simulate_de(n_cells=600, n_genes=100, n_de=10, seed=0):
    """Two populations, 2 batches; n_de genes with |log2 fold change| >= 1."""
    rs = np.random.RandomState(seed)
    population = np.repeat([0, 1], n_cells // 2)
    batches = np.arange(n_cells) % 2
    base = rs.gamma(2.0, 1.0, size=n_genes)
    lfc = np.zeros(n_genes)
    de_genes = rs.choice(n_genes, n_de, replace=False)
    lfc[de_genes] = rs.choice([-1, 1], n_de) * rs.uniform(1.0, 2.0, n_de)
    rho = np.stack([base * 2 ** (lfc / 2), base * 2 ** (-lfc / 2)])
    rho /= rho.sum(1, keepdims=True)
    library = rs.lognormal(np.log(600.0), 0.3, size=(n_cells, 1))
    batch_effect = np.stack([np.ones(n_genes), rs.lognormal(0, 0.2, n_genes)])
    mean = library * rho[population] * batch_effect[batches]
    counts = rs.poisson(rs.gamma(5.0, mean / 5.0))
    data = GeneExpressionDataset()
    data.populate_from_data(
        counts, batch_indices=batches, labels=population,
        gene_names=[f"g{i}" for i in range(n_genes)],
    )  # fmt: skip
    true_lfc = np.log2(rho[0] / rho[1])
    return data, np.isin(np.arange(n_genes), de_genes), true_lfc


@pytest.fixture(scope="module")
def de_setup():
    scvi.set_seed(0)
    data, is_de, true_lfc = simulate_de()
    model = VAE(data.nb_genes, n_batch=2, n_hidden=64, n_latent=5)
    trainer = UnsupervisedTrainer(
        model, data, train_size=0.9, show_progbar=False, n_epochs_kl_warmup=None,
        batch_size=64,
    )  # fmt: skip
    trainer.train(n_epochs=40, lr=1e-2)
    posterior = trainer.create_posterior(indices=np.arange(len(data)))
    return posterior, data, is_de, true_lfc


@pytest.mark.parametrize("mode", ["vanilla", "change"])
def test_recovers_simulated_de_genes(de_setup, mode):
    posterior, data, is_de, true_lfc = de_setup
    population = data.labels.ravel()
    scvi.set_seed(1)
    result = posterior.differential_expression_score(
        population == 0, population == 1, mode=mode, n_samples=500
    )
    result = result.loc[data.gene_names]
    score = result["bayes_factor"].abs() if mode == "vanilla" else result["proba_de"]
    assert roc_auc_score(is_de, score) >= 0.9
    if mode == "change":
        correlation = np.corrcoef(result["lfc_mean"][is_de], true_lfc[is_de])[0, 1]
        assert correlation >= 0.9


def test_dataframe_layout(de_setup):
    posterior, data, _, _ = de_setup
    population = data.labels.ravel()
    result = posterior.differential_expression_score(
        population == 0, population == 1, n_samples=50
    )
    assert list(result.columns) == [
        "proba_m1", "proba_m2", "bayes_factor", "scale1", "scale2", "raw_mean1",
        "raw_mean2", "non_zeros_proportion1", "non_zeros_proportion2",
        "raw_normalized_mean1", "raw_normalized_mean2",
    ]  # fmt: skip
    assert sorted(result.index) == sorted(data.gene_names)
    assert result["bayes_factor"].is_monotonic_decreasing
    x = data.X
    np.testing.assert_allclose(
        result.loc[data.gene_names, "raw_mean1"], x[population == 0].mean(0), rtol=1e-5
    )
    lean = posterior.differential_expression_score(
        population == 0, population == 1, n_samples=50, all_stats=False
    )
    assert "raw_mean1" not in lean.columns
    bf = posterior.get_bayes_factors(population == 0, population == 1, n_samples=50)
    assert isinstance(bf, dict) and bf["proba_m1"].shape == (data.nb_genes,)
    with pytest.raises(ValueError, match="mode"):
        posterior.get_bayes_factors(population == 0, population == 1, mode="x")


def test_scale_sampler_shapes_and_batches(de_setup):
    posterior, data, _, _ = de_setup
    selection = data.labels.ravel() == 0
    out = posterior.scale_sampler(selection, n_samples=30)
    assert out["scale"].shape == (60, data.nb_genes)  # 2 batches x 30
    np.testing.assert_array_equal(out["batch"], np.repeat([0, 1], 30))
    np.testing.assert_allclose(out["scale"].sum(1), 1, rtol=1e-5)
    per_cell = posterior.scale_sampler(
        selection, n_samples=None, n_samples_per_cell=2, batchid=[1]
    )
    assert per_cell["scale"].shape == (2 * selection.sum(), data.nb_genes)
    observed = posterior.scale_sampler(
        selection, n_samples=40, use_observed_batches=True
    )
    assert observed["scale"].shape == (40, data.nb_genes)
    assert set(observed["batch"]) <= {0, 1}
    mean = posterior.scale_sampler(selection, n_samples=20, give_mean=True)
    assert mean["scale"].shape == (data.nb_genes,)
    with pytest.raises(ValueError, match="not both"):
        posterior.scale_sampler(selection, n_samples=3, n_samples_per_cell=3)
    with pytest.raises(ValueError, match="selects no cell"):
        posterior.scale_sampler(np.zeros(len(data), bool))


@pytest.mark.parametrize("model_class", ["VAE", "SCANVI"])
def test_scales_encoded_once_per_cell_match_per_draw_decoding(
    de_setup, monkeypatch, model_class
):
    # with z fixed at the posterior mean, encoding each distinct cell once and
    # decoding per draw must give exactly what the per-draw path gives
    posterior, data, _, _ = de_setup
    if model_class == "SCANVI":
        scvi.set_seed(1)
        model = SCANVI(data.nb_genes, n_batch=2, n_labels=data.n_labels, n_latent=5)
        posterior = posterior.update({})
        posterior.model = model
    encoder = posterior.model.z_encoder
    monkeypatch.setattr(
        encoder,
        "reparameterize_transformation",
        lambda m, v: (encoder.z_transformation(m), m),
    )
    rs = np.random.RandomState(0)
    cells = np.flatnonzero(data.labels.ravel() == 0)
    draws = [(cells[rs.randint(len(cells), size=n)], b) for n, b in [(70, 1), (9, 0)]]
    draws.append((np.repeat(cells[:4], 3), None))  # observed batches
    fast = posterior._scales_of_draws(draws)
    reference = np.concatenate([posterior._scales_of_cells(c, b) for c, b in draws])
    assert fast.shape == (70 + 9 + 12, data.nb_genes)
    np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-7)
    # transform_batch acts: the same cells decoded in the two batches differ
    assert not np.allclose(fast[:9], posterior._scales_of_draws([(draws[0][0][:9], 0)]))


def test_one_vs_all_and_within_cluster(de_setup, tmp_path, monkeypatch):
    posterior, data, _, _ = de_setup
    labels = np.arange(len(data)) % 3
    labels[:5] = 3  # a cluster of 5 cells, below min_cells
    results, clusters = posterior.one_vs_all_degenes(
        cell_labels=labels, n_samples=40, min_cells=10, show_progbar=False
    )
    assert clusters == [0, 1, 2]
    for frame, cluster in zip(results, clusters):
        assert (frame["clusters"] == cluster).all()
        assert frame["bayes_factor"].is_monotonic_decreasing
    named, names = posterior.one_vs_all_degenes(n_samples=20, show_progbar=False)
    assert names == list(data.cell_types)
    subset = np.arange(len(data)) < 300  # population 0 only: one cluster left
    only, only_names = posterior.one_vs_all_degenes(
        subset=subset, n_samples=20, show_progbar=False
    )
    assert only == [] and only_names == []

    monkeypatch.setitem(sys.modules, "openpyxl", None)  # no openpyxl: csv
    states = data.batch_indices.ravel() == 1
    within, within_names = posterior.within_cluster_degenes(
        states, n_samples=20, batch1=[1], batch2=[0], output_file=True,
        save_dir=str(tmp_path), filename="stim", show_progbar=False, mode="change",
    )  # fmt: skip
    assert within_names == list(data.cell_types)
    written = pd.read_csv(tmp_path / "stim.csv", index_col=0)
    assert len(written) == 2 * data.nb_genes
    assert set(written["clusters"].astype(str)) == set(map(str, data.cell_types))
    assert [p.name for p in tmp_path.iterdir()] == ["stim.csv"]
    with pytest.raises(ValueError, match="cell_labels"):
        posterior.one_vs_all_degenes(cell_labels=[0, 1])


def test_xlsx_output_when_openpyxl_is_installed(de_setup, tmp_path):
    pytest.importorskip("openpyxl")
    posterior, _, _, _ = de_setup
    posterior.one_vs_all_degenes(
        n_samples=10, output_file=True, save_dir=str(tmp_path), show_progbar=False
    )
    sheets = pd.read_excel(tmp_path / "one2all.xlsx", sheet_name=None)
    assert len(sheets) == 2


def test_one_vs_all_holds_one_cluster_at_a_time():
    scvi.set_seed(0)
    data, _, _ = simulate_de(n_cells=2000, n_genes=200)
    model = VAE(data.nb_genes, n_batch=2, n_hidden=16, n_latent=4)
    posterior = UnsupervisedTrainer(model, data).create_posterior()
    labels = np.arange(len(data)) % 10
    tracemalloc.start()
    posterior.differential_expression_score(labels == 0, labels != 0, n_samples=2000)
    single = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    posterior.one_vs_all_degenes(cell_labels=labels, n_samples=2000, show_progbar=False)
    over_ten = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # ten clusters' samples would need about ten times the memory of one
    assert over_ten < 1.5 * single


def test_differential_expression_stats_is_deprecated(de_setup):
    posterior, data, _, _ = de_setup
    with pytest.warns(DeprecationWarning):
        scales, labels = posterior.differential_expression_stats(M_sampling=3)
    assert scales.shape == (3 * len(data), data.nb_genes)
    np.testing.assert_array_equal(labels, np.repeat(data.labels.ravel(), 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        single, _ = posterior.differential_expression_stats(M_sampling=1)
    assert single.shape == (len(data), data.nb_genes)
