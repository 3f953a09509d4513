"""Cell annotation on simulated ground truth: scANVI against a classifier of raw counts.

Simulates 5 cell types x 600 cells x 1,000 genes in 2 batches. Each type has its own
program (100 genes up 1.4 to 2.8 fold; the programs of different types overlap) on a
shared baseline; each batch multiplies every gene by its own log-normal factor (sd
0.5) and the second batch has 1.5 times larger libraries; libraries vary (log-normal,
sd 0.6) around 300 counts; counts are negative binomial (inverse dispersion 2).

50 cells per type are labelled (``SemiSupervisedTrainer``'s draw); the others are
scored. Printed:

* ``oracle``: the likelihood classifier that knows the true programs, batch factors
  and dispersion-free means (multinomial log-likelihood), the ceiling of the task;
* ``scANVI``: ``SCANVI`` trained by ``SemiSupervisedTrainer`` (it also reads the
  unlabelled cells, as semi-supervised learning does);
* ``classifier on raw counts``: ``ClassifierTrainer`` with a ``Classifier`` of the
  counts, trained on the same labelled cells (the documented baseline);
* for reference, a linear SVC on ``log1p`` counts (``compute_accuracy_svc``) and a
  5-nearest-neighbour classifier of scANVI's latent space (``nn_latentspace``).

Usage::

    python benchmarks/annotation.py [--cells-per-type 600] [--genes 1000]
        [--labelled 50] [--epochs 100] [--seed 0]
"""

import argparse
import time

import numpy as np
import torch

import scvi
from scvi.dataset import GeneExpressionDataset
from scvi.inference import ClassifierTrainer, SemiSupervisedTrainer
from scvi.inference.annotation import compute_accuracy_svc
from scvi.models import SCANVI, Classifier

N_TYPES = 5


def simulate(n_per_type, n_genes, seed=0, library=300.0, fold=2.0):
    """Counts, labels, batches and the true per-cell means (see the module doc)."""
    rs = np.random.RandomState(seed)
    baseline = rs.gamma(1.0, 1.0, n_genes)
    log_fold = np.zeros((N_TYPES, n_genes))
    for k in range(N_TYPES):
        genes = rs.choice(n_genes, n_genes // 10, replace=False)
        log_fold[k, genes] = np.log(fold) * rs.uniform(0.5, 1.5, genes.size)
    batch_factor = rs.lognormal(0.0, 0.5, (2, n_genes))
    labels = np.repeat(np.arange(N_TYPES), n_per_type)
    batches = rs.randint(2, size=labels.size)
    mean = baseline * np.exp(log_fold[labels]) * batch_factor[batches]
    mean /= mean.sum(axis=1, keepdims=True)
    size = rs.lognormal(np.log(library), 0.6, labels.size) * (1 + 0.5 * batches)
    counts = rs.poisson(rs.gamma(2.0, mean * size[:, None] / 2.0))
    programs = baseline * np.exp(log_fold)  # (types, genes)
    return counts.astype(np.float32), labels, batches, programs, batch_factor


def oracle_accuracy(counts, labels, batches, programs, batch_factor, cells):
    """Accuracy of the most likely type under the true means (multinomial)."""
    scores = []
    for program in programs:
        p = program * batch_factor[batches[cells]]
        p /= p.sum(axis=1, keepdims=True)
        scores.append((counts[cells] * np.log(p)).sum(axis=1))
    return float(np.mean(np.argmax(scores, axis=0) == labels[cells]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells-per-type", type=int, default=600)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--labelled", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scvi.set_verbosity("WARNING")

    counts, labels, batches, programs, batch_factor = simulate(
        args.cells_per_type, args.genes, seed=args.seed
    )
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        counts,
        batch_indices=batches,
        labels=labels,
        gene_names=[f"g{i}" for i in range(args.genes)],
    )
    print(
        f"{len(dataset)} cells x {dataset.nb_genes} genes, {dataset.n_batches} "
        f"batches, {dataset.n_labels} cell types, {counts.sum(1).mean():.0f} counts "
        f"per cell, {args.labelled} labelled cells per type, {args.epochs} epochs, "
        f"{torch.get_num_threads()} threads"
    )

    scvi.set_seed(args.seed)
    start = time.perf_counter()
    scanvi = SCANVI(dataset.nb_genes, dataset.n_batches, dataset.n_labels)
    trainer = SemiSupervisedTrainer(
        scanvi,
        dataset,
        n_labelled_samples_per_class=args.labelled,
        seed=args.seed,
        show_progbar=False,
        n_epochs_kl_warmup=None,
    )
    trainer.train(n_epochs=args.epochs, lr=1e-3)
    scanvi_time = time.perf_counter() - start
    labelled, unlabelled = trainer.labelled_set, trainer.unlabelled_set

    scvi.set_seed(args.seed)
    start = time.perf_counter()
    classifier = Classifier(dataset.nb_genes, n_labels=dataset.n_labels)
    raw = ClassifierTrainer(classifier, dataset, show_progbar=False)
    raw.train_set = raw.create_posterior(indices=labelled.indices)
    raw.test_set = raw.create_posterior(indices=unlabelled.indices)
    raw.train(n_epochs=args.epochs, lr=1e-3)
    raw_time = time.perf_counter() - start

    x_train, y_train = labelled.raw_data()
    x_test, y_test = unlabelled.raw_data()
    (_, svc), _ = compute_accuracy_svc(
        np.log1p(x_train),
        y_train,
        np.log1p(x_test),
        y_test,
        param_grid=[{"C": [0.01, 0.1, 1, 10], "kernel": ["linear"]}],
    )
    oracle = oracle_accuracy(
        counts, labels, batches, programs, batch_factor, unlabelled.indices
    )

    rows = [
        ("oracle (true means)", oracle, ""),
        ("scANVI", unlabelled.accuracy(), f"{scanvi_time:.0f} s"),
        (
            "classifier on raw counts",
            raw.test_set.accuracy(),
            f"{raw_time:.1f} s; {raw.train_set.accuracy():.3f} on its train cells",
        ),
        ("linear SVC on log1p counts", svc.unweighted, ""),
        ("5-NN on scANVI latent space", labelled.nn_latentspace(unlabelled), ""),
    ]
    print(f"accuracy on the {unlabelled.nb_cells} unlabelled cells")
    for name, accuracy, note in rows:
        print(f"  {name:<28} {accuracy:.4f}" + (f"  ({note})" if note else ""))


if __name__ == "__main__":
    main()
