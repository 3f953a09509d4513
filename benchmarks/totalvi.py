"""Training speed and held-out ELBO of totalVI, ours beside scvi 0.6.8.

Takes a subset of the 10x PBMC 10k CITE-seq data
(``../shared/data/real/pbmc10k_cite_rna4000_adt14.h5ad``, or ``--data``): the
``--genes`` most variable genes (variance of ``log(1 + counts per 10,000)`` over the
cells, among the genes expressed in at least 1% of them), then ``--cells`` cells drawn
at random (``--seed``) among those with at least one count in these genes, with the
14 proteins of ``obsm["protein_expression"]``. On it, trains the manual's default
``TOTALVI`` (20 latent dimensions, 256 hidden units, gene dispersion) with
``TotalTrainer(train_size=0.9, test_size=0.1, data_loader_kwargs={"batch_size":
256})``, no early stopping, the default KL warm-up (0.75 x the number of cells in
iterations) and the default ``train(lr=4e-3, eps=0.01)``, for ``--epochs`` epochs in
one ``train`` call, and prints epochs per second and the held-out negative ELBO
(genes and proteins, per cell). With ``--peer-python`` (an environment made by
``../shared/tools/make-peer-env``, holding scvi 0.6.8) the same code (``RUNNER``) runs
in that interpreter too, on the same data and seeds, and the ratios are printed.

As in ``train_speed.py`` (whose ``Runner`` and ``train_side_by_side`` drive the
processes here), the two trainings run side by side, ``--block`` epochs at a time in
turn, so that each block of ours is timed next to a block of the peer's under the
same conditions; the speed ratio is the median of the ratios of adjacent blocks. The
held-out ELBO is computed after both trainings, one process at a time, with the model
in evaluation mode and the torch seed set, for ``--train-seeds`` training seeds (the
data stay those of ``--seed``); the gap is taken between the means. ``--cuda`` trains
on the GPU in both (each epoch's clock stops after ``torch.cuda.synchronize()``).

Usage::

    python benchmarks/totalvi.py --epochs 20 --peer-python /path/to/peer/bin/python
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
    / "pbmc10k_cite_rna4000_adt14.h5ad"
)

#: the arrays of :func:`cite_seq_subset` (``data`` in a runner script) as the
#: genes and the ``protein_expression`` measurement of ``dataset`` (scVI 0.6's API;
#: also run by ``vs_scvi_tools.py``)
CITE_SEQ_DATASET = r"""
dataset = GeneExpressionDataset()
dataset.populate_from_data(data["X"], gene_names=data["gene_names"])
dataset.initialize_cell_measurement(
    CellMeasurement(
        name="protein_expression",
        data=data["Y"],
        columns_attr_name="protein_names",
        columns=data["protein_names"],
    )
)
"""

RUNNER = (
    r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
import scvi
from scvi.dataset import CellMeasurement, GeneExpressionDataset
from scvi.models import TOTALVI
from scvi.inference import TotalTrainer

path, epochs, seed, mc, threads, cuda, batch_size = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), bool(int(sys.argv[6])), \
    int(sys.argv[7])
if threads > 0:
    torch.set_num_threads(threads)
cuda = cuda and torch.cuda.is_available()


"""
    + CONTROL
    + r"""

data = np.load(path, allow_pickle=False)
"""
    + CITE_SEQ_DATASET
    + r"""np.random.seed(seed)
torch.manual_seed(seed)
model = TOTALVI(dataset.nb_genes, len(dataset.protein_names))
trainer = TotalTrainer(
    model, dataset, train_size=0.9, test_size=0.1, use_cuda=cuda, frequency=None,
    show_progbar=False, seed=seed, early_stopping_kwargs=None,
    data_loader_kwargs={"batch_size": batch_size},
)
"""
    + EPOCH_CLOCK
    + r"""say(ready=True)
trainer.train(n_epochs=epochs)
say(trained=True)
wait()
trainer.model.eval()
torch.manual_seed(seed)
elbo = float(trainer.test_set.elbo())
marginal_ll = float("nan")
if mc > 0:
    torch.manual_seed(seed)
    marginal_ll = float(trainer.test_set.marginal_ll(n_mc_samples=mc))
say(version=scvi.__version__, test_elbo=elbo, test_marginal_ll=marginal_ll,
    threads=torch.get_num_threads(), device="cuda" if cuda else "cpu",
    n_test=len(trainer.test_set.indices))
"""
)


def cite_seq_subset(path: Path, n_cells: int, n_genes: int, seed: int) -> dict:
    """The counts of ``n_genes`` variable genes and the proteins of ``n_cells`` cells.

    Parameters
    ----------
    path
        An h5ad file with the RNA counts in ``X``, the protein counts in
        ``obsm["protein_expression"]`` and their names in ``uns["protein_names"]``.
    n_cells
        Number of cells, drawn at random among those with a count in the genes.
    n_genes
        Number of genes: the largest variances of ``log(1 + counts per 10,000)``
        among the genes expressed in at least 1% of the cells.
    seed
        Seed of the draw of the cells.

    Returns
    -------
    dict
        ``X`` (cells x genes), ``Y`` (cells x proteins), both float32,
        ``gene_names`` and ``protein_names``.
    """
    import anndata
    import scipy.sparse as sp_sparse

    adata = anndata.read_h5ad(path)
    counts = adata.X.tocsr() if sp_sparse.issparse(adata.X) else adata.X
    counts = sp_sparse.csr_matrix(counts, dtype=np.float32)
    library = np.asarray(counts.sum(axis=1)).ravel()
    normalized = sp_sparse.diags(1e4 / np.maximum(library, 1.0)) @ counts
    normalized.data = np.log1p(normalized.data)
    mean = np.asarray(normalized.mean(axis=0)).ravel()
    variance = np.asarray(normalized.multiply(normalized).mean(axis=0)).ravel()
    variance -= mean**2
    expressed = np.asarray((counts > 0).sum(axis=0)).ravel() >= 0.01 * counts.shape[0]
    variance[~expressed] = -np.inf
    genes = np.sort(np.argsort(-variance, kind="stable")[:n_genes])
    x = counts[:, genes].toarray()
    candidates = np.flatnonzero(x.sum(axis=1) > 0)
    if len(candidates) < n_cells:
        sys.exit(f"only {len(candidates)} cells have counts in the genes")
    cells = np.sort(np.random.RandomState(seed).choice(candidates, n_cells, False))
    return {
        "X": x[cells],
        "Y": np.asarray(adata.obsm["protein_expression"])[cells].astype(np.float32),
        "gene_names": np.asarray(adata.var_names[genes]).astype(str),
        "protein_names": np.asarray(adata.uns["protein_names"]).astype(str),
    }


def total_runner(python: str, path: str, args, seed: int) -> Runner:
    """One totalVI training process driven epoch by epoch (see ``RUNNER``)."""
    return Runner(
        python,
        [
            path,
            args.epochs,
            seed,
            args.mc_samples,
            args.threads,
            int(args.cuda),
            args.batch_size,
        ],
        RUNNER,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DATA), help="CITE-seq h5ad file")
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mc-samples",
        type=int,
        default=0,
        help="importance samples of the held-out marginal log-likelihood (0: none)",
    )
    add_side_by_side_arguments(parser)
    parser.add_argument("--cuda", action="store_true", help="train on the GPU")
    args = parser.parse_args()

    data = cite_seq_subset(Path(args.data), args.cells, args.genes, args.seed)
    print(
        f"data: {args.cells} cells x {args.genes} genes x {data['Y'].shape[1]} "
        f"proteins from {Path(args.data).name}, {(data['X'] > 0).mean():.1%} "
        f"non-zero genes, mean library {data['X'].sum(1).mean():.0f} (genes), "
        f"{data['Y'].sum(1).mean():.0f} (proteins)"
    )
    seeds, runs, ratios = run_seeds_side_by_side(
        lambda python, path, seed: total_runner(python, path, args, seed), data, args
    )
    first = runs["ours"][0]
    print(
        f"{args.epochs} epochs, batch size {args.batch_size}, on {first['device']} "
        f"({first['threads']} torch threads), {first['n_test']} held-out cells"
    )
    header = ("", "version", "seed", "epochs/s", "test -ELBO", "test -log p(x,y)")
    print("{:6} {:>8} {:>5} {:>9} {:>11} {:>17}".format(*header))
    for name, results in runs.items():
        for seed, r in zip(seeds, results):
            print(
                f"{name:6} {r['version']:>8} {seed:5d} {r['epochs_per_second']:9.2f} "
                f"{r['test_elbo']:11.2f} {r['test_marginal_ll']:17.2f}"
            )
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
        for key, label in (
            ("test_elbo", "negative ELBO"),
            ("test_marginal_ll", "negative marginal log-likelihood"),
        ):
            if args.mc_samples == 0 and key == "test_marginal_ll":
                continue
            peer = mean("peer", key)
            gap = (mean("ours", key) - peer) / abs(peer)
            gaps = [
                (o[key] - p[key]) / abs(p[key])
                for o, p in zip(runs["ours"], runs["peer"])
            ]
            print(
                f"held-out {label}, relative gap of the means over {len(gaps)} "
                f"seeds: {gap:+.2%} (target: at most +1%; negative = ours better; "
                f"per seed: {', '.join(f'{g:+.2%}' for g in gaps)})"
            )


if __name__ == "__main__":
    main()
