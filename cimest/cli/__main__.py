"""``python -m cimest.cli``: the same as the ``cimest`` command."""

import sys

from cimest.cli import main

sys.exit(main())
