"""optex.cli: the ``optex`` command.

Each subcommand lives in its own module with a ``register(subparsers)`` function and is listed
in :data:`COMMAND_MODULES`; a module whose optional dependencies are missing is skipped with a
note rather than breaking the whole command.
"""

from optex.cli._main import COMMAND_MODULES, build_parser, main

__all__ = ["COMMAND_MODULES", "build_parser", "main"]
