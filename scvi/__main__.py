"""``python -m scvi`` runs the ``scvi`` command."""

import sys

from .cli import main

sys.exit(main())
