"""JVAETrainer and JPosterior (gimVI): posteriors, losses, queries, checks, steps."""

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.inference import JVAETrainer
from scvi.inference.jvae_trainer import JPosterior
from scvi.models import JVAE, Classifier

N_LATENT = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models run fastest on one thread (and the CPU is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def simulate_pair(
    seed=0,
    n_a=160,
    n_b=120,
    n_genes=24,
    n_spatial=12,
    n_hidden=3,
    depth_a=300.0,
    depth_b=100.0,
    latent_dim=3,
):
    """Two datasets of a shared log-linear latent structure: the first measures all
    ``n_genes`` genes (NB, theta 5), the second ``n_spatial`` of them at a lower
    depth through a noisier likelihood (NB, theta 2), ``n_hidden`` of which are
    held out. Cells of the second without counts in its measured genes are
    dropped.

    Returns
    -------
    dict
        ``datasets`` (the two GeneExpressionDatasets, batches 0 and 1),
        ``mappings`` (positions of their genes), ``hidden`` (positions of the
        held-out genes among all genes), ``held_out`` (their counts over each
        cell's measured total), ``truth`` (their true frequencies, on the same
        scale) and ``x_a``, ``x_b`` (the training counts).
    """
    rs = np.random.RandomState(seed)
    weights = rs.normal(0.0, 1.0, size=(latent_dim, n_genes))
    base = rs.normal(0.0, 1.0, size=n_genes)

    def frequencies(n):
        logits = base + rs.normal(size=(n, latent_dim)) @ weights
        rho = np.exp(logits - logits.max(1, keepdims=True))
        return rho / rho.sum(1, keepdims=True)

    def counts(rho, depth, theta):
        library = rs.lognormal(np.log(depth), 0.3, size=(len(rho), 1))
        return rs.poisson(rs.gamma(theta, rho * library / theta)).astype(np.float32)

    x_a = counts(frequencies(n_a), depth_a, 5.0)
    genes = np.sort(rs.choice(n_genes, n_spatial, replace=False))
    rho_b = frequencies(n_b)[:, genes]
    rho_b /= rho_b.sum(1, keepdims=True)
    x_b = counts(rho_b, depth_b, 2.0)
    hidden = np.sort(rs.choice(n_spatial, n_hidden, replace=False))
    kept = np.setdiff1d(np.arange(n_spatial), hidden)
    cells = x_b[:, kept].sum(1) > 0
    x_b, rho_b = x_b[cells], rho_b[cells]
    total = x_b[:, kept].sum(1, keepdims=True)
    data_a, data_b = GeneExpressionDataset(), GeneExpressionDataset()
    data_a.populate_from_data(x_a)
    data_b.populate_from_data(x_b[:, kept])
    data_b.batch_indices += data_a.n_batches
    return {
        "datasets": [data_a, data_b],
        "mappings": [np.arange(n_genes), genes[kept]],
        "hidden": genes[hidden],
        "held_out": x_b[:, hidden] / total,
        "truth": rho_b[:, hidden] / rho_b[:, kept].sum(1, keepdims=True),
        "x_a": x_a,
        "x_b": x_b[:, kept],
    }


def make_model(pair, **kwargs):
    options = dict(
        n_batch=2,
        n_latent=N_LATENT,
        dim_hidden_encoder=32,
        dim_hidden_decoder_shared=32,
    )
    options.update(kwargs)
    datasets = pair["datasets"]
    return JVAE(
        [d.nb_genes for d in datasets],
        datasets[0].nb_genes,
        pair["mappings"],
        ["zinb", "nb"],
        [True, False],
        **options,
    )


def make_trainer(pair, model=None, discriminator="default", **kwargs):
    model = make_model(pair) if model is None else model
    if discriminator == "default":
        discriminator = Classifier(N_LATENT, 16, 2, 2, logits=True)
    options = dict(show_progbar=False, batch_size=64, n_epochs_kl_warmup=10)
    options.update(kwargs)
    return JVAETrainer(model, discriminator, pair["datasets"], **options)


@pytest.fixture(scope="module")
def pair():
    return simulate_pair()


@pytest.fixture(scope="module")
def trained(pair):
    scvi.set_seed(0)
    trainer = make_trainer(pair, frequency=1)
    trainer.train(n_epochs=4, lr=1e-2)
    return trainer


def tensors_of(x: np.ndarray, batch: int):
    """The model's inputs for counts ``x`` of one batch."""
    x = torch.from_numpy(x)
    return x, torch.full((x.shape[0], 1), batch, dtype=torch.long)


# ------------------------------------------------------------------ public API
def test_public_paths_and_manual_signature():
    import scvi.inference.jvae_trainer as public

    assert scvi.inference.JVAETrainer is public.JVAETrainer
    assert "JVAETrainer" in scvi.inference.__all__
    assert issubclass(JVAETrainer, scvi.inference.Trainer)
    assert issubclass(JPosterior, scvi.inference.Posterior)
    parameters = inspect.signature(JVAETrainer).parameters
    assert list(parameters)[:3] == ["model", "discriminator", "gene_dataset_list"]
    defaults = {
        name: p.default for name, p in parameters.items() if p.default is not p.empty
    }
    assert defaults == {
        "train_size": 0.8,
        "use_cuda": True,
        "kappa": 1.0,
        "n_epochs_kl_warmup": 400,
    }
    train = inspect.signature(JVAETrainer.train).parameters
    assert (train["n_epochs"].default, train["lr"].default, train["eps"].default) == (
        400,
        1e-3,
        0.01,
    )
    assert JVAETrainer.default_metrics_to_monitor == ["elbo"]


def test_posteriors_split_each_dataset(pair):
    trainer = make_trainer(pair, train_size=0.75)
    assert list(trainer._posteriors) == ["train_0", "train_1", "test_0", "test_1"]
    assert trainer.posteriors_loop == ["train_0", "train_1"]
    for mode, dataset in enumerate(pair["datasets"]):
        train, test = trainer.all_train[mode], trainer.all_test[mode]
        assert train is getattr(trainer, f"train_{mode}")
        assert test is getattr(trainer, f"test_{mode}")
        assert isinstance(train, JPosterior) and train.mode == test.mode == mode
        assert len(train.indices) == int(0.75 * len(dataset))
        cells = np.concatenate([train.indices, test.indices])
        assert np.array_equal(np.sort(cells), np.arange(len(dataset)))
        everything = trainer.all_dataset[mode]
        assert everything.mode == mode
        assert np.array_equal(everything.indices, np.arange(len(dataset)))


def test_history_holds_the_elbo_of_each_dataset(trained):
    assert set(trained.history) == {
        "elbo_train_0",
        "elbo_train_1",
        "elbo_test_0",
        "elbo_test_1",
    }
    for values in trained.history.values():
        assert len(values) == 5 and np.isfinite(values).all()
    for name in ("elbo_train_0", "elbo_train_1"):
        assert trained.history[name][-1] < trained.history[name][0]


def test_elbo_runs_the_model_in_the_posterior_mode(trained):
    posterior = trained.all_dataset[1]
    torch.manual_seed(3)
    elbo = posterior.elbo()
    torch.manual_seed(3)
    total, n_cells = 0.0, 0
    model = trained.model
    model.eval()
    with torch.no_grad():
        for x, l_mean, l_var, batch, labels in posterior.sequential(128):
            reconst, kl, _ = model(x, l_mean, l_var, batch, labels, mode=1)
            total += float((reconst + kl).sum())
            n_cells += x.shape[0]
    assert elbo == pytest.approx(total / n_cells, rel=1e-6)
    assert posterior.reconstruction_error() < elbo
    with pytest.raises(NotImplementedError, match="elbo"):
        posterior.marginal_ll()


def test_epoch_goes_through_the_largest_training_set(pair):
    # 120 training cells of dataset 0 in mini-batches of 50: 50, 50, 20; dataset 1
    # (about 90 cells) starts again; a last mini-batch of 1 or 2 cells is skipped
    trainer = make_trainer(pair, batch_size=50, train_size=0.75)
    steps = list(trainer.data_loaders_loop())
    assert len(steps) == 3
    for tensors_list in steps:
        assert len(tensors_list) == 2
        assert tensors_list[0][0].shape[1] == pair["datasets"][0].nb_genes
        assert tensors_list[1][0].shape[1] == pair["datasets"][1].nb_genes
    trainer = make_trainer(pair, batch_size=119, train_size=120)
    assert [t[0][0].shape[0] for t in trainer.data_loaders_loop()] == [119]
    trainer.train(n_epochs=1)
    assert trainer.n_iter == 1


# ------------------------------------------------------------------ losses
def test_loss_is_the_sum_of_the_warmed_up_elbos(trained, monkeypatch):
    tensors = [next(iter(p.sequential(32))) for p in trained.all_dataset]
    monkeypatch.setattr(trained, "epoch", 5)  # KL weight 5 / 10
    assert trained.kl_weight == 0.5
    trained.model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        reconst, kl = trained.loss(tensors, return_details=True)
    assert [r.shape for r in reconst] == [(32,), (32,)] == [k.shape for k in kl]
    torch.manual_seed(0)
    with torch.no_grad():
        loss = trained.loss(tensors)
    expected = sum(float((r + 0.5 * k).mean()) for r, k in zip(reconst, kl))
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    torch.manual_seed(0)
    with torch.no_grad():
        reference = [trained.model(*t, mode=i) for i, t in enumerate(tensors)]
    for (r_model, k_model, _), r, k in zip(reference, reconst, kl):
        assert torch.allclose(r_model, r) and torch.allclose(k_model, k)


def test_loss_discriminator_against_numpy(trained):
    torch.manual_seed(0)
    latents = [torch.randn(5, N_LATENT), torch.randn(7, N_LATENT)]
    trained.discriminator.eval()
    with torch.no_grad():
        true = trained.loss_discriminator(latents, True, return_details=True)
        fool = trained.loss_discriminator(latents, False, return_details=True)
        total = trained.loss_discriminator(latents, False)
        probs = [
            F.softmax(trained.discriminator(z), dim=1).numpy().astype(np.float64)
            for z in latents
        ]
    for mode, p in enumerate(probs):
        assert float(true[mode]) == pytest.approx(-np.log(p[:, mode]).mean(), 1e-5)
        # uniform target over the other dataset (two datasets: the other one)
        assert float(fool[mode]) == pytest.approx(-np.log(p[:, 1 - mode]).mean(), 1e-5)
    assert float(total) == pytest.approx(float(fool[0] + fool[1]), rel=1e-6)


def test_kappa_zero_leaves_the_discriminator_alone(pair):
    discriminator = Classifier(N_LATENT, 16, 2, 2, logits=True)
    before = [p.detach().clone() for p in discriminator.parameters()]
    scvi.set_seed(0)
    make_trainer(pair, discriminator=discriminator, kappa=0).train(n_epochs=1)
    after = list(discriminator.parameters())
    assert all(torch.equal(a, b) for a, b in zip(after, before))
    scvi.set_seed(0)
    make_trainer(pair, discriminator=discriminator, kappa=1).train(n_epochs=1)
    assert not all(torch.equal(a, b) for a, b in zip(after, before))


# ------------------------------------------------------------------ queries
def test_get_latent(trained, pair):
    latent = trained.get_latent()
    assert [z.shape for z in latent] == [(len(d), N_LATENT) for d in pair["datasets"]]
    assert all(np.array_equal(a, b) for a, b in zip(latent, trained.get_latent()))
    with torch.no_grad():
        for mode, x in enumerate((pair["x_a"], pair["x_b"])):
            mean = trained.model.sample_from_posterior_z(
                torch.from_numpy(x), mode, deterministic=True
            )
            np.testing.assert_allclose(latent[mode], mean.numpy(), rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    sampled = trained.get_latent(deterministic=False)
    assert not np.allclose(sampled[1], latent[1])
    assert not np.allclose(sampled[1], trained.get_latent(deterministic=False)[1])


def test_get_imputed_values(trained, pair):
    total_genes = trained.model.total_genes
    imputed = trained.get_imputed_values()
    assert [v.shape for v in imputed] == [
        (len(d), total_genes) for d in pair["datasets"]
    ]
    assert all(
        np.array_equal(a, b) for a, b in zip(imputed, trained.get_imputed_values())
    )
    for mode, values in enumerate(imputed):
        assert (values >= 0).all()
        # each dataset in its own mode: its own genes sum to 1 ...
        own = values[:, pair["mappings"][mode]]
        np.testing.assert_allclose(own.sum(1), 1.0, rtol=1e-5)
        # ... as the model's own decoding of them
        x, batch = tensors_of((pair["x_a"], pair["x_b"])[mode], mode)
        with torch.no_grad():
            scale = trained.model.sample_scale(x, mode, batch, deterministic=True)
        np.testing.assert_allclose(own, scale.numpy(), rtol=1e-4, atol=1e-7)
    # decoded in the mode of the spatial dataset: its genes sum to 1, and the
    # frequencies of every gene are those of the own mode up to a factor per cell
    spatial_mode = trained.get_imputed_values(decode_mode=1)[0]
    np.testing.assert_allclose(spatial_mode[:, pair["mappings"][1]].sum(1), 1, 1e-5)
    ratio = spatial_mode / imputed[0]
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(total_genes, 1), rtol=1e-4)
    # counts: the observed library of the spatial cells times the frequencies
    counts = trained.get_imputed_values(normalized=False)[1]
    np.testing.assert_allclose(
        counts, imputed[1] * pair["x_b"].sum(1, keepdims=True), 1e-4
    )
    torch.manual_seed(0)
    sampled = trained.get_imputed_values(deterministic=False)
    assert not np.allclose(sampled[0], imputed[0]) and (sampled[0] >= 0).all()
    for bad in (2, -1, 0.5):
        with pytest.raises(ValueError, match="decode_mode"):
            trained.get_imputed_values(decode_mode=bad)


def test_discriminator_confusion(trained, pair):
    confusion = trained.get_discriminator_confusion()
    assert confusion.shape == (2, 2) and (confusion >= 0).all()
    np.testing.assert_allclose(confusion.sum(1), 1.0, rtol=1e-5)
    latent = trained.get_latent()
    with torch.no_grad():
        for mode, z in enumerate(latent):
            probs = F.softmax(trained.discriminator(torch.from_numpy(z)), dim=1)
            np.testing.assert_allclose(confusion[mode], probs.mean(0).numpy(), 1e-5)


def test_loss_magnitude(trained):
    reconst, kl, discriminator = trained.get_loss_magnitude()
    for values in (reconst, kl, discriminator):
        assert values.shape == (2,) and np.isfinite(values).all() and (values > 0).all()
    # in one mini-batch, the terms of the spatial cells add up to their ELBO for
    # the same latent draws
    posterior = trained.all_dataset[1].sequential(256)
    torch.manual_seed(1)
    terms = posterior.loss_terms(trained.discriminator)
    torch.manual_seed(1)
    assert terms[0] + terms[1] == pytest.approx(posterior.elbo(), rel=1e-6)
    one = trained.get_loss_magnitude(one_sample=True)
    assert all(v.shape == (2,) and np.isfinite(v).all() for v in one)


def test_without_discriminator(pair):
    trainer = make_trainer(pair, discriminator=None)
    trainer.train(n_epochs=1)
    assert np.isnan(trainer.get_loss_magnitude()[2]).all()
    with pytest.raises(ValueError, match="no discriminator"):
        trainer.get_discriminator_confusion()


def test_save_and_reload_the_trained_model(trained, pair, tmp_path):
    torch.save(trained.model.state_dict(), tmp_path / "jvae.pt")
    torch.save(trained.discriminator.state_dict(), tmp_path / "discriminator.pt")
    model = make_model(pair)
    model.load_state_dict(torch.load(tmp_path / "jvae.pt", weights_only=True))
    discriminator = Classifier(N_LATENT, 16, 2, 2, logits=True)
    discriminator.load_state_dict(
        torch.load(tmp_path / "discriminator.pt", weights_only=True)
    )
    reloaded = make_trainer(pair, model=model, discriminator=discriminator)
    for a, b in zip(reloaded.get_latent(), trained.get_latent()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(reloaded.get_imputed_values(), trained.get_imputed_values()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        reloaded.get_discriminator_confusion(), trained.get_discriminator_confusion()
    )


def test_slice_mappings_as_in_the_tutorial(pair):
    model = make_model(pair, n_latent=3)
    datasets = pair["datasets"]
    sliced = JVAE(
        [d.nb_genes for d in datasets],
        datasets[0].nb_genes,
        [slice(None), pair["mappings"][1]],
        ["zinb", "nb"],
        [True, False],
        n_batch=2,
        n_latent=3,
    )
    np.testing.assert_array_equal(sliced.indices_mappings[0], np.arange(24))
    assert torch.equal(sliced.gene_index(0), model.gene_index(0))
