"""The ``scvi`` command line.

``scvi train INPUT --out OUT.h5ad`` fits scVI (a :class:`~scvi.models.VAE` trained
by :class:`~scvi.inference.UnsupervisedTrainer`) to a count matrix and writes an
``.h5ad`` file holding the counts, the latent space (``obsm["X_scVI"]``) and the
normalized expression (``layers["scvi_normalized"]``) of every cell.
``scvi train INPUT --model totalvi --out OUT.h5ad`` fits totalVI (a
:class:`~scvi.models.TOTALVI` trained by :class:`~scvi.inference.TotalTrainer`) to
the genes and protein counts of CITE-seq data (an ``.h5ad`` obsm key named by
``--protein-key``, or 10x antibody capture) and writes ``obsm["X_totalVI"]``,
``layers["totalvi_denoised_genes"]``, ``obsm["totalvi_denoised_proteins"]`` and
``obsm["totalvi_protein_foreground_prob"]`` beside the counts.
``scvi train --demo --out OUT.h5ad`` does the same on a synthetic dataset, offline.
``scvi demo`` builds a synthetic dataset and prints it.

Errors a user can fix (a missing file, an unknown format or batch key, a bad
option value, an existing output) print ``scvi: error: ...`` and exit with status 2.
"""

import sys
from typing import List, Optional

from .models import MODELS
from .parser import DISPERSIONS, LIKELIHOODS, _UsageError, build_parser
from .reading import input_format, load_input
from .writing import write_h5ad_atomically

__all__ = [
    "main",
    "build_parser",
    "input_format",
    "load_input",
    "write_h5ad_atomically",
    "MODELS",
    "LIKELIHOODS",
    "DISPERSIONS",
]


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``scvi`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # for --nproc
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
