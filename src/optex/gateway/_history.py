"""Order history: Deribit's ``private/get_order_history_by_instrument`` and ``_by_currency``.

The engine's query index keeps each account's closed orders (filled, cancelled, expired; at most
1,000 per account, saved with every engine snapshot, ``optex.exchange.Queries``); these methods
page through them, most recently closed first, with Deribit's parameters:

* ``count`` (1-1000, default 20) and ``offset`` (default 0);
* ``include_old``: without it only orders closed in the last two days are listed, as Deribit
  does;
* ``include_unfilled``: without it orders closed with nothing filled (cancelled or expired
  untouched) are left out, as Deribit does.

States are reported as Deribit reports them: ``filled``, ``cancelled`` (with ``cancel_reason``),
and ``expired`` orders as ``cancelled`` with ``cancel_reason: "expired"``. Orders the engine
rejects are refused at placement with an error and never get an order id, so no history lists
them.
"""

from __future__ import annotations

from typing import Any, Final

from optex.core import InvalidInput
from optex.crypto import Access, Area
from optex.gateway._convert import order_json
from optex.gateway._gateway import SETTLEMENT, Call
from optex.gateway._methods import Method, Param
from optex.gateway._reasons import GatewayReason

RECENT_MS: Final = 2 * 24 * 3600 * 1000
"""What Deribit counts as recent: orders closed longer ago need ``include_old``."""
DEFAULT_COUNT: Final = 20
_READ_TRADE: Final = (Area.TRADE, Access.READ)


def _paging(call: Call) -> dict[str, Any]:
    """The engine query's paging and age arguments from Deribit's parameters."""
    count = call.args.get("count", DEFAULT_COUNT)
    if not 1 <= count <= 1000:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "count is 1 to 1000", param="count")
    offset = call.args.get("offset", 0)
    if offset > 100_000:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "offset is 0 to 100000", param="offset")
    args: dict[str, Any] = {
        "account": call.account,
        "count": count,
        "offset": offset,
        "include_unfilled": call.args.get("include_unfilled", False),
    }
    if not call.args.get("include_old", False):
        args["since_ms"] = call.now_ms - RECENT_MS
    return args


async def _answer(call: Call, args: dict[str, Any]) -> list[dict[str, Any]]:
    link = call.gateway.link
    views = await link.query("order_history", **args)
    return [order_json(view, await link.instrument(view["instrument"])) for view in views]


async def get_order_history_by_instrument(call: Call) -> Any:
    instrument = await call.gateway.link.instrument(call.args["instrument_name"])
    return await _answer(call, {**_paging(call), "instrument": instrument.name})


async def get_order_history_by_currency(call: Call) -> Any:
    args = _paging(call)
    currency = call.args["currency"].upper()
    kind = call.args.get("kind", "any")
    if kind == "spot":
        return []  # optex lists no spot instruments
    if kind != "any":
        args["kind"] = kind
    link = call.gateway.link
    await link.refresh_instruments()
    underlyings = {instrument.underlying for instrument in link.instruments.values()}
    if currency in underlyings:
        args["underlying"] = currency
    elif currency not in (SETTLEMENT, "ANY"):
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS, f"unknown currency {currency!r:.20}", param="currency"
        )
    return await _answer(call, args)


_PAGING: Final = (
    Param("count", "integer", doc="1-1000 (default 20)"),
    Param("offset", "integer", doc="how many to skip (default 0)"),
    Param("include_old", "boolean", doc="also orders closed more than 2 days ago"),
    Param("include_unfilled", "boolean", doc="also orders closed with nothing filled"),
)

HISTORY_METHODS: Final = (
    Method(
        "private/get_order_history_by_instrument",
        "Your closed orders in an instrument, most recent first",
        get_order_history_by_instrument,
        (
            Param("instrument_name", required=True, doc="e.g. BTC-PERPETUAL", max_length=64),
            *_PAGING,
        ),
        scope=_READ_TRADE,
        result="array",
        tags=("trading",),
    ),
    Method(
        "private/get_order_history_by_currency",
        "Your closed orders in a currency, most recent first",
        get_order_history_by_currency,
        (
            Param("currency", required=True, doc="BTC, ETH, ..., USDC or any", max_length=16),
            Param("kind", choices=("future", "option", "any", "spot")),
            *_PAGING,
        ),
        scope=_READ_TRADE,
        result="array",
        tags=("trading",),
    ),
)
