"""The argument parser of the ``scvi`` command and its value types."""

import argparse

from .commands import demo as run_demo
from .commands import train as run_train
from .models import DEFAULT_N_SAMPLES, MODEL_DEFAULTS, MODELS
from .proteins import DEFAULT_PROTEIN_KEY

LIKELIHOODS = ("zinb", "nb", "poisson")
DISPERSIONS = ("gene", "gene-batch", "gene-label", "gene-cell")


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


def _by_model(option: str) -> str:
    """``(default: 10 for scvi, 20 for totalvi)``: the defaults of an option."""
    values = [f"{MODEL_DEFAULTS[m][option]} for {m}" for m in MODELS]
    return f"(default: {', '.join(values)})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scvi`` command."""
    parser = _Parser(prog="scvi", description="Single-cell Variational Inference")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train scVI (or totalVI on genes and proteins) on a count matrix and "
        "write its latent space to an .h5ad",
        description="Train scVI (a VAE) on the counts of INPUT and write OUT.h5ad: "
        "the counts and cell annotations, obsm['X_scVI'] (latent means, in the "
        "cell order of INPUT), layers['scvi_normalized'] (normalized expression, "
        "rows summing to 1) and uns['scvi'] (settings, final ELBO). With --model "
        "totalvi, train totalVI (TOTALVI) on the genes and the protein counts "
        "(CITE-seq) of INPUT instead: OUT.h5ad holds the protein counts in "
        "obsm['protein_expression'] (columns named by uns['protein_names']), "
        "obsm['X_totalVI'] (latent means), layers['totalvi_denoised_genes'] "
        "(denoised gene frequencies, rows summing to 1), "
        "obsm['totalvi_denoised_proteins'] (denoised protein expression, "
        "background removed) and obsm['totalvi_protein_foreground_prob'] (the "
        "probability that each protein count is foreground, not background). "
        "--continuous-covariate-keys and --categorical-covariate-keys give either "
        "model extra covariates from the cell columns of an .h5ad or .loom input "
        "(recorded in uns['scvi']). "
        "Defaults marked scvi/totalvi depend on --model (scVI 0.6's defaults).",
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
    train.add_argument(
        "--model",
        choices=MODELS,
        default="scvi",
        help="scvi: scVI on the genes; totalvi: totalVI on the genes and proteins "
        "(an .h5ad input with the protein counts in obsm, a 10x folder with "
        "'Antibody Capture' features, or --demo) (default: scvi)",
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
        "--continuous-covariate-keys",
        nargs="+",
        metavar="KEY",
        help="numeric obs columns (h5ad) or column attributes (loom) given to the "
        "model as continuous covariates (cell attribute 'cont_covs', "
        "n_continuous_cov), in this order; every value must be finite",
    )
    data.add_argument(
        "--categorical-covariate-keys",
        nargs="+",
        metavar="KEY",
        help="obs columns (h5ad) or column attributes (loom) given to the model as "
        "extra categorical covariates beside the batch (cell attribute 'cat_covs', "
        "codes 0..k-1 of the sorted values, or of the categories of a categorical "
        "column; n_cats_per_cov); no value may be missing",
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
    data.add_argument(
        "--protein-key",
        metavar="KEY",
        help="--model totalvi: the obsm key of an .h5ad input holding the protein "
        "counts (cells x proteins), named by uns['protein_names'], else by the "
        "columns of an obsm DataFrame, else p0, p1, ... (default: "
        f"{DEFAULT_PROTEIN_KEY})",
    )
    model = train.add_argument_group("model")
    model.add_argument("--n-latent", type=_int_at_least(1), help=_by_model("n_latent"))
    model.add_argument("--n-hidden", type=_int_at_least(1), help=_by_model("n_hidden"))
    model.add_argument(
        "--n-layers",
        type=_int_at_least(1),
        default=1,
        help="hidden layers of the encoder (and of the decoder for totalvi) "
        "(default: 1)",
    )
    model.add_argument("--dropout-rate", type=_rate, help=_by_model("dropout_rate"))
    model.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        help="count distribution of the genes (totalvi: nb or zinb) "
        + _by_model("likelihood"),
    )
    model.add_argument(
        "--dispersion",
        choices=DISPERSIONS,
        default="gene",
        help="inverse dispersion per gene, per gene and batch, ... (totalvi: not "
        "gene-cell) (default: gene)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument("--epochs", type=_int_at_least(1), help=_by_model("epochs"))
    fit.add_argument(
        "--lr", type=_positive_float, help="learning rate " + _by_model("lr")
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
        help="epochs of linear warm-up of the KL term (default: 400 for scvi; for "
        "totalvi, 0.75 x the number of cells in mini-batch iterations)",
    )
    fit.add_argument(
        "--modern",
        action="store_true",
        help="the 'modern' preset of the model (observed library size; epochs "
        "by dataset size unless --epochs; for scvi, a KL warm-up of min(epochs, "
        "400) unless --n-epochs-kl-warmup), see "
        "docs/modern_options.rst",
    )
    fit.add_argument("--seed", type=_int_at_least(0), default=0, help="(default: 0)")
    fit.add_argument(
        "--use-cuda", action="store_true", help="train on the GPU if there is one"
    )
    fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fit.add_argument(
        "--nproc",
        type=_int_at_least(1),
        default=1,
        help="train data-parallel in this many processes on this machine "
        "(torch.distributed: gloo on the CPU, NCCL with --use-cuda, one GPU each); "
        "rank 0 writes --out (default: 1)",
    )
    total = train.add_argument_group("--model totalvi")
    total.add_argument(
        "--n-samples",
        type=_int_at_least(1),
        help="posterior samples averaged for the denoised expression and the "
        f"foreground probabilities (default: {DEFAULT_N_SAMPLES})",
    )
    total.add_argument(
        "--no-early-stopping",
        action="store_true",
        help="train for --epochs epochs; by default training stops when the test "
        "ELBO stalls, lowering the learning rate on plateaus, and keeps the best "
        "model (scVI 0.6's totalVI defaults; none with --train-size 1)",
    )
    demo_data = train.add_argument_group("--demo dataset")
    demo_data.add_argument("--demo-cells-per-batch", type=_int_at_least(1), default=200)
    demo_data.add_argument("--demo-genes", type=_int_at_least(1), default=100)
    demo_data.add_argument("--demo-batches", type=_int_at_least(1), default=2)
    train.set_defaults(handler=run_train)

    demo = commands.add_parser(
        "demo", help="build a synthetic dataset offline and print it"
    )
    demo.add_argument("--cells-per-batch", type=int, default=200)
    demo.add_argument("--genes", type=int, default=100)
    demo.add_argument("--batches", type=int, default=2)
    demo.add_argument("--labels", type=int, default=3)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=run_demo)
    return parser
