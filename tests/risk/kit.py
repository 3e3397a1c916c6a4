"""Shared builders for the risk tests: instruments, prices and ledgers in a few lines."""

from __future__ import annotations

from optex.core import Instrument, instrument_from_name
from optex.risk import Ledger, Mark, Prices, RiskParams, add_instrument, deposit

USDC = 1_000_000
"""One USDC in base units."""
BTC = 100_000_000
"""One BTC in base units."""
NOW_MS = 1_790_000_000_000
"""A fixed 'now' (2026-09-21) before every expiry used here."""
DAY_MS = 86_400_000

CALL = "BTC-27DEC26-100000-C"
PUT = "BTC-27DEC26-90000-P"
FUTURE = "BTC-27DEC26"
PERP = "BTC-PERPETUAL"

PARAMS = {"BTC": RiskParams()}


def instrument(name: str) -> Instrument:
    """The instrument ``name`` on the default BTC grid."""
    return instrument_from_name(name)


def ledger_with(*names: str, funds: dict[str, int] | None = None) -> Ledger:
    """A ledger listing ``names`` with deposits ``funds`` (USDC base units per account)."""
    ledger = Ledger()
    for name in names:
        add_instrument(ledger, instrument(name))
    for account, amount in (funds or {}).items():
        deposit(ledger, account, amount)
    return ledger


def prices(index: int, marks: dict[str, int], iv: float = 0.6, ts_ms: int = NOW_MS) -> Prices:
    """Prices with BTC ``index`` and integer ``marks``; options get volatility ``iv``."""
    return Prices(
        index={"BTC": index},
        marks={
            name: Mark(price, iv=iv if name.endswith(("-C", "-P")) else None)
            for name, price in marks.items()
        },
        ts_ms=ts_ms,
    )
