"""The order vocabulary every layer shares: side, order type and time in force.

One definition serves the intent a user signs (``optex.crypto``), the engine's commands
(``optex.market``) and the ledger's checks (``optex.chain``), so that what a user signs is
exactly what the engine matches and what the ledger verifies, with no translation between
them. Deribit's spellings (``good_til_cancelled``) are the gateway's to map at the edge.
"""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Which side of the book an order is on."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """How an order trades; stop and take-profit orders wait for a trigger price."""

    LIMIT = "limit"
    MARKET = "market"
    STOP_LIMIT = "stop_limit"
    STOP_MARKET = "stop_market"
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    TAKE_PROFIT_MARKET = "take_profit_market"

    @property
    def has_limit(self) -> bool:
        """Whether the order carries a limit price (and can rest on the book once live)."""
        return self in _LIMIT_TYPES

    @property
    def is_triggered(self) -> bool:
        """Whether the order waits for a trigger price before it is live."""
        return self in _TRIGGERED_TYPES


_LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
_TRIGGERED_TYPES = frozenset(
    {
        OrderType.STOP_LIMIT,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT_LIMIT,
        OrderType.TAKE_PROFIT_MARKET,
    }
)


class TimeInForce(StrEnum):
    """How long an order may rest: until cancelled, until a date, or not at all."""

    GTC = "gtc"
    GTD = "gtd"
    IOC = "ioc"
    FOK = "fok"

    @property
    def rests(self) -> bool:
        """Whether an order with this time in force may rest on the book."""
        return self in (TimeInForce.GTC, TimeInForce.GTD)
