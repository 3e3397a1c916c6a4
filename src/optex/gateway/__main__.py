"""``python -m optex.gateway``: the same as ``optex gateway``."""

from __future__ import annotations

import sys

from optex.cli._gateway import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
