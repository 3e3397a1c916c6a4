"""``optex settle --engine-home DIR --node http://127.0.0.1:PORT --operator-key FILE``: the
settlement batcher, the chain watcher and the withdrawal desk as one process."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optex.crypto import decode_keystore, decrypt_key
from optex.settlement import SettleConfig, run

PASSWORD_ENV = "OPTEX_SETTLE_PASSWORD"  # noqa: S105 - the variable's name, not a password


def add_parser(subparsers: Any) -> None:
    """Add ``settle`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "settle",
        help="settle the engine's fills on chain and feed chain deposits and withdrawals back",
        description=(
            "Follow the engine's journal, settle every fill with both signed orders in "
            "operator-signed trade batches (each exactly once), and feed the chain's deposits "
            "and withdrawals back to the engine."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=run_settle)


def register(subparsers: Any) -> None:
    """The name ``optex.cli._main`` calls for every command module: :func:`add_parser`."""
    add_parser(subparsers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The settle command's options."""
    parser.add_argument("--engine-home", type=Path, required=True, help="the engine's home")
    parser.add_argument("--node", required=True, metavar="http://127.0.0.1:PORT")
    parser.add_argument(
        "--operator-key", type=Path, required=True, help="the operator's keystore file"
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        default=None,
        help=f"file holding the keystore password (default: ${PASSWORD_ENV})",
    )
    parser.add_argument("--home", type=Path, default=None, help="default: ENGINE_HOME/settle")
    parser.add_argument("--journal", default=None, metavar="nats://HOST:PORT | PATH")
    parser.add_argument("--stream", default="OPTEX_JOURNAL")
    parser.add_argument("--chain-id", default="optex-devnet")
    parser.add_argument("--max-fills", type=int, default=200, help="fills per trade batch")
    parser.add_argument("--linger-ms", type=int, default=20, help="wait for more fills")
    parser.add_argument("--log-level", default="INFO")


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        return str(args.password_file.read_text().strip())
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        raise SystemExit(f"no keystore password: set {PASSWORD_ENV} or pass --password-file")
    return password


def run_settle(args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if not 1 <= args.max_fills <= 10_000:
        raise SystemExit("--max-fills must be between 1 and 10000")
    operator = decrypt_key(decode_keystore(args.operator_key.read_bytes()), _password(args))
    config = SettleConfig(
        home=args.home or args.engine_home / "settle",
        engine_home=args.engine_home,
        node=args.node,
        operator=operator,
        journal=args.journal,
        chain_id=args.chain_id,
        stream=args.stream,
        max_fills=args.max_fills,
        linger_ms=max(0, args.linger_ms),
    )
    return run(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``optex settle`` on its own (``python -m optex.cli._settle``)."""
    parser = argparse.ArgumentParser(prog="optex settle")
    add_arguments(parser)
    return run_settle(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
