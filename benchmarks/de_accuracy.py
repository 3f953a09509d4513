"""Differential expression on simulated ground truth, ours beside scvi 0.6.8.

Simulates 3,000 cells x 1,000 genes: two populations in 2 batches, 10% of the genes
differentially expressed with |log2 fold change| between 1 and 2.5, the others
unchanged. Trains a VAE, then reports

* the AUROC of the Bayes factor for recovering the DE genes, in the "vanilla" mode
  (``|bayes_factor|``) and the "change" mode (``proba_de``);
* the Pearson correlation between the posterior LFC mean and the true log2 fold
  change over the DE genes (change mode);
* the time of ``one_vs_all_degenes`` over 10 clusters with the default
  ``n_samples`` and ``M_permutation``.

With ``--peer-python`` (an environment made by ``../shared/tools/make-peer-env``) the
same code runs under scvi 0.6.8 on the same data and seed, and the figures are
printed side by side.

Usage::

    python benchmarks/de_accuracy.py --peer-python /path/to/peer/bin/python
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

RUNNER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.models import VAE
from scvi.inference import UnsupervisedTrainer
from sklearn.metrics import roc_auc_score

path, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = np.load(path)
dataset = GeneExpressionDataset()
dataset.populate_from_data(
    data["X"], batch_indices=data["batches"], labels=data["population"],
    gene_names=np.array(["g%d" % i for i in range(data["X"].shape[1])]),
)
np.random.seed(seed)
torch.manual_seed(seed)
vae = VAE(dataset.nb_genes, n_batch=dataset.n_batches)
trainer = UnsupervisedTrainer(vae, dataset, train_size=0.9, use_cuda=False,
                              frequency=None, show_progbar=False, seed=seed,
                              n_epochs_kl_warmup=None)
trainer.train(n_epochs=epochs, lr=1e-3)
full = trainer.create_posterior(trainer.model, dataset,
                                indices=np.arange(len(dataset)))
population, is_de, true_lfc = data["population"], data["is_de"], data["true_lfc"]
order = np.asarray(dataset.gene_names)
out = {"version": scvi.__version__}
for mode in ("vanilla", "change"):
    np.random.seed(seed)
    torch.manual_seed(seed)
    res = full.differential_expression_score(population == 0, population == 1,
                                             mode=mode, n_samples=5000)
    res = res.loc[order]
    score = np.abs(res["bayes_factor"].values) if mode == "vanilla" \
        else res["proba_de"].values
    out["auroc_" + mode] = float(roc_auc_score(is_de, score))
    if mode == "change":
        lfc = res["lfc_mean"].values[is_de]
        out["pearson_lfc"] = float(np.corrcoef(lfc, true_lfc[is_de])[0, 1])
begin = time.perf_counter()
de_res, de_cluster = full.one_vs_all_degenes(cell_labels=data["clusters"],
                                             min_cells=1)
out["one_vs_all_seconds"] = time.perf_counter() - begin
out["n_clusters"] = len(de_cluster)
print(json.dumps(out))
"""


def simulate(n_cells: int, n_genes: int, seed: int, de_fraction: float = 0.1):
    """Two populations, 2 batches, known DE genes; 10 clusters for the speed test."""
    rs = np.random.RandomState(seed)
    population = rs.permutation(np.arange(n_cells) % 2)
    batches = rs.permutation(np.arange(n_cells) % 2)
    base = np.exp(rs.normal(0.0, 1.3, size=n_genes))
    n_de = int(round(de_fraction * n_genes))
    de_genes = rs.choice(n_genes, n_de, replace=False)
    lfc = np.zeros(n_genes)
    lfc[de_genes] = rs.choice([-1.0, 1.0], n_de) * rs.uniform(1.0, 2.5, n_de)
    rho = np.stack([base * 2 ** (lfc / 2), base * 2 ** (-lfc / 2)])
    rho /= rho.sum(1, keepdims=True)
    batch_effect = np.stack([np.ones(n_genes), np.exp(rs.normal(0, 0.2, n_genes))])
    library = rs.lognormal(np.log(2000.0), 0.4, size=(n_cells, 1))
    mean = library * rho[population] * batch_effect[batches]
    theta = rs.gamma(2.0, 1.0, size=n_genes) + 1.0
    counts = rs.poisson(rs.gamma(theta, mean / theta)).astype(np.float32)
    clusters = population * 5 + rs.randint(5, size=n_cells)
    return dict(
        X=counts,
        batches=batches,
        population=population,
        clusters=clusters,
        is_de=np.isin(np.arange(n_genes), de_genes),
        true_lfc=np.log2(rho[0] / rho[1]),
    )


def run(python: str, path: str, args) -> dict:
    with tempfile.TemporaryDirectory() as cwd:  # so that `import scvi` is the install
        result = subprocess.run(
            [python, "-c", RUNNER, path, str(args.epochs), str(args.seed)],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        sys.exit(f"{python} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-python", help="python of an env holding scvi 0.6.8")
    args = parser.parse_args()

    data = simulate(args.cells, args.genes, args.seed)
    print(
        f"data: {args.cells} cells x {args.genes} genes, "
        f"{data['is_de'].sum()} DE genes, {(data['X'] > 0).mean():.1%} non-zero"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "de.npz")
        np.savez(path, **data)
        runs = {"ours": run(sys.executable, path, args)}
        if args.peer_python:
            runs["peer"] = run(args.peer_python, path, args)
    header = ("", "version", "AUROC van.", "AUROC chg.", "Pearson LFC", "1-vs-all s")
    print("{:6} {:>8} {:>11} {:>11} {:>12} {:>11}".format(*header))
    for name, r in runs.items():
        print(
            f"{name:6} {r['version']:>8} {r['auroc_vanilla']:11.3f} "
            f"{r['auroc_change']:11.3f} {r['pearson_lfc']:12.3f} "
            f"{r['one_vs_all_seconds']:11.1f}"
        )
    if "peer" in runs:
        ratio = runs["peer"]["one_vs_all_seconds"] / runs["ours"]["one_vs_all_seconds"]
        print(f"one-vs-all speed ratio (peer time / our time): {ratio:.2f}x")


if __name__ == "__main__":
    main()
