"""``python -m optex.node --home DIR``: run one node (what ``optex node --home DIR`` runs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from optex.node._node import run_node


def main() -> int:
    """Parse ``--home``, ``--password-file`` and ``--log-level`` and run the node."""
    parser = argparse.ArgumentParser(prog="python -m optex.node")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--password-file", type=Path, default=None)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return asyncio.run(run_node(args.home, args.password_file))


if __name__ == "__main__":
    sys.exit(main())
