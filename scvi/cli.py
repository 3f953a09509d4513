"""The ``scvi`` command line."""

import argparse
import sys
from typing import List, Optional


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scvi`` command."""
    parser = argparse.ArgumentParser(
        prog="scvi", description="Single-cell Variational Inference"
    )
    commands = parser.add_subparsers(dest="command", required=True)
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
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as error:
        print(f"scvi: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
