"""``optex gateway --home DIR --engine HOST:PORT [--node http://HOST:PORT]``: the
Deribit-compatible JSON-RPC gateway (HTTP and WebSocket, TLS with ``--cert``/``--key``) in front
of an engine service, forwarding chain proofs to a validator node's RPC."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optex.gateway import PASSWORD_ENV, ServeOptions, init_home, resolve_password, run


def register(subparsers: Any) -> None:
    """Add ``gateway`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "gateway",
        help="run the Deribit-compatible JSON-RPC gateway (HTTP and WebSocket)",
        description=(
            "Serve JSON-RPC 2.0 over HTTP (/api/v2/...) and WebSocket (/ws/api/v2), compatible "
            "with Deribit's API v2, in front of an engine service. Orders from API keys are "
            f"signed with the gateway's delegated trading key (password: ${PASSWORD_ENV} or "
            "--password-file)."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=run_gateway)


def add_parser(subparsers: Any) -> None:
    """The same as :func:`register` (the name the gateway's brief uses)."""
    register(subparsers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The gateway command's options."""
    parser.add_argument("--home", type=Path, required=True, help="gateway.json, keys, API keys")
    parser.add_argument(
        "--engine",
        default=None,
        metavar="HOST:PORT | ENGINE_HOME",
        help="the engine service (default: gateway.json's engine)",
    )
    parser.add_argument(
        "--listen", default=None, metavar="HOST:PORT", help="default 127.0.0.1:8000"
    )
    parser.add_argument("--cert", type=Path, default=None, help="TLS certificate (PEM): HTTPS/WSS")
    parser.add_argument("--key", type=Path, default=None, help="TLS private key (PEM)")
    parser.add_argument("--password-file", type=Path, default=None, help="the keystore password")
    parser.add_argument(
        "--node",
        default=None,
        metavar="http://HOST:PORT",
        help="a validator node's RPC for public/optex_get_proof (default: gateway.json's node_rpc)",
    )
    parser.add_argument(
        "--init", action="store_true", help="create the home (config and a new key) if missing"
    )


def run_gateway(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM or SIGINT."""
    if args.init:
        init_home(args.home, password=resolve_password(None, args.password_file))
    options = ServeOptions(
        home=args.home,
        engine=args.engine,
        listen=args.listen,
        cert=args.cert,
        key=args.key,
        password_file=args.password_file,
        node=args.node,
    )
    return run(options)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``optex gateway`` on its own (``python -m optex.gateway``)."""
    parser = argparse.ArgumentParser(prog="optex gateway")
    add_arguments(parser)
    return run_gateway(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
