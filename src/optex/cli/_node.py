"""``optex node``: write a local devnet, and run a validator or full node.

``optex node init --validators N --home DIR`` writes a genesis, encrypted keystores and one home
per node (``DIR/node0`` ...) listening on 127.0.0.1; ``optex node --home DIR/node0`` (or
``optex node run --home ...``) runs one node until SIGINT or SIGTERM. The keystore password
comes from ``OPTEX_NODE_PASSWORD``, ``--password-file``, or the devnet password file that
``init`` writes (devnet only).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from optex.chain.consensus import TimeoutConfig
from optex.node import PASSWORD_ENV, init_network, run_node


def register(subparsers: Any) -> None:
    """Add ``node``, ``node init`` and ``node run`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "node",
        help="run a validator or full node, or write a local devnet",
        description="Run the node of a home directory (the default), or write a local "
        "network's genesis, keys and node homes with 'init'.",
    )
    _run_arguments(parser, argparse.SUPPRESS)
    parser.set_defaults(handler=run, node_command="run")
    commands = parser.add_subparsers(dest="node_command", metavar="SUBCOMMAND")
    run_parser = commands.add_parser("run", help="run the node of a home directory")
    _run_arguments(run_parser, argparse.SUPPRESS)
    run_parser.set_defaults(handler=run)
    init = commands.add_parser("init", help="write a local devnet of N validators")
    add_init_arguments(init)


def add_init_arguments(init: argparse.ArgumentParser) -> None:
    """The arguments of ``node init``, shared with its alias ``optex chain init``."""
    init.add_argument("--validators", type=int, required=True, help="how many validators")
    init.add_argument("--home", type=Path, required=True, help="the devnet's root directory")
    init.add_argument("--chain-id", default="optex-devnet")
    init.add_argument("--base-port", type=int, default=26656, help="node i: p2p base+2i, rpc +1")
    init.add_argument("--users", type=int, default=4, help="funded user accounts to open")
    init.add_argument("--full-nodes", type=int, default=0, help="non-validating nodes to add")
    init.add_argument(
        "--fast", action="store_true", help="short consensus timeouts (one machine only)"
    )
    init.set_defaults(handler=run_init)


def _run_arguments(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--home", type=Path, default=default, help="the node's home directory")
    parser.add_argument(
        "--password-file", type=Path, default=default, help="file holding the keystore password"
    )
    parser.add_argument("--log-level", default=default, help="DEBUG, INFO (default), WARNING")


FAST_TIMEOUTS = TimeoutConfig(
    propose_ms=1000,
    propose_delta_ms=250,
    prevote_ms=300,
    prevote_delta_ms=150,
    precommit_ms=300,
    precommit_delta_ms=150,
    commit_ms=200,
)


def run_init(args: argparse.Namespace) -> int:
    """Write the devnet and print where each node listens."""
    if not 1 <= args.validators <= 100:
        Console(stderr=True).print("[red]error:[/red] --validators must be between 1 and 100")
        return 2
    count = args.validators + args.full_nodes
    ports = [(args.base_port + 2 * i, args.base_port + 2 * i + 1) for i in range(count)]
    network = init_network(
        args.home,
        validators=args.validators,
        genesis_time_ms=time.time_ns() // 1_000_000,
        ports=ports,
        chain_id=args.chain_id,
        users=args.users,
        password=os.environ.get(PASSWORD_ENV) or None,
        timeouts=FAST_TIMEOUTS if args.fast else None,
        full_nodes=args.full_nodes,
    )
    console = Console()
    for home, config in zip(network.homes, network.configs, strict=True):
        console.print(f"{home}: p2p 127.0.0.1:{config.p2p_port}, rpc 127.0.0.1:{config.rpc_port}")
    console.print(f"start each with: optex node --home {network.homes[0]}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one node until it is stopped."""
    home: Path | None = getattr(args, "home", None)
    if home is None:
        Console(stderr=True).print("[red]error:[/red] give --home DIR")
        return 2
    level = getattr(args, "log_level", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return asyncio.run(run_node(home, getattr(args, "password_file", None)))
