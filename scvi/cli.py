"""The ``scvi`` command line.

``scvi train INPUT --out OUT.h5ad`` fits scVI (a :class:`~scvi.models.VAE` trained
by :class:`~scvi.inference.UnsupervisedTrainer`) to a count matrix and writes an
``.h5ad`` file holding the counts, the latent space (``obsm["X_scVI"]``) and the
normalized expression (``layers["scvi_normalized"]``) of every cell.
``scvi train --demo --out OUT.h5ad`` does the same on a synthetic dataset, offline.
``scvi demo`` builds a synthetic dataset and prints it.

Errors a user can fix (a missing file, an unknown format or batch key, a bad
option value, an existing output) print ``scvi: error: ...`` and exit with status 2.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from typing import List, Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

LIKELIHOODS = ("zinb", "nb", "poisson")
DISPERSIONS = ("gene", "gene-batch", "gene-label", "gene-cell")
# column / attribute names that hold the cell names of the formats read
_LOOM_CELL_NAMES = ("CellID", "obs_names", "cell_names", "CellName")
_NOT_BATCH_KEYS = {"local_means", "local_vars"}
_TABLE_SUFFIXES = tuple(
    f".{kind}{compression}"
    for kind in ("csv", "tsv")
    for compression in ("", ".gz", ".bz2", ".xz")
)


class _UsageError(Exception):
    """A bad command line, reported by :func:`main` as ``scvi: error: ...``."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors reach :func:`main` instead of exiting."""

    def error(self, message):
        raise _UsageError(self, message)


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= {low}, got {text!r}"
            )
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _float_in(low: float, high: float, low_open: bool, high_open: bool, what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (above and below):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = what
    return parse


_positive_float = _float_in(0.0, float("inf"), True, True, "a number > 0")
_fraction = _float_in(0.0, 1.0, True, False, "a number in (0, 1]")
_rate = _float_in(0.0, 1.0, False, True, "a number in [0, 1)")


# --------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    from . import set_seed
    from .dataset import SyntheticDataset

    set_seed(args.seed)
    dataset = SyntheticDataset(
        batch_size=args.cells_per_batch,
        nb_genes=args.genes,
        n_batches=args.batches,
        n_labels=args.labels,
    )
    print(dataset)
    return 0


# ------------------------------------------------------------------ reading
def input_format(path: str) -> str:
    """The format of ``INPUT``: ``"h5ad"``, ``"loom"``, ``"10x"`` or ``"csv"``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If its format is not one of those read.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"input {path!r} does not exist")
    if os.path.isdir(path):
        return "10x"
    name = os.path.basename(path).lower()
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith(".loom"):
        return "loom"
    if name.endswith(_TABLE_SUFFIXES):
        return "csv"
    if name.endswith((".mtx", ".mtx.gz")):
        return "10x"  # matrix.mtx[.gz] of a Cell Ranger folder: read the folder
    raise ValueError(
        f"unknown format of input {path!r}: expected a .h5ad file, a .loom file, a "
        ".csv/.tsv file (possibly .gz) or a 10x Cell Ranger folder (matrix.mtx[.gz], "
        "genes.tsv or features.tsv[.gz], barcodes.tsv[.gz])"
    )


def _unknown_batch_key(key: str, where: str, available) -> ValueError:
    listed = ", ".join(repr(str(a)) for a in available) or "none"
    return ValueError(f"unknown batch key {key!r}: {where}; available: {listed}")


def _one_column(values) -> bool:
    values = np.asarray(values)
    return values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)


def _batches_from_attribute(dataset, key: str, where: str) -> None:
    """Use the cell attribute ``key`` of ``dataset`` as its batches."""
    if key == "batch_indices":
        return
    available = [
        name
        for name in dataset.cell_attribute_names
        if name not in _NOT_BATCH_KEYS and _one_column(getattr(dataset, name))
    ]
    if key not in available:
        raise _unknown_batch_key(key, where, sorted(available))
    values = np.asarray(getattr(dataset, key)).reshape(-1)
    _, codes = np.unique(values.astype(str), return_inverse=True)
    dataset.batch_indices = codes.astype(np.int64)


def _read_h5ad(path: str, batch_key: Optional[str], use_raw: bool):
    import anndata

    from .dataset import AnnDatasetFromAnnData

    try:
        ad = anndata.read_h5ad(path)
    except (OSError, KeyError, TypeError) as error:
        raise ValueError(f"could not read {path} as a .h5ad file: {error}") from None
    if batch_key is not None and batch_key not in ad.obs.columns:
        raise _unknown_batch_key(
            batch_key, f"{path} has no such obs column", list(ad.obs.columns)
        )
    dataset = AnnDatasetFromAnnData(
        ad, batch_label=batch_key or "batch_indices", use_raw=use_raw
    )
    extra_obs = {}
    if batch_key is not None:
        extra_obs[batch_key] = ad.obs[batch_key].to_numpy()
    return dataset, np.asarray(ad.obs_names).astype(str), extra_obs


def _read_loom(path: str, batch_key: Optional[str]):
    import h5py

    from .dataset import LoomDataset

    if batch_key is not None:
        try:
            with h5py.File(path, "r") as file:
                group = file.get("col_attrs")
                available = sorted(group.keys()) if group is not None else []
        except OSError as error:
            raise ValueError(
                f"could not read {path} as a .loom (HDF5) file: {error}"
            ) from None
        if batch_key not in available:
            raise _unknown_batch_key(
                batch_key, f"{path} has no such column attribute", available
            )
    folder, name = os.path.split(os.path.abspath(path))
    if batch_key is None:
        dataset = LoomDataset(name, save_path=folder)
    else:
        dataset = LoomDataset(
            name, save_path=folder, batch_indices_attribute_name=batch_key
        )
    names = None
    for attribute in _LOOM_CELL_NAMES:
        if attribute in dataset.cell_attribute_names:
            names = np.asarray(getattr(dataset, attribute)).reshape(-1).astype(str)
            break
    return dataset, names, {}


def _read_10x(path: str, batch_key: Optional[str]):
    from .dataset import Dataset10X

    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    dataset = Dataset10X(save_path=folder)
    if batch_key is not None:
        _batches_from_attribute(
            dataset,
            batch_key,
            f"{folder} has no such cell attribute ('batch_indices' holds the "
            "barcode suffixes, AAACCTG-2 -> 2)",
        )
    names = None
    if "barcodes" in dataset.cell_attribute_names:
        names = np.asarray(dataset.barcodes).reshape(-1).astype(str)
    return dataset, names, {}


def _read_csv(path: str, batch_key: Optional[str], cells_by_genes: bool):
    from .dataset import GeneExpressionDataset
    from .dataset.csv import read_count_table

    if batch_key is not None:
        raise ValueError(
            f"--batch-key cannot be used with a .csv/.tsv input: {path} holds counts "
            "only, no cell annotation (write an .h5ad file with a batch column)"
        )
    name = os.path.basename(path).lower()
    sep = "\t" if ".tsv" in name else ","
    table = read_count_table(path, sep=sep)
    if cells_by_genes:
        cell_names, gene_names = table.index, table.columns
        X = table.to_numpy(dtype=np.float32)
    else:
        gene_names, cell_names = table.index, table.columns
        X = np.ascontiguousarray(table.to_numpy(dtype=np.float32).T)
    del table
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(X, gene_names=np.asarray(gene_names).astype(str))
    return dataset, np.asarray(cell_names).astype(str), {}


def _read_demo(args: argparse.Namespace):
    from .dataset import SyntheticDataset

    dataset = SyntheticDataset(
        batch_size=args.demo_cells_per_batch,
        nb_genes=args.demo_genes,
        n_batches=args.demo_batches,
    )
    if args.batch_key is not None:
        _batches_from_attribute(
            dataset, args.batch_key, "the demo dataset has no such cell attribute"
        )
    names = np.array([f"cell_{i}" for i in range(dataset.nb_cells)])
    return dataset, names, {}


def load_input(args: argparse.Namespace) -> Tuple[object, np.ndarray, dict, str]:
    """The dataset to train on, its cell names, obs columns to add, its format."""
    if args.demo:
        fmt = "demo"
        dataset, names, extra_obs = _read_demo(args)
    else:
        fmt = input_format(args.input)
        if fmt == "h5ad":
            dataset, names, extra_obs = _read_h5ad(
                args.input, args.batch_key, args.use_raw
            )
        elif fmt == "loom":
            dataset, names, extra_obs = _read_loom(args.input, args.batch_key)
        elif fmt == "10x":
            dataset, names, extra_obs = _read_10x(args.input, args.batch_key)
        else:
            dataset, names, extra_obs = _read_csv(
                args.input, args.batch_key, args.cells_by_genes
            )
    if args.batch_key is not None:
        dataset.remap_categorical_attributes(["batch_indices"])
    if names is None or len(names) != dataset.nb_cells:
        names = np.arange(dataset.nb_cells).astype(str)
    return dataset, names, extra_obs, fmt


def _check_counts(dataset, where: str) -> None:
    """Refuse negative values, warn about non-integer ones."""
    import scipy.sparse as sp_sparse

    X = dataset.X
    values = X.data if sp_sparse.issparse(X) else np.asarray(X)
    if values.size == 0:
        raise ValueError(f"{where} holds no counts (an empty matrix)")
    if values.min() < 0:
        raise ValueError(
            f"{where} holds negative values: scVI models raw counts (for an .h5ad "
            "file with counts in .raw, use --use-raw)"
        )
    if not np.array_equal(values, np.round(values)):
        logger.warning(
            "%s holds non-integer values: scVI models raw counts, not normalized "
            "data",
            where,
        )


# ------------------------------------------------------------------ writing
def _check_output(path: str, force: bool) -> str:
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise ValueError(f"--out {path!r} is a folder; give a file name (OUT.h5ad)")
    if os.path.exists(path) and not force:
        raise FileExistsError(
            f"--out {path!r} already exists; use --force to overwrite it"
        )
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the folder of --out, {folder!r}, does not exist")
    return path


def write_h5ad_atomically(adata, path: str) -> None:
    """Write ``adata`` to a temporary file beside ``path``, then rename it."""
    folder, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private
        adata.write_h5ad(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# ------------------------------------------------------------------ training
def _train(args: argparse.Namespace) -> int:
    if args.demo and args.input is not None:
        raise ValueError("give either INPUT or --demo, not both")
    if not args.demo and args.input is None:
        raise ValueError("give an INPUT file or folder to train on, or --demo")
    if args.dispersion == "gene-batch" and args.batch_key is None:
        raise ValueError("--dispersion gene-batch needs batches: give --batch-key")
    out = _check_output(args.out, args.force)

    import torch

    from . import __version__, set_seed
    from .inference import UnsupervisedTrainer
    from .models import VAE

    set_seed(args.seed)
    dataset, cell_names, extra_obs, fmt = load_input(args)
    where = "the demo dataset" if args.demo else args.input
    _check_counts(dataset, where)
    n_train = int(np.floor(args.train_size * dataset.nb_cells))
    if n_train < 3:
        raise ValueError(
            f"{where} has {dataset.nb_cells} cells, {n_train} for training with "
            f"--train-size {args.train_size}: at least 3 are needed"
        )
    n_batch = dataset.n_batches if args.batch_key is not None else 0
    use_cuda = bool(args.use_cuda)
    if use_cuda and not torch.cuda.is_available():
        logger.warning("--use-cuda: no CUDA device is available, training on the CPU")
        use_cuda = False
    logger.info(
        "Training scVI on %i cells x %i genes (%s), %s",
        dataset.nb_cells,
        dataset.nb_genes,
        fmt,
        f"{n_batch} batches" if n_batch else "no batch correction",
    )

    model = VAE(
        dataset.nb_genes,
        n_batch=n_batch,
        n_labels=dataset.n_labels if args.dispersion == "gene-label" else 0,
        n_hidden=args.n_hidden,
        n_latent=args.n_latent,
        n_layers=args.n_layers,
        dropout_rate=args.dropout_rate,
        dispersion=args.dispersion,
        reconstruction_loss=args.likelihood,
    )
    trainer = UnsupervisedTrainer(
        model,
        dataset,
        train_size=args.train_size,
        n_epochs_kl_warmup=args.n_epochs_kl_warmup,
        use_cuda=use_cuda,
        show_progbar=not args.no_progress,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    begin = time.time()
    trainer.train(n_epochs=args.epochs, lr=args.lr)
    training_time = time.time() - begin

    full = trainer.create_posterior(
        trainer.model, dataset, indices=np.arange(dataset.nb_cells)
    ).sequential(batch_size=args.batch_size)
    latent, _, _ = full.get_latent(give_mean=True)
    normalized = full.get_sample_scale()
    elbo_train = float(trainer.train_set.elbo())
    elbo_test = None
    if len(trainer.test_set.indices):
        elbo_test = float(trainer.test_set.elbo())

    adata = dataset.to_anndata()
    adata.obs_names = cell_names
    for column, values in extra_obs.items():
        if column not in adata.obs.columns:
            adata.obs[column] = values
    adata.obsm["X_scVI"] = np.asarray(latent, dtype=np.float32)
    adata.layers["scvi_normalized"] = np.asarray(normalized, dtype=np.float32)
    settings = {
        "scvi_version": __version__,
        "input": "demo" if args.demo else os.path.abspath(args.input),
        "input_format": fmt,
        "batch_key": args.batch_key or "",
        "n_batch": int(n_batch),
        "n_epochs": args.epochs,
        "n_latent": args.n_latent,
        "n_hidden": args.n_hidden,
        "n_layers": args.n_layers,
        "dropout_rate": args.dropout_rate,
        "likelihood": args.likelihood,
        "dispersion": args.dispersion,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "train_size": args.train_size,
        "n_epochs_kl_warmup": args.n_epochs_kl_warmup,
        "seed": args.seed,
        "use_cuda": bool(trainer.use_cuda),
        "training_time_s": float(training_time),
        "elbo_train_set": elbo_train,
    }
    if elbo_test is not None:
        settings["elbo_test_set"] = elbo_test
    adata.uns["scvi"] = settings
    write_h5ad_atomically(adata, out)

    held_out = "" if elbo_test is None else f", test {elbo_test:.2f}"
    print(
        f"Wrote {out}: {adata.n_obs} cells x {adata.n_vars} genes, "
        f"obsm['X_scVI'] {adata.obsm['X_scVI'].shape}, layers['scvi_normalized']; "
        f"negative ELBO per cell: train {elbo_train:.2f}{held_out}"
    )
    return 0


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scvi`` command."""
    parser = _Parser(prog="scvi", description="Single-cell Variational Inference")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train scVI on a count matrix and write its latent space to an .h5ad",
        description="Train scVI (a VAE) on the counts of INPUT and write OUT.h5ad: "
        "the counts and cell annotations, obsm['X_scVI'] (latent means, in the "
        "cell order of INPUT), layers['scvi_normalized'] (normalized expression, "
        "rows summing to 1) and uns['scvi'] (settings, final ELBO).",
    )
    train.add_argument(
        "input",
        nargs="?",
        metavar="INPUT",
        help="a .h5ad file, a .loom file, a 10x Cell Ranger folder (matrix.mtx[.gz], "
        "genes.tsv or features.tsv[.gz], barcodes.tsv[.gz]) or a .csv/.tsv[.gz] "
        "table (genes x cells unless --cells-by-genes)",
    )
    train.add_argument(
        "--demo",
        action="store_true",
        help="train on a built-in synthetic dataset instead of INPUT (offline)",
    )
    train.add_argument("--out", required=True, metavar="OUT.h5ad", help="output file")
    train.add_argument(
        "--force", action="store_true", help="overwrite --out if it exists"
    )
    data = train.add_argument_group("input")
    data.add_argument(
        "--batch-key",
        metavar="KEY",
        help="obs column (h5ad), column attribute (loom) or cell attribute ('batch_"
        "indices': barcode suffix, for 10x) naming each cell's batch; default: "
        "no batch correction",
    )
    data.add_argument(
        "--cells-by-genes",
        action="store_true",
        help="a .csv/.tsv input has one row per cell (default: one row per gene)",
    )
    data.add_argument(
        "--use-raw",
        action="store_true",
        help="read the counts of an .h5ad input from .raw",
    )
    model = train.add_argument_group("model")
    model.add_argument("--n-latent", type=_int_at_least(1), default=10)
    model.add_argument("--n-hidden", type=_int_at_least(1), default=128)
    model.add_argument("--n-layers", type=_int_at_least(1), default=1)
    model.add_argument("--dropout-rate", type=_rate, default=0.1)
    model.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        default="zinb",
        help="count distribution (default: zinb)",
    )
    model.add_argument(
        "--dispersion",
        choices=DISPERSIONS,
        default="gene",
        help="inverse dispersion per gene, per gene and batch, ... (default: gene)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument(
        "--epochs", type=_int_at_least(1), default=400, help="(default: 400)"
    )
    fit.add_argument(
        "--lr", type=_positive_float, default=1e-3, help="learning rate (1e-3)"
    )
    fit.add_argument(
        "--batch-size",
        type=_int_at_least(3),
        default=128,
        help="mini-batch size (default: 128)",
    )
    fit.add_argument(
        "--train-size",
        type=_fraction,
        default=0.9,
        help="fraction of the cells trained on; the others give the test ELBO "
        "(default: 0.9, as in the scVI tutorial; 1.0 trains on all cells)",
    )
    fit.add_argument(
        "--n-epochs-kl-warmup",
        type=_int_at_least(0),
        default=400,
        help="epochs of linear warm-up of the KL term (default: 400)",
    )
    fit.add_argument("--seed", type=_int_at_least(0), default=0, help="(default: 0)")
    fit.add_argument(
        "--use-cuda", action="store_true", help="train on the GPU if there is one"
    )
    fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo_data = train.add_argument_group("--demo dataset")
    demo_data.add_argument("--demo-cells-per-batch", type=_int_at_least(1), default=200)
    demo_data.add_argument("--demo-genes", type=_int_at_least(1), default=100)
    demo_data.add_argument("--demo-batches", type=_int_at_least(1), default=2)
    train.set_defaults(handler=_train)

    demo = commands.add_parser(
        "demo", help="build a synthetic dataset offline and print it"
    )
    demo.add_argument("--cells-per-batch", type=int, default=200)
    demo.add_argument("--genes", type=int, default=100)
    demo.add_argument("--batches", type=int, default=2)
    demo.add_argument("--labels", type=int, default=3)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``scvi`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as error:
        error.parser.print_usage(sys.stderr)
        print(f"scvi: error: {error}", file=sys.stderr)
        return 2
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"scvi: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scvi: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
