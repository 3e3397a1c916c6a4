"""``optex instruments``: the instruments that would be listed for an underlying today."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.console import Console
from rich.table import Table

from optex.core import (
    DEFAULT_LISTING_RULES,
    ExpirySchedule,
    InstrumentKind,
    asset,
    listed_instruments,
)


def register(subparsers: Any) -> None:
    """Add ``instruments`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "instruments",
        help="list the instruments that would be listed today",
        description="List the perpetual, futures and options that would be listed for an "
        "underlying at the given spot price.",
    )
    parser.add_argument(
        "--underlying", required=True, choices=sorted(DEFAULT_LISTING_RULES), help="e.g. BTC"
    )
    parser.add_argument("--spot", required=True, type=_positive_decimal, help="e.g. 95000")
    parser.add_argument(
        "--date",
        type=_utc_date,
        default=None,
        help="list as of this UTC date (YYYY-MM-DD, at 00:00 UTC); default: now",
    )
    parser.add_argument(
        "--kind", choices=[k.value for k in InstrumentKind], help="show only this kind"
    )
    parser.add_argument("--vol", type=float, default=0.6, help="volatility for strike ranges")
    parser.set_defaults(handler=run)


def _positive_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _utc_date(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-27") from None
    return datetime.combine(day, time(0, 0, tzinfo=UTC))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def run(args: argparse.Namespace) -> int:
    """Print the listing as a table."""
    now = args.date or datetime.now(UTC)
    instruments = listed_instruments(
        args.underlying, args.spot, now, schedule=ExpirySchedule(), vol=args.vol
    )
    if args.kind:
        instruments = [i for i in instruments if i.kind.value == args.kind]
    settlement = asset(DEFAULT_LISTING_RULES[args.underlying].settlement)
    underlying = asset(args.underlying)
    table = Table(
        title=f"{args.underlying} instruments listed at {now:%Y-%m-%d %H:%M} UTC, spot {args.spot}",
    )
    table.add_column("instrument", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("expiry 08:00 UTC", no_wrap=True)
    for column in ("strike", f"tick {settlement.symbol}", f"lot {underlying.symbol}"):
        table.add_column(column, justify="right", no_wrap=True)
    for inst in instruments:
        expiry = (
            datetime.fromtimestamp(inst.expiry_ms / 1000, UTC).strftime("%Y-%m-%d")
            if inst.expiry_ms is not None
            else "-"
        )
        strike = _plain(settlement.to_decimal(inst.strike)) if inst.strike is not None else "-"
        table.add_row(
            inst.name,
            inst.kind.value,
            expiry,
            strike,
            _plain(settlement.to_decimal(inst.tick_size)),
            _plain(underlying.to_decimal(inst.lot_size)),
        )
    console = Console()
    console.print(table)
    console.print(f"{len(instruments)} instruments")
    return 0
