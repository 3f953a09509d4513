"""Posterior: mini-batch loading, query shapes and values, persistence."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import scvi  # noqa: E402
from scvi.dataset import GeneExpressionDataset  # noqa: E402
from scvi.inference import Posterior, load_posterior  # noqa: E402
from scvi.inference.posterior import unsupervised_clustering_accuracy  # noqa: E402
from scvi.models import VAE  # noqa: E402

from conftest import make_dataset  # noqa: E402


# ---------------------------------------------------------------- loading
def test_iteration_slices_whole_batches_in_documented_order(dataset):
    model = VAE(dataset.nb_genes)
    sequential = Posterior(model, dataset, data_loader_kwargs={"batch_size": 50})
    batches = list(sequential)
    assert [b[0].shape[0] for b in batches] == [50, 50, 50, 50, 40]
    x = torch.cat([b[0] for b in batches]).numpy()
    np.testing.assert_array_equal(x, dataset.X)
    assert [t.dtype for t in batches[0]] == [torch.float32] * 3 + [torch.int64] * 2
    np.testing.assert_allclose(
        torch.cat([b[1] for b in batches]).numpy(), dataset.local_means
    )

    subset = np.array([5, 3, 200, 7])
    random = Posterior(model, dataset, indices=subset)
    seen = [torch.cat([b[0] for b in random]).numpy() for _ in range(3)]
    for rows in seen:  # every pass visits the subset once, in some order
        assert sorted(map(tuple, rows)) == sorted(map(tuple, dataset.X[subset]))
    np.testing.assert_array_equal(random.indices, subset)
    assert random.nb_cells == 4

    shuffled = Posterior(model, dataset, shuffle=True)
    torch.manual_seed(0)
    first = torch.cat([b[0] for b in shuffled]).numpy()
    assert not np.array_equal(first, dataset.X)
    assert sorted(map(tuple, first)) == sorted(map(tuple, dataset.X))

    mask = np.zeros(len(dataset), bool)
    mask[[1, 2]] = True
    np.testing.assert_array_equal(
        Posterior(model, dataset, indices=mask).indices, [1, 2]
    )
    with pytest.raises(ValueError, match="indices"):
        Posterior(model, dataset, indices=[0, 10_000])
    with pytest.raises(ValueError, match="shuffle"):
        Posterior(model, dataset, indices=[0], shuffle=True)
    with pytest.raises(TypeError, match="unexpected data loader"):
        Posterior(model, dataset, data_loader_kwargs={"batch_sise": 3})


def test_sparse_counts_give_the_same_tensors():
    dense, sparse = make_dataset(), make_dataset(sparse=True)
    model = VAE(dense.nb_genes)
    a = [t[0] for t in Posterior(model, dense)]
    b = [t[0] for t in Posterior(model, sparse)]
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)


def test_update_sequential_and_sampler_indices(dataset):
    model = VAE(dataset.nb_genes)
    posterior = Posterior(model, dataset, indices=np.arange(100, 0, -1))
    bigger = posterior.update({"batch_size": 7})
    assert bigger.data_loader.batch_size == 7
    assert posterior.data_loader.batch_size == 128  # the original is unchanged
    ordered = posterior.sequential(batch_size=30)
    x = torch.cat([t[0] for t in ordered]).numpy()
    np.testing.assert_array_equal(x, dataset.X[np.arange(100, 0, -1)])
    old_loader = posterior.data_loader
    posterior.update_sampler_indices([4, 5])
    assert sorted(posterior.indices) == [4, 5]
    posterior.data_loader = old_loader
    assert posterior.nb_cells == 100
    assert posterior.posterior_type == "Posterior"


def test_corrupted_posterior_iterates_corrupted_counts(dataset):
    model = VAE(dataset.nb_genes)
    posterior = Posterior(model, dataset)
    with pytest.raises(ValueError, match="corrupt"):
        posterior.corrupted()
    dataset.corrupt(rate=0.2, corruption="uniform")
    x = torch.cat([t[0] for t in posterior.corrupted()]).numpy()
    np.testing.assert_array_equal(x, dataset.corrupted_X)
    x = torch.cat([t[0] for t in posterior.corrupted().uncorrupted()]).numpy()
    np.testing.assert_array_equal(x, dataset.X)


def test_raw_data(dataset):
    posterior = Posterior(VAE(dataset.nb_genes), dataset, indices=[3, 1])
    x, labels = posterior.raw_data()
    np.testing.assert_array_equal(x, dataset.X[[3, 1]])
    np.testing.assert_array_equal(labels, dataset.labels.ravel()[[3, 1]])


# ---------------------------------------------------------------- queries
def test_latent_and_expression_queries(trained):
    data = trained.gene_dataset
    full = trained.create_posterior(trained.model, data, indices=np.arange(len(data)))
    n, g = len(data), data.nb_genes
    latent, batches, labels = full.get_latent()
    assert latent.shape == (n, 5) and np.isfinite(latent).all()
    np.testing.assert_array_equal(batches, data.batch_indices.ravel())
    np.testing.assert_array_equal(labels, data.labels.ravel())
    # the mean is deterministic, samples are not
    np.testing.assert_array_equal(full.get_latent()[0], latent)
    assert not np.array_equal(full.get_latent(give_mean=False)[0], latent)
    # a random-order posterior returns rows in the order of its indices
    subset = trained.train_set
    sub_latent, sub_batches, _ = subset.get_latent()
    np.testing.assert_allclose(sub_latent, latent[subset.indices], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sub_batches, batches[subset.indices])

    # one posterior draw of z per call: seed the draws to compare calls
    torch.manual_seed(0)
    scale = full.get_sample_scale()
    assert scale.shape == (n, g)
    np.testing.assert_allclose(scale.sum(1), 1, rtol=1e-5)
    torch.manual_seed(0)
    as_batch_1 = full.get_sample_scale(transform_batch=1)
    rows = batches == 1  # cells of batch 1 are unchanged by transform_batch=1
    np.testing.assert_allclose(as_batch_1[rows], scale[rows], rtol=1e-5)
    assert not np.allclose(as_batch_1[~rows], scale[~rows])
    averaged = full.get_sample_scale(transform_batch=[0, 1])
    np.testing.assert_allclose(averaged.sum(1), 1, rtol=1e-5)
    reference = (full.get_sample_scale(0) + full.get_sample_scale(1)) / 2
    # independent draws: compare the gene profiles averaged over cells
    np.testing.assert_allclose(averaged.mean(0), reference.mean(0), rtol=0.05)
    with pytest.raises(ValueError, match="transform_batch"):
        full.get_sample_scale(transform_batch=5)

    imputed = full.imputation()
    assert imputed.shape == (n, g) and (imputed > 0).all()
    assert full.imputation(n_samples=3).shape == (3, n, g)
    libraries = full.get_stats()
    assert libraries.shape == (n,)
    # imputed means are l * rho with l near the observed library sizes
    observed = np.log(data.X.sum(1))
    assert np.corrcoef(np.log(imputed.sum(1)), observed)[0, 1] > 0.5


def test_generative_queries(trained):
    data = trained.gene_dataset
    post = trained.test_set
    n, g = post.nb_cells, data.nb_genes
    x_new, x_old = post.generate(n_samples=4)
    assert x_new.shape == (n, g, 4) and x_old.shape == (n, g)
    np.testing.assert_array_equal(x_old, data.X[post.indices])
    assert (x_new >= 0).all() and np.array_equal(x_new, np.round(x_new))
    x_new, x_old = post.generate(n_samples=2, genes=[0, 3])
    assert x_new.shape == (n, 2, 2) and x_old.shape == (n, 2)

    torch.manual_seed(1)
    dropout, means, dispersions = post.generate_parameters()
    assert dropout.shape == means.shape == dispersions.shape == (n, g)
    torch.manual_seed(1)  # the same draws of z and l: the means are the imputation
    np.testing.assert_allclose(means, post.imputation(), rtol=1e-6)
    # gene dispersion: the same theta for every cell
    np.testing.assert_allclose(dispersions, np.broadcast_to(dispersions[0], (n, g)))
    samples = post.generate_parameters(n_samples=3)
    assert samples[1].shape == (3, n, g)
    assert post.generate_parameters(n_samples=3, give_mean=True)[1].shape == (n, g)

    denoised = post.generate_denoised_samples(n_samples=5, rna_size_factor=1000)
    assert denoised.shape == (n, g, 5)
    # denoised samples are at a common size: the mean total is near 1000
    assert abs(denoised.sum(1).mean() - 1000) < 150
    corr = post.generate_feature_correlation_matrix(n_samples=3)
    assert corr.shape == (g, g)
    np.testing.assert_allclose(np.diag(corr), 1, rtol=1e-6)
    np.testing.assert_allclose(corr, corr.T, atol=1e-12)
    pooled = post.generate_feature_correlation_matrix(
        n_samples=2, transform_batch=[0, 1], correlation_type="pearson"
    )
    assert pooled.shape == (g, g)
    with pytest.raises(ValueError, match="correlation_type"):
        post.generate_feature_correlation_matrix(correlation_type="kendall")


def test_likelihood_scores(trained):
    post = trained.test_set
    elbo, reconstruction = post.elbo(), post.reconstruction_error()
    marginal = post.marginal_ll(n_mc_samples=20)
    for value in (elbo, reconstruction, marginal):
        assert isinstance(value, float) and math.isfinite(value) and value > 0
    # -log p(x) <= -ELBO (importance sampling tightens the bound)
    assert marginal < elbo + 1.0
    # the last history value is the test ELBO of the trained model: a one-sample
    # Monte Carlo estimate (about 1.3% spread on these 72 cells), so it is
    # compared with the mean of repeated estimates, within 3 spreads
    mean_elbo = np.mean([elbo] + [post.elbo() for _ in range(9)])
    assert trained.history["elbo_test_set"][-1] == pytest.approx(mean_elbo, rel=0.04)
    assert trained.model.training is False  # the queries leave eval mode on


def test_latent_space_scores(trained):
    post = trained.create_posterior(indices=np.arange(len(trained.gene_dataset)))
    entropy = post.entropy_batch_mixing()
    assert 0 <= entropy <= math.log(2) + 1e-9
    purity = post.knn_purity()
    assert 0 <= purity <= 1
    asw, nmi, ari, uca = post.clustering_scores()
    assert -1 <= asw <= 1 and 0 <= nmi <= 1 and ari <= 1 and 0 <= uca <= 1
    assert post.clustering_scores("gmm")[3] <= 1
    with pytest.raises(ValueError, match="prediction_algorithm"):
        post.clustering_scores("tree")
    accuracy, assignment = unsupervised_clustering_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    assert accuracy == 1.0
    with pytest.raises(ValueError, match="protein_expression"):
        post.nn_overlap_score()
    assert post.accuracy() is None  # no classifier: None, as in scVI 0.6.8


def test_nn_overlap_score_with_proteins(trained):
    data = make_dataset()
    rs = np.random.RandomState(0)
    data.initialize_cell_measurement(
        scvi.dataset.CellMeasurement(
            name="protein_expression",
            data=rs.poisson(5, size=(len(data), 6)),
            columns_attr_name="protein_names",
            columns=[f"p{i}" for i in range(6)],
        )
    )
    post = trained.create_posterior(trained.model, data)
    spearman, fold = post.nn_overlap_score(k=10)
    assert -1 <= spearman <= 1 and fold >= 0


def test_t_sne_plots(trained, tmp_path):
    post = trained.test_set
    coords, idx = post.apply_t_sne(post.get_latent()[0], n_samples=40)
    assert coords.shape == (40, 2) and len(set(idx)) == 40
    target = tmp_path / "tsne.png"
    figure = post.show_t_sne(
        n_samples=40, color_by="batches and labels", save_name=str(target)
    )
    assert len(figure.axes) == 2 and target.exists()
    with pytest.raises(ValueError, match="color_by"):
        post.show_t_sne(color_by="genes")


def test_imputation_from_corrupted_counts(trained):
    data = trained.gene_dataset
    trained.corrupt_posteriors(rate=0.2, corruption="uniform")
    try:
        post = trained.train_set
        original, imputed = post.imputation_list(n_samples=2)
        assert len(original) == len(imputed) == post.nb_cells
        changed = (data.X != data.corrupted_X)[post.indices]
        for row, o, i in zip(changed, original, imputed):
            assert len(o) == len(i) == 2 * row.sum()
        observed = data.X[post.indices][changed]
        np.testing.assert_array_equal(np.concatenate(original)[::2], observed)
        score = post.imputation_score(original, imputed)
        expected = np.median(np.abs(np.concatenate(original) - np.concatenate(imputed)))
        assert score == pytest.approx(expected)
        lists = post.imputation_benchmark(n_samples=1, show_plot=False)
        assert len(lists[0]) == post.nb_cells
    finally:
        trained.uncorrupt_posteriors()
    x = torch.cat([t[0] for t in trained.train_set.sequential()]).numpy()
    np.testing.assert_array_equal(x, data.X[trained.train_set.indices])


# ---------------------------------------------------------------- entropy semantics
class LatentIsCounts(nn.Module):
    """A stand-in model whose latent space is the first two count columns."""

    def sample_from_posterior_z(self, x, give_mean=True):
        return x[:, :2]


def mixing_dataset(separated: bool):
    rs = np.random.RandomState(0)
    centres = rs.normal(50, 10, size=(400, 2))
    batches = rs.permutation(np.repeat([0, 1], 200))
    if separated:
        centres += 200 * batches[:, None]
    data = GeneExpressionDataset()
    data.populate_from_data(np.abs(np.round(centres)) + 1, batch_indices=batches)
    return data


@pytest.mark.parametrize("separated, expected", [(False, math.log(2)), (True, 0.0)])
def test_entropy_batch_mixing_of_mixed_and_separated_batches(separated, expected):
    data = mixing_dataset(separated)
    post = Posterior(LatentIsCounts(), data)
    assert post.entropy_batch_mixing() == pytest.approx(expected, abs=0.05)


def test_entropy_needs_two_batches():
    data = GeneExpressionDataset()
    data.populate_from_data(np.ones((20, 3)))
    with pytest.raises(ValueError, match="2 batches"):
        Posterior(LatentIsCounts(), data).entropy_batch_mixing()


# ---------------------------------------------------------------- persistence
def test_save_and_load_posterior(trained, tmp_path):
    post = trained.test_set
    target = tmp_path / "saved"
    post.save_posterior(str(target))
    with pytest.raises(ValueError, match="already exists"):
        post.save_posterior(str(target))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scvi")]
    model = VAE(
        trained.gene_dataset.nb_genes,
        n_batch=trained.gene_dataset.n_batches,
        n_latent=5,
        n_hidden=32,
    )
    loaded = load_posterior(str(target), model=model, use_cuda=False)
    assert type(loaded) is Posterior
    np.testing.assert_array_equal(loaded.indices, post.indices)
    np.testing.assert_array_equal(loaded.get_latent()[0], post.get_latent()[0])
    np.testing.assert_array_equal(loaded.gene_dataset.X, trained.gene_dataset.X)
    with pytest.raises(ValueError, match="does not hold a saved posterior"):
        load_posterior(str(tmp_path), model=model)
