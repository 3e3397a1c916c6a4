"""``optex chain``: prove an account's balances and positions, and verify such a proof.

``optex chain prove ACCOUNT --home DIR`` reads a node's home (``genesis.json``, ``chain.db``) and
writes a proof of the account at the last committed height; ``optex chain verify PROOF`` checks a
proof file as a light client would and prints what it proves, or why it fails (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from optex.chain import (
    Ledger,
    decode_proof,
    encode_proof,
    prove_account,
    verify_account_proof,
)
from optex.cli._node import add_init_arguments
from optex.core import OptexError


def register(subparsers: Any) -> None:
    """Add ``chain init``, ``chain prove`` and ``chain verify`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "chain",
        help="settlement chain: account proofs for light clients",
        description="Prove an account's balances and positions against a committed block "
        "header, and verify such a proof.",
    )
    commands = parser.add_subparsers(dest="chain_command", metavar="SUBCOMMAND", required=True)
    prove = commands.add_parser("prove", help="write a proof of an account's state")
    prove.add_argument("account", metavar="ACCOUNT")
    prove.add_argument("--home", required=True, type=Path, help="the node's home directory")
    prove.add_argument("--out", type=Path, help="write the proof here (default: stdout)")
    prove.set_defaults(handler=run_prove)
    verify = commands.add_parser("verify", help="check a proof file as a light client")
    verify.add_argument("proof", metavar="PROOF", type=Path)
    verify.add_argument(
        "--validators-hash",
        help="only accept a proof signed by the validator set with this hash (hex)",
    )
    verify.set_defaults(handler=run_verify)
    # The issue names the network writer ``optex chain init``; it is ``optex node init``.
    init = commands.add_parser("init", help="write a local network's genesis, keys and homes")
    add_init_arguments(init)


def run_prove(args: argparse.Namespace) -> int:
    """Write the proof of ``args.account``."""
    ledger = Ledger.open(args.home)
    try:
        data = encode_proof(prove_account(ledger, args.account))
    finally:
        store = ledger.store
        if hasattr(store, "close"):
            store.close()
    if args.out is None:
        sys.stdout.write(data.decode() + "\n")
    else:
        args.out.write_bytes(data + b"\n")
        Console(stderr=True).print(f"wrote the proof of {args.account} to {args.out}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Check a proof file; print what it proves, or why it fails (exit 1)."""
    console = Console()
    try:
        data = args.proof.read_bytes()
    except OSError as exc:
        console.print(f"[red]cannot read {args.proof}:[/red] {exc.strerror}")
        return 1
    trusted = None
    if args.validators_hash is not None:
        try:
            trusted = bytes.fromhex(args.validators_hash)
        except ValueError:
            console.print("[red]--validators-hash is not hexadecimal[/red]")
            return 1
    try:
        proven = verify_account_proof(decode_proof(data), trusted_validators_hash=trusted)
    except OptexError as exc:
        console.print(f"[red]proof rejected:[/red] {exc.message} ({exc.reason} {int(exc.code)})")
        return 1
    record = proven.record
    console.print(
        f"[green]proof verified[/green]: account {proven.account} on {proven.chain_id} "
        f"at height {proven.height} (block time {proven.ts_ms} ms)"
    )
    console.print(f"signed by more than 2/3 of validator set {proven.validators_hash.hex()}")
    if trusted is None:
        console.print(
            "[yellow]note:[/yellow] that set was not pinned; pass --validators-hash with the hash "
            "of a set you trust, or anyone could sign a proof with a set of their own"
        )
    for symbol, amount in sorted(record.balances.items()):
        console.print(f"  balance  {symbol:<24} {amount}")
    for name, position in sorted(record.positions.items()):
        console.print(f"  position {name:<24} {position.quantity} (cost {position.cost})")
    if not record.balances and not record.positions:
        console.print("  (no balances or positions)")
    return 0
