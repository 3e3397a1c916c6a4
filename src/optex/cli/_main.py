"""The ``optex`` entry point: builds the parser from the command modules and runs one."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Final

from rich.console import Console

from optex import __version__
from optex.core import OptexError

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES: Final = (
    "optex.cli._instruments",
    "optex.cli._keys",
    "optex.cli._audit",
    "optex.cli._chain",
    "optex.cli._engine",
    "optex.cli._gateway",
    "optex.cli._settle",
    "optex.cli._node",
    "optex.cli._simulate",
    "optex.cli._devnet",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="optex",
        description="optex: an open-source hybrid exchange for crypto options and derivatives.",
    )
    parser.add_argument("--version", action="version", version=f"optex {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``optex`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except OptexError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc.message} [dim]({exc.reason})[/dim]")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
