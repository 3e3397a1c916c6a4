"""``optex engine --home DIR [--journal nats://HOST:PORT | PATH] [--standby]``: the engine
service (sequencer, matching and risk engines, snapshots) as one process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optex.exchange import ServiceConfig, run
from optex.journal import FsyncPolicy


def register(subparsers: Any) -> None:
    """Add ``engine`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "engine",
        help="run the engine service (sequencer, matching and risk engines)",
        description=(
            "Run the engine service: journal every accepted command, then match it with the "
            "risk engine as the pre-trade check; snapshot periodically and recover from "
            "snapshot plus journal. A standby follows a primary's journal read-only."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=run_engine)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The engine command's options."""
    parser.add_argument("--home", type=Path, required=True, help="snapshots and address file")
    parser.add_argument(
        "--journal",
        default=None,
        metavar="nats://HOST:PORT | PATH",
        help="the journal: a file path (default: HOME/journal.optexj) or a NATS JetStream URL",
    )
    parser.add_argument(
        "--standby", action="store_true", help="follow the journal read-only; do not sequence"
    )
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    parser.add_argument("--stream", default="OPTEX_JOURNAL", help="the JetStream stream name")
    parser.add_argument(
        "--fsync", choices=[p.value for p in FsyncPolicy], default=FsyncPolicy.ALWAYS.value
    )
    parser.add_argument("--snapshot-every", type=int, default=10_000, metavar="ENTRIES")
    parser.add_argument("--chain-id", default="optex-devnet")
    parser.add_argument(
        "--events", default=None, metavar="nats://HOST:PORT", help="publish events on NATS"
    )
    parser.add_argument(
        "--delegations",
        type=Path,
        default=None,
        metavar="FILE",
        help="owners' keys and signed trading-key authorizations: accept signed orders",
    )


def run_engine(args: argparse.Namespace) -> int:
    """Run the service until SIGTERM or SIGINT."""
    host, _, port = args.listen.rpartition(":")
    config = ServiceConfig(
        home=args.home,
        journal=args.journal,
        standby=args.standby,
        host=host or "127.0.0.1",
        port=int(port),
        stream=args.stream,
        fsync=FsyncPolicy(args.fsync),
        snapshot_every=max(1, args.snapshot_every),
        chain_id=args.chain_id,
        events=args.events,
        delegations=args.delegations,
    )
    return run(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``optex engine`` on its own (``python -m``-style entry, for tests and scripts)."""
    parser = argparse.ArgumentParser(prog="optex engine")
    add_arguments(parser)
    return run_engine(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
