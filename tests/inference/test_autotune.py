"""Hyper-parameter search: in process (hyperopt's fmin) and on a local Ray."""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scvi.dataset.cortex import CortexDataset
from scvi.inference import UnsupervisedTrainer

from conftest import make_dataset

hyperopt = pytest.importorskip("hyperopt")
autotune = pytest.importorskip("scvi.inference.autotune")
from scvi.inference.autotune import _ray_search  # noqa: E402
from scvi.inference.autotune import (  # noqa: E402
    auto_tune_scvi_model,
    default_space,
    trials_path,
)

hp = hyperopt.hp
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIXTURES = FIXTURES / "scvi-0.6-fixtures"
LATENT, HIDDEN, RATES = [2, 4], [8, 16], [1e-2, 3e-3]


def small_space():
    return {
        "model_tunable_kwargs": {
            "n_latent": hp.choice("n_latent", LATENT),
            "n_hidden": hp.choice("n_hidden", HIDDEN),
        },
        "train_func_tunable_kwargs": {"lr": hp.choice("lr", RATES)},
    }


@pytest.fixture(scope="module")
def data():
    return make_dataset(n_cells=120, n_genes=20)


def tune(data, tmp_path, **kwargs):
    options = dict(
        space=small_space(),
        max_evals=4,
        parallel=False,
        save_path=str(tmp_path),
        train_func_specific_kwargs={"n_epochs": 3},
        metric_kwargs={"n_mc_samples": 5},
        trainer_specific_kwargs={"batch_size": 32},
    )
    options.update(kwargs)
    return auto_tune_scvi_model("exp", data, **options)


def ray_processes():
    """Ray's daemons running on this machine (raylet, gcs_server)."""
    found = subprocess.run(["ps", "-eo", "comm"], capture_output=True, text=True)
    return [n for n in found.stdout.split() if n in ("raylet", "gcs_server")]


def check_search(best_trainer, trials, tmp_path):
    """Every trial finished with parameters of the space; the best trainer holds
    the best parameters, trained; the pickle holds the same trials."""
    table = trials.dataframe()
    assert len(table) == 4 and (table["status"] == "ok").all()
    assert set(table["n_latent"]) <= set(LATENT)
    assert set(table["n_hidden"]) <= set(HIDDEN)
    assert set(table["lr"]) <= set(RATES)
    assert (table["run_time"] > 0).all() and (table["n_epochs"] == 3).all()
    assert np.isfinite(table["loss"]).all()
    best = table.loc[table["loss"].idxmin()]
    assert best["loss"] == min(trials.losses())
    assert isinstance(best_trainer, UnsupervisedTrainer)
    assert best_trainer.model.n_latent == best["n_latent"]
    assert len(best_trainer.train_set.indices) == best_trainer.gene_dataset.nb_cells
    assert best_trainer.epoch >= 0 and best_trainer.training_time > 0
    for history in trials.histories().values():
        assert len(history["elbo_test_set"]) >= 3
    with open(trials_path(str(tmp_path), "exp"), "rb") as stream:
        saved = pickle.load(stream)
    assert saved.dataframe().equals(table)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".part")]


def test_in_process_search(data, tmp_path):
    best_trainer, trials = tune(data, tmp_path)
    check_search(best_trainer, trials, tmp_path)


def test_ray_search_leaves_nothing_running(data, tmp_path):
    ray = pytest.importorskip("ray")
    if ray.is_initialized() or ray_processes():
        pytest.skip("a Ray instance is already running here")
    best_trainer, trials = tune(data, tmp_path, parallel=True, n_cpu_workers=2)
    check_search(best_trainer, trials, tmp_path)
    assert not ray.is_initialized()
    assert ray_processes() == []


def flaky_objective(space, is_best_training=False, data=None):
    """Fails for ``x`` above 1/2."""
    if space["x"] > 0.5:
        raise RuntimeError("this configuration breaks")
    return {"loss": float(space["y"]), "status": "ok"}


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    space = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)}
    _, trials = auto_tune_scvi_model(
        "exp",
        custom_objective_hyperopt=flaky_objective,
        space=space,
        max_evals=8,
        parallel=False,
        train_best=False,
        save_path=str(tmp_path),
        seed=3,
    )
    table = trials.dataframe()
    assert len(table) == 8
    failed = table[table["status"] == "fail"]
    assert len(failed) > 0 and (failed["x"] > 0.5).all()
    assert failed["error"].str.contains("this configuration breaks").all()
    assert (table.loc[table["status"] == "ok", "x"] <= 0.5).all()


def test_all_trials_failing_is_an_error(tmp_path):
    space = {"x": hp.uniform("x", 0.6, 1), "y": hp.uniform("y", 0, 1)}
    with pytest.raises(RuntimeError, match="all 2 trials failed"):
        auto_tune_scvi_model(
            "exp",
            custom_objective_hyperopt=flaky_objective,
            space=space,
            max_evals=2,
            parallel=False,
            save_path=str(tmp_path),
        )


def test_timeouts(data, tmp_path):
    # a trial past trial_timeout fails; fmin_timer ends the search early
    _, trials = tune(
        data,
        tmp_path,
        train_func_specific_kwargs={"n_epochs": 10_000},
        trial_timeout=0.3,
        max_evals=2,
        train_best=False,
    )
    table = trials.dataframe()
    assert (table["status"] == "fail").all()
    assert table["error"].str.contains("time limit").all()
    assert all(t["result"]["timed_out"] for t in trials.trials)
    _, trials = tune(data, tmp_path, max_evals=50, fmin_timer=0.5, train_best=False)
    assert 1 <= len(trials.trials) < 50


def test_interrupt_keeps_finished_trials(tmp_path):
    calls = []

    def objective(space, is_best_training=False):
        calls.append(space)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return float(space["y"])

    with pytest.raises(KeyboardInterrupt):
        auto_tune_scvi_model(
            "exp",
            custom_objective_hyperopt=objective,
            space={"y": hp.uniform("y", 0, 1)},
            max_evals=5,
            parallel=False,
            save_path=str(tmp_path),
        )
    with open(trials_path(str(tmp_path), "exp"), "rb") as stream:
        saved = pickle.load(stream)
    assert len(saved.trials) == 2
    assert [t["result"]["loss"] for t in saved.trials] == [c["y"] for c in calls[:2]]


def test_ray_interrupt_shuts_down_what_it_started(data, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    if ray.is_initialized() or ray_processes():
        pytest.skip("a Ray instance is already running here")
    propose, calls = _ray_search.propose, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return propose(*args)

    monkeypatch.setattr(_ray_search, "propose", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(data, tmp_path, parallel=True, n_cpu_workers=2)
    assert not ray.is_initialized()
    assert ray_processes() == []
    with open(trials_path(str(tmp_path), "exp"), "rb") as stream:
        saved = pickle.load(stream)
    # the two dispatched trials: finished, or cancelled and recorded as failed
    assert len(saved.trials) == 2
    for trial in saved.trials:
        result = trial["result"]
        assert result["status"] == "ok" or "cancelled" in result["error"]
    assert any(t["result"]["status"] == "ok" for t in saved.trials)


def test_metric_where_larger_is_better_is_negated(data, tmp_path):
    _, trials = tune(
        data,
        tmp_path,
        metric_name="entropy_batch_mixing",
        metric_kwargs={},
        use_batches=True,
        max_evals=2,
        train_best=False,
    )
    for trial in trials.trials:
        result = trial["result"]
        assert result["status"] == "ok"
        assert result["loss"] == -result["metric"] and result["metric"] >= 0


@pytest.mark.skipif(not (FIXTURES / "expression.bin").exists(), reason="no fixtures")
def test_delayed_populating_reads_the_data_in_the_trial(tmp_path):
    shutil.copy(FIXTURES / "expression.bin", tmp_path)
    dataset = CortexDataset(save_path=str(tmp_path), delayed_populating=True)
    assert getattr(dataset, "X", None) is None
    best_trainer, trials = tune(dataset, tmp_path, delayed_populating=True, max_evals=2)
    assert (trials.dataframe()["status"] == "ok").all()
    assert best_trainer.gene_dataset.X.shape == (62, 63)


def test_default_space_and_arguments(data, tmp_path, monkeypatch):
    space = default_space()
    assert set(space) == {"model_tunable_kwargs", "train_func_tunable_kwargs"}
    sampled = hyperopt.pyll.stochastic.sample(space, np.random.default_rng(0))
    model = sampled["model_tunable_kwargs"]
    assert 5 <= model["n_latent"] <= 15 and 1 <= model["n_layers"] <= 5
    assert model["n_hidden"] in (64, 128, 256)
    assert model["reconstruction_loss"] in ("zinb", "nb")
    with pytest.raises(ValueError, match="exp_key"):
        auto_tune_scvi_model("", data)
    with pytest.raises(ValueError, match="gene_dataset is required"):
        auto_tune_scvi_model("exp")
    with pytest.raises(ValueError, match="max_evals"):
        auto_tune_scvi_model("exp", data, max_evals=0)
    with pytest.raises(ValueError, match="metric_name='no_such_metric'"):
        auto_tune_scvi_model("exp", data, metric_name="no_such_metric")
    with pytest.raises(ValueError, match="unknown groups"):
        auto_tune_scvi_model("exp", data, space={"model_kwargs": {}})
    with pytest.raises(ValueError, match="address"):
        auto_tune_scvi_model("exp", data, multiple_hosts=True)

    def no_ray():
        raise ImportError("no ray")

    monkeypatch.setattr("scvi.inference.autotune._tune.ray_module", no_ray)
    with pytest.raises(ImportError, match="parallel engine is Ray"):
        auto_tune_scvi_model("exp", data, mongo_port="27017")


def test_scvi_imports_without_the_engines():
    code = (
        "import sys, scvi, scvi.inference, scvi.models, scvi.dataset; "
        "print('hyperopt' in sys.modules, 'ray' in sys.modules)"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["False", "False"]
