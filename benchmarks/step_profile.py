"""Where a training step's time goes: the library's trainer beside the plain loop.

Profiles one epoch of ``UnsupervisedTrainer`` and of the plain eager loop of
``gpu_speed.py`` (same network, data on the device) with ``torch.profiler`` and
prints, per optimisation step: the operators dispatched, the kernels launched
(CUDA), host time and device time, then the operators whose counts differ most.

Usage::

    python benchmarks/step_profile.py --cells 4096 --genes 2000 --batch-size 128
"""

import argparse
import os
import sys
import time
from collections import Counter

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_speed import Library, PlainLoop, measure, synchronize  # noqa: E402
from train_speed import simulate  # noqa: E402

import scvi  # noqa: E402
from scvi.dataset import GeneExpressionDataset  # noqa: E402
from scvi.models.log_likelihood import log_zinb_positive  # noqa: E402


def profile_epoch(run, device):
    """Operator counts, kernel count and host/device seconds of one epoch."""
    run.run(1)  # warm-up
    synchronize(device)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        run.run(1)
        synchronize(device)
    wall = time.perf_counter() - start
    ops, kernels, device_us = Counter(), 0, 0.0
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kernels += 1
            device_us += event.device_time
        elif event.name.startswith("aten::") and event.cpu_parent is None:
            ops[event.name] += 1
    return ops, kernels, device_us / 1e6, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=4096)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    counts, batches = simulate(args.cells, args.genes, 0)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(counts, batch_indices=batches)
    steps = -(-args.cells // args.batch_size)
    scvi.set_seed(0)
    runs = {
        "plain": PlainLoop(dataset, args.batch_size, device),
        "plain+library ZINB": PlainLoop(
            dataset, args.batch_size, device, zinb=log_zinb_positive
        ),
        "plain+GradScaler": PlainLoop(dataset, args.batch_size, device, scaler=True),
        "trainer": Library(dataset, args.batch_size, device, False),
    }
    results = {name: profile_epoch(run, device) for name, run in runs.items()}
    speeds = measure(runs, 2, 2, device)
    print(f"device {device}; {args.cells} x {args.genes}; batch {args.batch_size}")
    for name, (ops, kernels, device_s, wall) in results.items():
        print(
            f"{name:18s} per step: {sum(ops.values()) / steps:6.1f} top-level ops, "
            f"{kernels / steps:6.1f} kernels, device {1e3 * device_s / steps:.3f} ms,"
            f" wall {1e3 * wall / steps:.3f} ms profiled,"
            f" {1e3 / (speeds[name] * steps):.3f} ms not"
        )
    plain, trainer = results["plain"][0], results["trainer"][0]
    names = set(plain) | set(trainer)
    diff = sorted(names, key=lambda n: -abs(trainer[n] - plain[n]))[: args.top]
    print(f"{'operator':40s} {'plain':>8s} {'trainer':>8s}   (per step)")
    for n in diff:
        print(f"{n:40s} {plain[n] / steps:8.1f} {trainer[n] / steps:8.1f}")


if __name__ == "__main__":
    main()
