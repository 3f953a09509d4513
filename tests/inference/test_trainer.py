"""Trainer semantics: splits, history, warm-up, early stopping, NaN guard, seeds."""

import copy
import logging

import numpy as np
import pytest
import torch

import scvi
from scvi.inference import AdapterTrainer, Posterior, Trainer, UnsupervisedTrainer
from scvi.inference.early_stopping import EarlyStopping
from scvi.inference.trainer import split_sizes
from scvi.models import VAE

from conftest import make_dataset


def small_vae(dataset, **kwargs):
    return VAE(
        dataset.nb_genes, n_batch=dataset.n_batches, n_hidden=16, n_latent=4, **kwargs
    )


# ---------------------------------------------------------------- splits
@pytest.mark.parametrize(
    "train, test, expected",
    [
        (0.8, None, (192, 48)),
        (0.5, 0.3, (120, 72)),
        (100, 40, (100, 40)),
        (None, 0.25, (180, 60)),
        (0.1, None, (24, 216)),
    ],
)
def test_split_sizes_follow_fractions_and_counts(train, test, expected):
    assert split_sizes(240, train, test) == expected


@pytest.mark.parametrize(
    "train, test, word",
    [
        (1.5, None, "train_size"),
        (0.0, None, "train_size"),
        (200, 100, "exceed"),
        (None, None, "both"),
        ("half", None, "train_size"),
        (-3, None, "train_size"),
    ],
)
def test_split_sizes_reject_bad_sizes(train, test, word):
    with pytest.raises(ValueError, match=word):
        split_sizes(240, train, test)


def test_train_test_validation_partitions_the_cells(dataset):
    trainer = UnsupervisedTrainer(
        small_vae(dataset), dataset, train_size=0.5, test_size=0.3
    )
    sets = [trainer.train_set, trainer.test_set, trainer.validation_set]
    sizes = [s.nb_cells for s in sets]
    assert sizes == [120, 72, 48]
    union = np.concatenate([s.indices for s in sets])
    assert sorted(union) == list(range(240))
    assert all(isinstance(s, Posterior) for s in sets)
    # the split depends on the trainer's seed only
    again = UnsupervisedTrainer(
        small_vae(dataset), dataset, train_size=0.5, test_size=0.3
    )
    np.testing.assert_array_equal(again.train_set.indices, trainer.train_set.indices)
    other = UnsupervisedTrainer(
        small_vae(dataset), dataset, train_size=0.5, test_size=0.3, seed=1
    )
    assert set(other.train_set.indices) != set(trainer.train_set.indices)


def test_posteriors_are_registered_by_attribute(dataset):
    trainer = UnsupervisedTrainer(small_vae(dataset), dataset)
    full = trainer.create_posterior(indices=np.arange(10))
    trainer.full_set = full
    assert trainer._posteriors["full_set"] is full
    assert trainer.full_set is full
    del trainer.full_set
    with pytest.raises(AttributeError):
        trainer.full_set


def test_abstract_trainer_needs_loss_and_posteriors(dataset):
    trainer = Trainer(small_vae(dataset), dataset)
    with pytest.raises(NotImplementedError):
        trainer.loss(None)
    with pytest.raises(NotImplementedError):
        trainer.posteriors_loop


# ---------------------------------------------------------------- training
def test_training_lowers_the_elbo_and_records_history(dataset):
    scvi.set_seed(0)
    trainer = UnsupervisedTrainer(
        small_vae(dataset),
        dataset,
        frequency=2,
        show_progbar=False,
        n_epochs_kl_warmup=None,
    )
    trainer.train(n_epochs=6, lr=1e-2)
    history = trainer.history
    # computed before training, every 2 epochs and at the end: epochs 0, 2, 4, 6
    assert len(history["elbo_train_set"]) == 4
    assert len(history["elbo_test_set"]) == 4
    assert "elbo_validation_set" not in history  # empty posterior is skipped
    assert history["elbo_train_set"][-1] < history["elbo_train_set"][0]
    assert not trainer.model.training  # eval mode after training
    assert trainer.training_time > 0


def test_set_seed_makes_histories_identical(dataset):
    def run():
        scvi.set_seed(42)
        trainer = UnsupervisedTrainer(
            small_vae(dataset), dataset, frequency=1, show_progbar=False
        )
        trainer.train(n_epochs=3, lr=5e-3)
        return trainer.history["elbo_train_set"], trainer.model.state_dict()

    (h1, s1), (h2, s2) = run(), run()
    assert h1 == h2
    for key in s1:
        torch.testing.assert_close(s1[key], s2[key], rtol=0, atol=0)


def test_use_cuda_without_a_gpu_trains_on_cpu(dataset):
    trainer = UnsupervisedTrainer(
        small_vae(dataset), dataset, use_cuda=True, show_progbar=False
    )
    trainer.train(n_epochs=1)
    if not torch.cuda.is_available():
        assert trainer.use_cuda is False
        assert next(trainer.model.parameters()).device.type == "cpu"


def test_sparse_dataset_trains_like_dense():
    def run(sparse):
        scvi.set_seed(3)
        data = make_dataset(sparse=sparse)
        trainer = UnsupervisedTrainer(
            small_vae(data), data, frequency=1, show_progbar=False
        )
        trainer.train(n_epochs=2)
        return trainer.history["elbo_test_set"]

    np.testing.assert_allclose(run(True), run(False), rtol=1e-5)


def test_nan_losses_raise_after_max_nans(dataset):
    # NaN losses are counted on the device and the count is read at the end of
    # the epoch: the error comes after the first epoch, and no weight changed
    trainer = UnsupervisedTrainer(
        small_vae(dataset), dataset, max_nans=3, show_progbar=False, batch_size=16
    )
    before = copy.deepcopy(trainer.model.state_dict())
    calls = []

    def nan_loss(tensors):
        calls.append(1)
        return sum(p.sum() for p in trainer.model.parameters()) * float("nan")

    trainer.loss = nan_loss
    n_iterations = len(trainer.train_set.data_loader)
    assert n_iterations >= 3
    with pytest.raises(ValueError, match=f"NaN {n_iterations} times in a row"):
        trainer.train(n_epochs=5)
    assert len(calls) == n_iterations
    after = trainer.model.state_dict()
    for name, value in before.items():
        if "running" not in name and "num_batches" not in name:
            torch.testing.assert_close(after[name], value, rtol=0, atol=0)


def test_isolated_nans_are_tolerated_and_change_no_weight(dataset):
    trainer = UnsupervisedTrainer(
        small_vae(dataset), dataset, max_nans=2, show_progbar=False
    )
    original = trainer.loss
    count, snapshots = [], []

    def sometimes_nan(tensors):
        count.append(1)
        snapshots.append([p.detach().clone() for p in trainer.model.parameters()])
        loss = original(tensors)
        return loss * float("nan") if len(count) % 2 else loss

    trainer.loss = sometimes_nan
    trainer.train(n_epochs=2)  # never two NaNs in a row
    assert trainer.nan_counter in (0, 1)
    snapshots.append([p.detach().clone() for p in trainer.model.parameters()])
    for step, (start, end) in enumerate(zip(snapshots[:-1], snapshots[1:])):
        changed = any(not torch.equal(a, b) for a, b in zip(start, end))
        assert changed == (step % 2 == 1)  # the NaN steps (even) change nothing


# ---------------------------------------------------------------- KL warm-up
def test_kl_warmup_precedence_and_values(dataset):
    epochs = UnsupervisedTrainer(
        small_vae(dataset), dataset, n_epochs_kl_warmup=4, n_iter_kl_warmup=1
    )
    epochs.epoch, epochs.n_iter = 2, 1000
    assert epochs.kl_weight == pytest.approx(0.5)  # epochs override iterations
    epochs.epoch = 10
    assert epochs.kl_weight == 1.0
    iters = UnsupervisedTrainer(
        small_vae(dataset), dataset, n_epochs_kl_warmup=None, n_iter_kl_warmup=100
    )
    iters.n_iter = 25
    assert iters.kl_weight == pytest.approx(0.25)
    none = UnsupervisedTrainer(
        small_vae(dataset), dataset, n_epochs_kl_warmup=None, n_iter_kl_warmup=None
    )
    assert none.kl_weight == 1.0


def test_kl_weight_scales_the_local_kl_in_the_loss(dataset):
    trainer = UnsupervisedTrainer(small_vae(dataset), dataset, n_epochs_kl_warmup=10)
    trainer.model.eval()
    tensors = next(iter(trainer.train_set.sequential()))
    torch.manual_seed(0)
    reconst, kl, _ = trainer.model(*tensors[:3], batch_index=tensors[3], y=tensors[4])
    for epoch in (0, 5):
        trainer.epoch = epoch
        torch.manual_seed(0)
        expected = torch.mean(reconst + epoch / 10 * kl)
        torch.testing.assert_close(trainer.loss(tensors), expected)
    unnormalized = UnsupervisedTrainer(
        trainer.model, dataset, normalize_loss=False, n_epochs_kl_warmup=None
    )
    torch.manual_seed(0)
    value = unnormalized.loss(tensors)
    torch.testing.assert_close(value, unnormalized.n_samples * torch.mean(reconst + kl))


def test_warmup_messages(dataset, caplog):
    trainer = UnsupervisedTrainer(
        small_vae(dataset), dataset, n_epochs_kl_warmup=50, show_progbar=False
    )
    with caplog.at_level(logging.INFO, logger="scvi"):
        scvi_logger = logging.getLogger("scvi")
        scvi_logger.propagate = True
        try:
            trainer.train(n_epochs=1)
        finally:
            scvi_logger.propagate = False
    text = caplog.text
    assert "KL warmup phase exceeds overall training phase" in text
    assert "still in warming up phase" in text


# ---------------------------------------------------------------- early stopping
def test_early_stopping_unit_semantics():
    stop = EarlyStopping(
        early_stopping_metric="elbo",
        patience=3,
        threshold=0.5,
        reduce_lr_on_plateau=True,
        lr_patience=2,
        posterior_class=Posterior,
    )
    assert stop.mode == "min"
    decisions = [stop.update(v) for v in [10.0, 9.0, 8.8, 8.7, 8.6]]
    # 10 -> 9 improves by 1; the next ones by < 0.5: waits 1, 2, 3
    assert decisions == [
        (True, False),
        (True, False),
        (True, False),
        (True, True),
        (False, False),
    ]
    maximise = EarlyStopping(
        early_stopping_metric="entropy_batch_mixing",
        patience=1,
        threshold=0,
        posterior_class=Posterior,
    )
    assert maximise.mode == "max"
    assert maximise.update(0.2) == (True, False)
    assert maximise.update(0.1) == (False, False)
    with pytest.raises(ValueError, match="unknown metric"):
        EarlyStopping(early_stopping_metric="nope", posterior_class=Posterior)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


class RecordingTrainer(UnsupervisedTrainer):
    """Keeps a copy of the weights after every epoch."""

    def on_epoch_end(self):
        self.snapshots = getattr(self, "snapshots", [])
        self.snapshots.append(
            {k: v.clone() for k, v in self.model.state_dict().items()}
        )
        return super().on_epoch_end()


def test_early_stopping_stops_and_restores_the_best_state(dataset, monkeypatch):
    # a scripted test-set ELBO: best after epoch 2 (index 2 of the per-epoch values)
    script = iter([100.0, 90.0, 80.0, 70.0, 85.0, 86.0, 87.0, 88.0, 89.0, 90.0] * 3)
    real_elbo = Posterior.elbo

    def scripted(self):
        if self is trainer.test_set:
            return next(script)
        return real_elbo(self)

    scripted.mode = "min"
    monkeypatch.setattr(Posterior, "elbo", scripted)
    trainer = RecordingTrainer(
        small_vae(dataset),
        dataset,
        show_progbar=False,
        early_stopping_kwargs=dict(
            early_stopping_metric="elbo",
            save_best_state_metric="elbo",
            on="test_set",
            patience=3,
            threshold=0,
        ),
    )
    trainer.train(n_epochs=20, lr=1e-2)
    # values: before training 100, then per epoch 90, 80, 70 (best, epoch 2), 85,
    # 86, 87 -> three epochs without improvement: stop after epoch 5
    assert len(trainer.snapshots) == 6
    assert trainer.best_epoch == 2
    best = trainer.snapshots[2]
    for key, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, best[key])
    # the weights did move after the best epoch, so the restore is visible
    moved = [
        not torch.equal(trainer.snapshots[-1][k], best[k])
        for k in best
        if best[k].dtype.is_floating_point
    ]
    assert any(moved)


def test_reduce_lr_on_plateau_lowers_the_learning_rate(dataset, monkeypatch):
    values = iter([10.0] + [10.0] * 30)
    monkeypatch.setattr(Posterior, "elbo", lambda self: next(values))
    trainer = UnsupervisedTrainer(
        small_vae(dataset),
        dataset,
        show_progbar=False,
        early_stopping_kwargs=dict(
            early_stopping_metric="elbo",
            on="test_set",
            patience=100,
            threshold=0,
            reduce_lr_on_plateau=True,
            lr_patience=2,
            lr_factor=0.5,
        ),
    )
    trainer.train(n_epochs=5, lr=1e-2)
    # the first epoch sets the best value; 4 more without improvement and
    # lr_patience=2 -> two reductions
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.25)


# ---------------------------------------------------------------- adapter
def test_adapter_trainer_only_moves_the_encoders(dataset):
    scvi.set_seed(0)
    model = small_vae(dataset)
    new_cells = make_dataset(seed=5)
    posterior = Posterior(model, new_cells, indices=np.arange(len(new_cells)))
    adapter = AdapterTrainer(model, new_cells, posterior, frequency=1)
    adapter.show_progbar = False
    decoder_before = {k: v.clone() for k, v in model.decoder.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in model.z_encoder.state_dict().items()}
    best = adapter.train(n_path=2, n_epochs=2)
    for key, value in model.decoder.state_dict().items():
        torch.testing.assert_close(value, decoder_before[key])
    changed = [
        not torch.equal(v, encoder_before[k])
        for k, v in model.z_encoder.state_dict().items()
        if v.dtype.is_floating_point
    ]
    assert any(changed)
    # 2 paths x (initial + 2 epochs) values of the test ELBO
    assert len(adapter.history["elbo_test_set"]) == 6
    assert best == min(adapter.history["elbo_test_set"])


def test_train_rejects_bad_arguments(dataset):
    trainer = UnsupervisedTrainer(small_vae(dataset), dataset, show_progbar=False)
    with pytest.raises(ValueError, match="n_epochs"):
        trainer.train(n_epochs=-1)
    with pytest.raises(ValueError, match="lr"):
        trainer.train(n_epochs=1, lr=0)
    with pytest.raises(ValueError, match="n_epochs_kl_warmup"):
        UnsupervisedTrainer(small_vae(dataset), dataset, n_epochs_kl_warmup=-1)


def test_compiled_loss_trains_like_the_eager_one(caplog):
    # without dropout (whose random numbers differ once compiled) the compiled
    # loss gives the eager history
    data = make_dataset(n_cells=64, n_genes=12)
    histories = []
    for option in (False, True):
        scvi.set_seed(0)
        model = VAE(
            data.nb_genes, data.n_batches, n_hidden=8, n_latent=3, dropout_rate=0.0
        )
        trainer = UnsupervisedTrainer(
            model, data, frequency=1, show_progbar=False, batch_size=32, compile=option
        )
        with caplog.at_level(logging.WARNING, logger="scvi"):
            trainer.train(n_epochs=2, lr=1e-2)
        histories.append(trainer.history["elbo_test_set"])
    assert "torch.compile failed" not in caplog.text  # it did compile
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-4)
