"""``optex audit verify FILE``: check a hash-chained audit log for alteration."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from optex.core import InvalidInput, NotFound
from optex.crypto import AuditAnchor, SecurityReason, verify_audit

_ANCHOR = re.compile(r"([0-9]{1,18}):([0-9a-f]{64})")


def register(subparsers: Any) -> None:
    """Add ``audit`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "audit",
        help="verify security audit logs",
        description="Verify an append-only, hash-chained audit log (JSON lines).",
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = commands.add_parser(
        "verify",
        help="detect altered, removed, reordered (and, with --anchor, cut-off) records",
    )
    verify.add_argument("file", type=Path)
    verify.add_argument("--chain-id", required=True, help="the chain the log belongs to")
    verify.add_argument(
        "--anchor",
        type=_anchor,
        default=None,
        metavar="SEQ:HASH",
        help="a head recorded elsewhere; without it a cut-off tail cannot be detected",
    )
    verify.set_defaults(handler=run_verify)


def _anchor(text: str) -> AuditAnchor:
    match = _ANCHOR.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not SEQ:HASH (64 lower-case hex digits)")
    return AuditAnchor(int(match.group(1)), match.group(2))


def run_verify(args: argparse.Namespace) -> int:
    """Verify the file; exit 0 when intact, 1 (with the first bad line) otherwise."""
    path: Path = args.file
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NotFound(SecurityReason.AUDIT_MALFORMED, f"{path} does not exist") from None
    except OSError as exc:
        raise InvalidInput(SecurityReason.AUDIT_MALFORMED, f"cannot read {path}: {exc}") from None
    with handle:
        report = verify_audit(handle, chain_id=args.chain_id, anchor=args.anchor)
    console = Console()
    if report.head is None:
        console.print(f"{path}: empty log")
    else:
        console.print(
            f"{path}: [green]intact[/green], {report.records} records, "
            f"head {report.head.seq}:{report.head.hash}"
        )
    if args.anchor is None:
        console.print("[dim]no --anchor given: a cut-off tail would not be detected[/dim]")
    return 0
