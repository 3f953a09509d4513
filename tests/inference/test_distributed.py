"""Data-parallel training on torch.distributed (gloo, 2 CPU processes).

One ``torchrun`` launch of ``distributed_worker.py`` (module fixture) trains a VAE
and a deterministic linear autoencoder in 2 processes at 16 cells per mini-batch;
the references train in this process at 32 cells with the same cell orders.
The VAE samples its latent variables, so its losses agree with the reference only
within sampling noise (measured: 4 % mean relative deviation per step, the same
with and without gradient reduction); the linear autoencoder has a deterministic
loss, so it checks the reduction exactly: with averaged gradients it follows the
reference to float precision, without reduction each process would follow its
own half of every mini-batch.
"""

import os
import subprocess
import sys

import anndata
import numpy as np
import pytest
import torch

from scvi.inference.trainers import data_parallel
from scvi.inference.trainers.distributed import ShardSampler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import make_dataset  # noqa: E402
from distributed_worker import (  # noqa: E402
    BATCH_SIZE,
    N_CELLS,
    train_linear,
    train_recorded,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    counts = make_dataset(sparse=True, n_cells=N_CELLS)
    anndata.AnnData(X=counts.X.astype(np.float32)).write_h5ad(out / "counts.h5ad")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        os.path.join(HERE, "distributed_worker.py"),
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]
    return out, ranks


@pytest.fixture(scope="module")
def reference():
    return train_recorded(2 * BATCH_SIZE, distributed=False)


def test_steps_per_epoch_as_one_process_at_twice_the_batch(runs, reference):
    _, ranks = runs
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["epoch_steps"] == ranks[1]["epoch_steps"] == [6, 6, 6, 6]
    assert reference["epoch_steps"] == ranks[0]["epoch_steps"]


def test_parameters_identical_on_every_rank_after_each_step(runs):
    _, ranks = runs
    for key in (None, "linear"):
        states = [r[key]["states"] if key else r["states"] for r in ranks]
        assert states[0].shape[0] == (21 if key else 24)  # one row per step
        torch.testing.assert_close(states[0], states[1], rtol=0, atol=0)
        assert not torch.equal(states[0][0], states[0][-1])  # they did train


def test_deterministic_loss_follows_one_process_at_twice_the_batch(runs):
    _, ranks = runs
    reference = train_linear(2 * BATCH_SIZE, distributed=False)
    # the loss of a step is the mean over the processes' equal mini-batches
    losses = (ranks[0]["linear"]["losses"] + ranks[1]["linear"]["losses"]) / 2
    torch.testing.assert_close(losses, reference["losses"], rtol=1e-5, atol=0)
    torch.testing.assert_close(
        ranks[0]["linear"]["states"], reference["states"], rtol=1e-4, atol=1e-6
    )


def test_vae_loss_trajectory_within_noise_of_one_process(runs, reference):
    _, ranks = runs
    losses = (ranks[0]["losses"] + ranks[1]["losses"]) / 2
    deviation = (losses - reference["losses"]).abs() / reference["losses"].abs()
    assert deviation.mean() < 0.1
    assert losses[-6:].mean() < 0.8 * losses[:6].mean()  # it learns
    for name in ("elbo_train_set", "elbo_test_set"):
        ours, theirs = (np.array(h["history"][name]) for h in (ranks[0], reference))
        assert ours.shape == theirs.shape == (5,)
        np.testing.assert_allclose(ours, theirs, rtol=0.1)


def test_backed_data_parallel_reads_chunks_and_trains_as_in_memory(runs):
    ranks = [rank["linear_chunked"] for rank in runs[1]]
    for run in ranks:
        torch.testing.assert_close(
            run["backed"]["losses"], run["memory"]["losses"], rtol=0, atol=0
        )
        torch.testing.assert_close(
            run["backed"]["states"], run["memory"]["states"], rtol=0, atol=0
        )
    torch.testing.assert_close(
        ranks[0]["backed"]["states"], ranks[1]["backed"]["states"]
    )
    # chunks of 50 cells rounded to runs of 2 x 16: 64 cells, 32 per rank and read;
    # 200 cells per epoch: 100 per rank, 4 reads, each within one chunk's rows
    reads = ranks[0]["reads"]
    assert [len(r) for r in reads] == [32, 32, 32, 4] * 3
    assert all(r.max() - r.min() < 64 for r in reads)
    assert max(r.max() for r in reads) < 200


@pytest.mark.parametrize("trainer", ["total", "jvae"])
def test_adversarial_trainers_stay_identical_on_every_rank(runs, trainer):
    # each rank started from its own random weights and saw its own cells: equal
    # parameters afterwards mean rank 0's weights were shared and every
    # gradient (the discriminator's too) averaged
    first, second = (rank["adversarial"][trainer] for rank in runs[1])
    assert not torch.equal(
        first["initial_discriminator"], second["initial_discriminator"]
    )
    for part in ("model", "discriminator"):
        torch.testing.assert_close(first[part], second[part])
    assert not torch.allclose(first["discriminator"], first["initial_discriminator"])


def test_metrics_reduced_and_history_identical(runs):
    _, ranks = runs
    assert ranks[0]["history"] == ranks[1]["history"]
    # mean over 7 cells shared 4 / 3, not the mean of the two shares' means
    assert ranks[0]["reduced_elbo"] == ranks[1]["reduced_elbo"] == pytest.approx(13.0)


def test_rank_zero_alone_writes(runs):
    out, _ = runs
    assert sorted(os.listdir(out / "post0")) == sorted(
        ["anndata_dataset.h5ad", "model_params.pt", "indices.npy", "attr_dict.json"]
    )
    assert not os.path.exists(out / "post1")
    assert not [name for name in os.listdir(out) if name.startswith(".")]


# --------------------------------------------------------------- in process
def shards(n, batch_size, world, epoch=0, shuffle=True):
    samplers = [
        ShardSampler(np.arange(100, 100 + n), batch_size, r, world, shuffle, seed=3)
        for r in range(world)
    ]
    for sampler in samplers:
        sampler.epoch = epoch
    return [s.epoch_indices() for s in samplers]


@pytest.mark.parametrize("n, batch_size, world", [(23, 4, 2), (10, 3, 3), (8, 4, 2)])
def test_shards_cover_the_epoch_with_equal_batches(n, batch_size, world):
    parts = shards(n, batch_size, world)
    one = shards(n, batch_size * world, 1)[0]
    per_rank = -(-n // world)
    assert all(len(p) == per_rank for p in parts)
    assert len(ShardSampler(np.arange(n), batch_size, 0, world)) == per_rank
    assert set(np.concatenate(parts)) == set(range(100, 100 + n))
    # the mini-batches of step k together are one process's k-th mini-batch
    padded = np.resize(one, per_rank * world)
    starts = range(0, per_rank, batch_size)
    for k, start in enumerate(starts):
        step = np.concatenate([p[start : start + batch_size] for p in parts])
        size = len(step)
        np.testing.assert_array_equal(step, padded[k * world * batch_size :][:size])


def test_shards_order_by_epoch_and_seed():
    first, second = shards(40, 5, 2, epoch=0), shards(40, 5, 2, epoch=1)
    assert not np.array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[0], shards(40, 5, 2, epoch=0)[0])
    in_order = shards(8, 2, 2, shuffle=False)
    np.testing.assert_array_equal(in_order[0], [100, 101, 104, 105])
    np.testing.assert_array_equal(in_order[1], [102, 103, 106, 107])


@pytest.mark.parametrize(
    "n, batch_size, world, chunk", [(70, 4, 2, 16), (50, 3, 3, 10)]
)
def test_chunked_shards_read_each_chunk_of_neighbours_together(
    n, batch_size, world, chunk
):
    cells = np.arange(100, 100 + 2 * n, 2)  # sorted positions with gaps
    samplers = [
        ShardSampler(cells[::-1], batch_size, r, world, seed=3, chunk_size=chunk)
        for r in range(world)
    ]
    run = world * batch_size
    rounded = -(-chunk // run) * run  # whole runs of world x batch cells
    assert all(s.chunk_size == rounded for s in samplers)
    assert samplers[0].read_window == rounded // world
    parts = [s.epoch_indices() for s in samplers]
    assert set(np.concatenate(parts)) == set(cells)
    assert all(len(p) == len(samplers[0]) for p in parts)
    # window w of every rank holds cells of one chunk of neighbours: chunk j of
    # the sorted cells, all ranks' windows w together = that whole chunk
    window, seen = rounded // world, []
    n_full = n // rounded
    for w in range(n_full):
        together = np.concatenate([p[w * window : (w + 1) * window] for p in parts])
        position = np.searchsorted(cells, together)
        j = position[0] // rounded
        np.testing.assert_array_equal(
            np.sort(position), np.arange(j * rounded, (j + 1) * rounded)
        )
        seen.append(j)
    assert len(set(seen)) == n_full
    samplers[0].epoch = 1
    assert not np.array_equal(samplers[0].epoch_indices(), parts[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rank": 0, "world_size": 1, "chunk_size": 0}, "chunk_size"),
        ({"rank": 2, "world_size": 2}, "rank"),
        ({"rank": 0, "world_size": 0}, "world_size"),
        ({"rank": 0, "world_size": 1, "batch_size": 0}, "batch_size"),
    ],
)
def test_shard_sampler_rejects_bad_arguments(kwargs, match):
    kwargs.setdefault("batch_size", 4)
    with pytest.raises(ValueError, match=match):
        ShardSampler(np.arange(10), **kwargs)


def test_parallelism_options(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert (
        type(data_parallel.parallelism(None, False, 0)) is data_parallel.SingleProcess
    )
    with pytest.raises(ValueError, match="torchrun"):
        data_parallel.parallelism(True, False, 0)
    with pytest.raises(ValueError, match="distributed must be"):
        data_parallel.parallelism("yes", False, 0)
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "1"), ("MASTER_ADDR", "x")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", "1")
    hooks = data_parallel.parallelism(False, False, 0)  # False: alone, env or not
    assert type(hooks) is data_parallel.SingleProcess


def test_a_step_outside_the_loss_is_refused():
    hooks = data_parallel.DataParallel(torch.device("cpu"), seed=0)
    with pytest.raises(RuntimeError, match="distributed=False"):
        hooks.after_step()  # no forward pass went through wrap_loss
