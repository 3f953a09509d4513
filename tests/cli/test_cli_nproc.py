"""``scvi train --nproc N``: the command re-run by N data-parallel processes."""

import os
import subprocess
import sys

import anndata
import numpy as np

from scvi.cli.launch import launch_command, needs_launch

ENV_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def test_launch_command_runs_scvi_under_torchrun_without_nproc():
    argv = ["train", "in.h5ad", "--nproc", "3", "--out", "o.h5ad", "--nproc=3"]
    command = launch_command(3, argv)
    assert command[:5] == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=3",
    ]
    assert command[5:] == ["-m", "scvi", "train", "in.h5ad", "--out", "o.h5ad"]


def test_needs_launch_only_outside_a_process_group(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert needs_launch(2) and not needs_launch(1)
    for name in ENV_VARS:
        monkeypatch.setenv(name, "0")
    assert not needs_launch(2)  # already one of the processes


def test_train_nproc_2_on_a_tiny_file(tmp_path):
    rs = np.random.RandomState(0)
    counts = rs.poisson(3.0, size=(60, 20)).astype(np.float32)
    source = tmp_path / "tiny.h5ad"
    anndata.AnnData(counts).write_h5ad(source)
    out = tmp_path / "out.h5ad"
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    command = [
        sys.executable,
        "-m",
        "scvi",
        "train",
        str(source),
        "--nproc",
        "2",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--no-progress",
        "--out",
        str(out),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Wrote ") == 1  # rank 0 alone reports
    adata = anndata.read_h5ad(out)
    assert adata.obsm["X_scVI"].shape == (60, 10)
    assert np.isfinite(adata.obsm["X_scVI"]).all()
    np.testing.assert_array_equal(adata.X, counts)
    assert sorted(os.listdir(tmp_path)) == ["out.h5ad", "tiny.h5ad"]  # no temp left
