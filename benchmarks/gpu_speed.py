"""Training speed of the library beside a plain eager PyTorch loop, on one device.

On whatever device is there (CUDA when available, else the CPU), trains the
manual's default scVI (VAE: 1 hidden layer of 128 units, 10 latent dimensions,
ZINB, gene dispersion) on simulated counts (``--cells`` x ``--genes``, 2 batches)
and prints epochs per second of

- ``UnsupervisedTrainer`` (default path: data kept on the device, no host sync in
  a step), and with ``compile=True`` (and ``compile="reduce-overhead"``, CUDA
  graphs, on CUDA);
- a plain eager loop of the same network and loss: the same ``VAE`` module, the
  textbook ``lgamma`` form of the ZINB log-likelihood, ``torch.optim.Adam``, the
  counts on the device, mini-batches cut with ``index_select``;

at batch sizes 128 and 1024, each as a ratio to the plain loop measured in the
same run. Each measurement follows a warm-up epoch (compilation happens there) and
the timed epochs alternate between the runs (``--rounds``), so that the ratios
compare like with like.

Usage::

    python benchmarks/gpu_speed.py                      # 20,000 x 2,000 on CUDA
    python benchmarks/gpu_speed.py --cells 3000 --genes 1000 --epochs 2
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_speed import simulate  # noqa: E402

import scvi  # noqa: E402
from scvi.dataset import GeneExpressionDataset  # noqa: E402
from scvi.inference import UnsupervisedTrainer  # noqa: E402
from scvi.models import VAE  # noqa: E402


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_zinb(x, mu, theta, pi, eps=1e-8):
    """The textbook ZINB log-likelihood (lgamma form), differentiated by autograd."""
    softplus_pi = F.softplus(-pi)
    log_theta_mu = torch.log(theta + mu + eps)
    pi_theta_log = -pi + theta * (torch.log(theta + eps) - log_theta_mu)
    case_zero = F.softplus(pi_theta_log) - softplus_pi
    case_positive = (
        -softplus_pi
        + pi_theta_log
        + x * (torch.log(mu + eps) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
    )
    return torch.where(x < eps, case_zero, case_positive)


class PlainLoop:
    """The plain eager loop: data on the device, torch's Adam, no library code but
    the VAE module."""

    def __init__(self, dataset, batch_size, device, zinb=plain_zinb, scaler=False):
        self.device, self.batch_size, self.zinb = device, batch_size, zinb
        self.scaler = (
            torch.amp.GradScaler(device.type, init_scale=1.0) if scaler else None
        )
        self.model = VAE(dataset.nb_genes, n_batch=dataset.n_batches).to(device)
        # the GradScaler needs the fused Adam to skip steps without a host sync
        self.optimizer = torch.optim.Adam(
            self.model.parameters(),
            lr=1e-3,
            eps=0.01,
            weight_decay=1e-6,
            fused=True if scaler else None,
        )
        self.x = torch.as_tensor(np.asarray(dataset.X), device=device)
        self.batch = torch.as_tensor(dataset.batch_indices, device=device)
        self.l_mean = torch.as_tensor(dataset.local_means, device=device)
        self.l_var = torch.as_tensor(dataset.local_vars, device=device)

    def run(self, epochs):
        for _ in range(epochs):
            self.epoch()

    def epoch(self):
        self.model.train()
        order = torch.randperm(self.x.shape[0], device=self.device)
        for start in range(0, self.x.shape[0], self.batch_size):
            index = order[start : start + self.batch_size]
            if index.shape[0] < 3:
                continue
            x, batch = self.x[index], self.batch[index]
            out = self.model.inference(x, batch)
            reconst = -self.zinb(x, out["px_rate"], out["px_r"], out["px_dropout"]).sum(
                -1
            )
            kl_z, kl_l = self.model.kl_divergences(
                out, self.l_mean[index], self.l_var[index]
            )
            loss = torch.mean(reconst + kl_l + kl_z)
            self.optimizer.zero_grad()
            if self.scaler is None:
                loss.backward()
                self.optimizer.step()
            else:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update(1.0)


class Library:
    """``UnsupervisedTrainer`` on the whole dataset, one ``train`` call per turn."""

    def __init__(self, dataset, batch_size, device, compile):
        model = VAE(dataset.nb_genes, n_batch=dataset.n_batches)
        self.trainer = UnsupervisedTrainer(
            model,
            dataset,
            train_size=1.0,
            batch_size=batch_size,
            use_cuda=device.type == "cuda",
            frequency=None,
            show_progbar=False,
            compile=compile,
        )

    def run(self, epochs):
        self.trainer.train(n_epochs=epochs, lr=1e-3)


def measure(runs, epochs, rounds, device):
    """Epochs per second of each run: a warm-up epoch each, then ``rounds`` turns
    of ``epochs`` epochs, the runs alternating."""
    seconds = {name: 0.0 for name in runs}
    for run in runs.values():
        run.run(1)
    synchronize(device)
    for turn in range(rounds):
        names = list(runs) if turn % 2 == 0 else list(runs)[::-1]
        for name in names:
            start = time.perf_counter()
            runs[name].run(epochs)
            synchronize(device)
            seconds[name] += time.perf_counter() - start
    return {name: epochs * rounds / s for name, s in seconds.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cuda = torch.cuda.is_available()
    parser.add_argument("--cells", type=int, default=20000 if cuda else 3000)
    parser.add_argument("--genes", type=int, default=2000 if cuda else 1000)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per turn")
    parser.add_argument("--rounds", type=int, default=4, help="alternating turns")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()

    device = torch.device("cuda" if cuda else "cpu")
    counts, batches = simulate(args.cells, args.genes, 0)
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(counts, batch_indices=batches)
    name = torch.cuda.get_device_name(device) if cuda else "CPU"
    print(f"device: {name}; torch {torch.__version__}; scvi {scvi.__version__}")
    print(f"data: {args.cells} cells x {args.genes} genes, 2 batches")
    compile_options = [] if args.no_compile else [True]
    if cuda and not args.no_compile:
        compile_options.append("reduce-overhead")
    for batch_size in args.batch_sizes:
        scvi.set_seed(0)
        runs = {
            "plain eager loop": PlainLoop(dataset, batch_size, device),
            "UnsupervisedTrainer": Library(dataset, batch_size, device, False),
        }
        for option in compile_options:
            label = "compile=True" if option is True else f"compile={option!r}"
            try:
                runs[f"UnsupervisedTrainer {label}"] = Library(
                    dataset, batch_size, device, option
                )
            except Exception as error:  # report and go on without it
                print(f"  {label}: {type(error).__name__}: {error}")
        speeds = measure(runs, args.epochs, args.rounds, device)
        plain = speeds["plain eager loop"]
        print(f"batch {batch_size}:")
        for label, speed in speeds.items():
            print(f"  {label:45s} {speed:8.2f} epochs/s   {speed / plain:5.2f}x plain")


if __name__ == "__main__":
    main()
