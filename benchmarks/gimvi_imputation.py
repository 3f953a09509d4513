"""Imputation accuracy and training speed of gimVI, ours beside scvi 0.6.8.

Builds a pair of datasets from the osmFISH mouse cortex data
(``../shared/data/real/osmfish_smfish.h5ad``, 4,530 cells x 33 genes; or ``--data``,
an h5ad or loom file, such as ``starmap_mpfc.loom``): the cells with a count are
split at random (``--seed``) into a reference half that measures every gene (the
"sequencing" dataset: ZINB, library inferred) and a "spatial" half whose genes are
split, 80% measured (NB, observed library) and 20% hidden during training. With
``--simulated`` the pair is simulated instead (a log-linear latent structure, the
second dataset seeing 30 of 60 genes at a fifth of the depth through a noisier
likelihood). gimVI is set up as in the tutorial (JVAE
with 8 latent dimensions, 64 hidden units, dropout 0.2; ``Classifier(8, 32, 2, 3,
logits=True)``; ``JVAETrainer(model, discriminator, datasets, 0.95, kappa=1)``) and
trained for ``--epochs`` epochs in one ``train`` call (``--lr``); the spatial cells
are then decoded with all genes (``get_imputed_values(normalized=True)``) and the
imputation of each hidden gene is scored by its Spearman correlation, over the
spatial cells, with the held-out counts divided by the cell's measured total. The
median over the hidden genes is printed, for ``--train-seeds`` training seeds.

With ``--peer-python`` (an environment made by ``../shared/tools/make-peer-env``,
holding scvi 0.6.8) the same code (``RUNNER``) runs in that interpreter too, on the
same data, hidden genes and seeds. As in ``train_speed.py`` (whose ``Runner`` and
``train_side_by_side`` drive the processes), the two trainings run side by side,
``--block`` epochs at a time in turn, so that each block of ours is timed next to a
block of the peer's under the same conditions; the speed ratio is the median of
the ratios of adjacent blocks.

Usage::

    python benchmarks/gimvi_imputation.py --epochs 50 --threads 1 \\
        --peer-python /path/to/peer/bin/python
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_speed import (  # noqa: E402
    CONTROL,
    EPOCH_CLOCK,
    Runner,
    add_side_by_side_arguments,
    run_seeds_side_by_side,
)

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real"
    / "osmfish_smfish.h5ad"
)

RUNNER = (
    r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
from scipy.stats import spearmanr
import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.models import JVAE, Classifier
from scvi.inference import JVAETrainer

path, epochs, seed, threads, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
if threads > 0:
    torch.set_num_threads(threads)


"""
    + CONTROL
    + r"""

data = np.load(path)
seq, spatial = GeneExpressionDataset(), GeneExpressionDataset()
seq.populate_from_data(data["seq"])
spatial.populate_from_data(data["spatial"])
spatial.batch_indices += seq.n_batches
datasets = [seq, spatial]
np.random.seed(seed)
torch.manual_seed(seed)
model = JVAE(
    [d.nb_genes for d in datasets], seq.nb_genes,
    [slice(None), data["spatial_genes"]], ["zinb", "nb"], [True, False],
    n_layers_decoder_individual=0, n_layers_decoder_shared=0,
    n_layers_encoder_individual=1, n_layers_encoder_shared=1,
    dim_hidden_encoder=64, dim_hidden_decoder_shared=64,
    dropout_rate_encoder=0.2, dropout_rate_decoder=0.2,
    n_batch=sum(d.n_batches for d in datasets), n_latent=8,
)
discriminator = Classifier(8, 32, 2, 3, logits=True)
trainer = JVAETrainer(
    model, discriminator, datasets, 0.95, use_cuda=False, frequency=None,
    show_progbar=False, kappa=1.0, seed=seed,
)
"""
    + EPOCH_CLOCK
    + r"""say(ready=True)
trainer.train(n_epochs=epochs, lr=lr)
say(trained=True)
wait()
torch.manual_seed(seed)
imputed = trainer.get_imputed_values(normalized=True)[1][:, data["hidden_genes"]]
truth = data["held_out"]
rhos = [spearmanr(imputed[:, j], truth[:, j])[0] for j in range(truth.shape[1])]
say(version=scvi.__version__, spearman=float(np.nanmedian(rhos)),
    threads=torch.get_num_threads())
"""
)


def read_counts(path: Path) -> np.ndarray:
    """The count matrix (cells x genes) of an h5ad or loom file, as float32."""
    if path.suffix == ".loom":
        import loompy

        with loompy.connect(str(path), "r") as ds:
            return np.asarray(ds[:, :], dtype=np.float32).T
    import anndata
    import scipy.sparse as sp_sparse

    x = anndata.read_h5ad(path).X
    return np.asarray(x.toarray() if sp_sparse.issparse(x) else x, dtype=np.float32)


def split_pair(counts: np.ndarray, seed: int, hidden_fraction: float = 0.2) -> dict:
    """A reference half (all genes) and a spatial half (hidden genes held out) of
    the cells with a count.

    Returns
    -------
    dict
        ``seq`` (cells x all genes), ``spatial`` (cells x measured genes),
        ``spatial_genes`` (their positions among all genes), ``hidden_genes``
        (positions of the hidden genes) and ``held_out`` (their counts in the
        spatial cells divided by each cell's measured total), float32.
    """
    rs = np.random.RandomState(seed)
    n_genes = counts.shape[1]
    hidden = np.sort(rs.choice(n_genes, int(round(hidden_fraction * n_genes)), False))
    measured = np.setdiff1d(np.arange(n_genes), hidden)
    cells = rs.permutation(np.flatnonzero(counts.sum(1) > 0))
    seq, spatial = counts[cells[: len(cells) // 2]], counts[cells[len(cells) // 2 :]]
    spatial = spatial[spatial[:, measured].sum(1) > 0]
    total = spatial[:, measured].sum(1, keepdims=True)
    return {
        "seq": seq,
        "spatial": spatial[:, measured],
        "spatial_genes": measured,
        "hidden_genes": hidden,
        "held_out": spatial[:, hidden] / total,
    }


def simulated_pair(seed: int, n_cells: int = 2000, n_genes: int = 60) -> dict:
    """A simulated pair of datasets with a shared log-linear latent structure; the
    second sees 30 of the genes at a fifth of the depth with more overdispersion
    (same keys as :func:`split_pair`)."""
    rs = np.random.RandomState(seed)
    weights = rs.normal(0.0, 1.0, size=(3, n_genes))
    base = rs.normal(0.0, 1.0, size=n_genes)

    def frequencies(n):
        logits = base + rs.normal(size=(n, 3)) @ weights
        rho = np.exp(logits - logits.max(1, keepdims=True))
        return rho / rho.sum(1, keepdims=True)

    def counts(rho, depth, theta):
        library = rs.lognormal(np.log(depth), 0.3, size=(len(rho), 1))
        return rs.poisson(rs.gamma(theta, rho * library / theta)).astype(np.float32)

    seq = counts(frequencies(n_cells), 500.0, 5.0)
    genes = np.sort(rs.choice(n_genes, 30, replace=False))
    rho = frequencies(n_cells)[:, genes]
    spatial = counts(rho / rho.sum(1, keepdims=True), 100.0, 2.0)
    hidden = np.sort(rs.choice(30, 6, replace=False))
    kept = np.setdiff1d(np.arange(30), hidden)
    spatial = spatial[spatial[:, kept].sum(1) > 0]
    total = spatial[:, kept].sum(1, keepdims=True)
    return {
        "seq": seq,
        "spatial": spatial[:, kept],
        "spatial_genes": genes[kept],
        "hidden_genes": genes[hidden],
        "held_out": spatial[:, hidden] / total,
    }


def gimvi_runner(python: str, path: str, args, seed: int) -> Runner:
    """One gimVI training process driven epoch by epoch (see ``RUNNER``)."""
    return Runner(python, [path, args.epochs, seed, args.threads, args.lr], RUNNER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DATA), help="h5ad or loom file of counts")
    parser.add_argument("--simulated", action="store_true", help="simulated pair")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    add_side_by_side_arguments(parser)
    args = parser.parse_args()

    if args.simulated:
        data, source = simulated_pair(args.seed), "simulation"
    else:
        data = split_pair(read_counts(Path(args.data)), args.seed)
        source = Path(args.data).name
    print(
        f"data ({source}): reference {data['seq'].shape[0]} cells x "
        f"{data['seq'].shape[1]} genes; spatial {data['spatial'].shape[0]} cells x "
        f"{data['spatial'].shape[1]} genes measured, {len(data['hidden_genes'])} "
        f"hidden; {args.epochs} epochs, lr {args.lr}"
    )
    seeds, runs, ratios = run_seeds_side_by_side(
        lambda python, path, seed: gimvi_runner(python, path, args, seed), data, args
    )
    header = ("", "version", "seed", "epochs/s", "median Spearman")
    print("{:6} {:>8} {:>5} {:>9} {:>16}".format(*header))
    for name, results in runs.items():
        for seed, r in zip(seeds, results):
            print(
                f"{name:6} {r['version']:>8} {seed:5d} {r['epochs_per_second']:9.2f} "
                f"{r['spearman']:16.3f}"
            )
    print(f"torch threads: {runs['ours'][0]['threads']}")
    if "peer" in runs:

        def mean(name, key):
            return float(np.mean([r[key] for r in runs[name]]))

        speed = mean("ours", "epochs_per_second") / mean("peer", "epochs_per_second")
        quartiles = np.percentile(ratios, [25, 75])
        print(
            f"speed ratio (ours / peer), median of {len(ratios)} adjacent blocks of "
            f"{args.block} epochs: {np.median(ratios):.2f}x (target >= 1.3x; "
            f"quartiles {quartiles[0]:.2f}-{quartiles[1]:.2f}); ratio of the mean "
            f"epochs/s: {speed:.2f}x"
        )
        gap = mean("ours", "spearman") - mean("peer", "spearman")
        print(
            f"median Spearman of the hidden genes, mean over {len(seeds)} seeds: "
            f"ours {mean('ours', 'spearman'):.3f}, peer {mean('peer', 'spearman'):.3f}"
            f", difference {gap:+.3f} (target >= -0.02)"
        )


if __name__ == "__main__":
    main()
