"""``scvi train --nproc N``: the same command re-run by ``N`` data-parallel
processes under :mod:`torch.distributed.run`."""

import subprocess
import sys
from typing import List


def needs_launch(nproc: int) -> bool:
    """Whether ``--nproc`` asks for processes that are not started yet: more than
    one, and this process is not already one of a process group's."""
    from ..inference.trainers.distributed import env_requests_distributed

    return nproc > 1 and not env_requests_distributed()


def _without_nproc(argv: List[str]) -> List[str]:
    """``argv`` less its ``--nproc N`` (the launcher's own parser would take
    ``--nproc`` for an abbreviation of its ``--nproc-per-node``)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def launch_command(nproc: int, argv: List[str]) -> List[str]:
    """The command line that runs ``scvi`` with the arguments ``argv`` (less
    ``--nproc``) in ``nproc`` processes on this machine (``torchrun
    --standalone``)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "scvi",
        *_without_nproc(argv),
    ]


def launch(nproc: int, argv: List[str]) -> int:
    """Run ``scvi argv`` in ``nproc`` processes and wait for them.

    Each process trains on its share of the cells of every epoch (gloo on the
    CPU, NCCL with ``--use-cuda``); rank 0 alone prints and writes ``--out``.

    Returns
    -------
    int
        The exit status of the launcher: 0 when every process succeeded.
    """
    return subprocess.call(launch_command(nproc, argv))
