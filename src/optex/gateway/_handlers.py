"""The methods: Deribit API v2's names and shapes, answered from the engine.

:data:`METHODS` is the one table of what the gateway serves; dispatch, parameter checks, the
method list in docs/gateway.md and ``/api/v2/openapi.json`` are all read from it.

Orders from API-key sessions are signed here with the gateway's trading key, which the
account's owner delegated (``provision_account``), and submitted as ``PlaceSignedOrder``: the
engine verifies the signature and the delegation, and the settlement batcher can prove every
matched order on chain. ``private/optex_place_signed_order`` takes an order the user signed
with their own trading key instead.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from decimal import Decimal
from typing import Any, Final

import msgspec

from optex.core import (
    Forbidden,
    Instrument,
    InstrumentKind,
    InvalidInput,
    NotFound,
    OptexError,
    OrderType,
    ReasonCode,
    Side,
    TimeInForce,
    registered_reason_tables,
)
from optex.crypto import (
    Access,
    Area,
    OrderIntent,
    SecurityReason,
    SignedOrder,
    decode_signed_order,
    replacement,
    sign_order,
)
from optex.exchange import SETTLEMENT_WINDOW_MS, PlaceSignedOrder, Receipt
from optex.gateway._convert import (
    TIF_FROM_DERIBIT,
    TYPE_FROM_DERIBIT,
    book_json,
    currency_json,
    instrument_json,
    money,
    order_json,
    position_json,
    price_units,
    public_trade_json,
    quantity_units,
    summary_json,
    ticker_json,
    user_trade_json,
)
from optex.gateway._gateway import SETTLEMENT, Call
from optex.gateway._history import HISTORY_METHODS
from optex.gateway._methods import Method, Param
from optex.gateway._proofs import PROOF_METHODS
from optex.gateway._reasons import GatewayReason
from optex.gateway._withdraw import WITHDRAWAL_METHODS
from optex.market import (
    CancelOrder,
    Fill,
    MarketReason,
    MassCancel,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
)

API_VERSION: Final = "2.1.1"
MAX_LABEL: Final = 64
_READ_ACCOUNT: Final = (Area.ACCOUNT, Access.READ)
_READ_TRADE: Final = (Area.TRADE, Access.READ)
_TRADE: Final = (Area.TRADE, Access.READ_WRITE)
_KINDS: Final = ("future", "option", "any")

# Shared parameters ------------------------------------------------------------------------

INSTRUMENT = Param("instrument_name", required=True, doc="e.g. BTC-27DEC26-100000-C", max_length=64)
CURRENCY = Param("currency", doc="BTC, ETH, ... (the underlying), USDC or any", max_length=16)
KIND = Param("kind", doc="future, option or any", choices=("future", "option", "any", "spot"))
COUNT = Param("count", "integer", doc="how many, 1-1000 (default 10)")
ORDER_ID = Param("order_id", required=True, doc="the order id", max_length=32)
START = Param("start_timestamp", "integer", doc="ms since the epoch")
END = Param("end_timestamp", "integer", doc="ms since the epoch")
SORTING = Param("sorting", choices=("asc", "desc", "default"))
INCLUDE_OLD = Param("include_old", "boolean")
TYPE_FILTER = Param("type", choices=("all", "limit", "trigger_all", "stop_all", "take_all"))
ORDER_PARAMS: Final = (
    INSTRUMENT,
    Param("amount", "number", doc="in coins of the underlying"),
    Param("contracts", "number", doc="as amount (contract size 1)"),
    Param("type", choices=tuple(TYPE_FROM_DERIBIT), doc="default limit"),
    Param("label", doc="client order id, at most 64 printable ASCII", max_length=MAX_LABEL),
    Param("price", "number", doc="in the settlement currency per coin"),
    Param("time_in_force", choices=tuple(TIF_FROM_DERIBIT)),
    Param("post_only", "boolean"),
    Param("reject_post_only", "boolean", doc="must be true with post_only (no repricing)"),
    Param("reduce_only", "boolean"),
    Param("trigger_price", "number"),
    Param("trigger", choices=("mark_price", "index_price", "last_price")),
    Param("max_show", "number"),
    Param("mmp", "boolean"),
)


# Helpers ----------------------------------------------------------------------------------


def _reason(code: int) -> ReasonCode:
    for _, table in registered_reason_tables().values():
        try:
            return table(code)
        except ValueError:
            continue
    return GatewayReason.ORDER_REJECTED


def _rejected(event: OrderRejected) -> OptexError:
    return InvalidInput(_reason(event.code), event.message)


def _order_id(text: Any) -> int:
    if isinstance(text, str) and text.isdigit() and len(text) <= 18:
        return int(text)
    raise InvalidInput(
        GatewayReason.INVALID_PARAMS, "order_id is an optex order id (digits)", param="order_id"
    )


def _label(call: Call) -> str:
    label = call.args.get("label", "")
    if len(label) > MAX_LABEL:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "label is at most 64", param="label")
    return str(label)


def _count(call: Call, default: int = 10) -> int:
    count = call.args.get("count", default)
    if not 1 <= count <= 1000:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "count is 1 to 1000", param="count")
    return int(count)


def _currency_matches(instrument: Instrument, currency: str | None) -> bool:
    return currency in (None, "any", instrument.underlying, instrument.settlement)


def _kind_matches(instrument: Instrument, kind: str | None) -> bool:
    actual = "option" if instrument.kind is InstrumentKind.OPTION else "future"
    return kind in (None, "any", actual)


def _check_currency(call: Call) -> str | None:
    currency = call.args.get("currency")
    if currency is None:
        return None
    currency = currency.upper() if currency.lower() != "any" else "any"
    known = {i.underlying for i in call.gateway.link.instruments.values()} | {SETTLEMENT, "any"}
    if currency not in known:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS, f"unknown currency {currency!r:.20}", param="currency"
        )
    return str(currency)


def _good_til_day_expiry(now_ms: int, longest_ms: int) -> int:
    """The signature expiry of a good-til-day order: Deribit's day ends at the next 08:00 UTC,
    and the engine stops a signed order the settlement window before its signature expires, so
    the signature lasts that much longer and the order trades until 08:00 exactly. Placed in the
    window's first seconds after 08:00, that could be longer than the gateway signs for
    (``longest_ms``, its ``order_signature_ttl_ms``, which keeps slack under the 24 h a
    signature may last), so it is capped there and the order stops earlier that one day."""
    now = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
    cut = now.replace(hour=8, minute=0, second=0, microsecond=0)
    if cut <= now:
        cut += dt.timedelta(days=1)
    end_of_day_ms = int(cut.timestamp() * 1000)
    return min(end_of_day_ms + SETTLEMENT_WINDOW_MS, now_ms + longest_ms)


def _view_from_receipt(
    receipt: Receipt, accepted: OrderAccepted, intent: OrderIntent
) -> dict[str, Any]:
    """The new order's record from its own events (no second round trip)."""
    view: dict[str, Any] = {
        "order_id": accepted.order_id,
        "account": accepted.account,
        "instrument": accepted.instrument,
        "side": accepted.side.value,
        "order_type": accepted.order_type.value,
        "price": accepted.price,
        "quantity": accepted.quantity,
        "created_ms": accepted.ts_ms,
        "updated_ms": accepted.ts_ms,
        "state": "untriggered" if accepted.order_type.is_triggered else "open",
        "filled": 0,
        "filled_cash": 0,
        "client_order_id": accepted.client_order_id,
        "tif": intent.time_in_force.value,
        "post_only": intent.post_only,
        "reduce_only": intent.reduce_only,
        "trigger_price": intent.trigger_price or None,
        "display_quantity": None,
        "cancel_reason": None,
        "signed": True,
    }
    order_id = accepted.order_id
    for event in receipt.events:
        if isinstance(event, Fill) and order_id in (event.taker_order_id, event.maker_order_id):
            view["filled"] += event.quantity
            view["filled_cash"] += event.price * event.quantity
            view["updated_ms"] = event.ts_ms
            view["state"] = "filled" if view["filled"] >= view["quantity"] else "partially_filled"
        elif isinstance(event, OrderTriggered) and event.order_id == order_id:
            view["state"] = "open"
        elif isinstance(event, OrderCancelled) and event.order_id == order_id:
            view["state"] = "cancelled"
            view["cancel_reason"] = event.reason.value
        elif isinstance(event, OrderExpired) and event.order_id == order_id:
            view["state"] = "expired"
    return view


async def _submit_signed(call: Call, command: PlaceSignedOrder) -> dict[str, Any]:
    intent = command.order.intent
    try:
        receipt = await call.gateway.link.submit(command)
    except OptexError as exc:
        if exc.code is not SecurityReason.ORDER_REPLAYED:
            raise
        return await _resent(call, command.order, exc)
    if receipt.duplicate:
        return await _resent(call, command.order, None)
    accepted = None
    for event in receipt.events:
        if isinstance(event, OrderRejected) and event.account == intent.account:
            raise _rejected(event)
        if isinstance(event, OrderAccepted) and event.account == intent.account:
            accepted = event
            break
    if accepted is None:
        raise InvalidInput(GatewayReason.ORDER_REJECTED, "the engine did not accept the order")
    instrument = await call.gateway.link.instrument(intent.instrument)
    view = _view_from_receipt(receipt, accepted, intent)
    trades: list[dict[str, Any]] = []
    fill_count = sum(
        isinstance(e, Fill) and accepted.order_id in (e.taker_order_id, e.maker_order_id)
        for e in receipt.events
    )
    if fill_count:
        trades = await _trades_of(call, intent.account, accepted.order_id, instrument, fill_count)
    return {"order": order_json(view, instrument), "trades": trades}


async def _trades_of(
    call: Call, account: str, order_id: int, instrument: Instrument, count: int
) -> list[dict[str, Any]]:
    """Exactly this order's fills among the account's latest ``count`` (a short scan)."""
    fills = await call.gateway.link.query(
        "user_trades", account=account, order_id=order_id, count=min(count, 1000)
    )
    trades: list[dict[str, Any]] = []
    for trade in fills:
        trades += [
            t for t in user_trade_json(trade, account, instrument) if t["order_id"] == str(order_id)
        ]
    return trades


async def _resent(call: Call, order: SignedOrder, refusal: OptexError | None) -> dict[str, Any]:
    """The answer to a signed order sent again: the original order as it is now, with its
    trades, or the original refusal.

    A client that lost the answer (connection, gateway or engine gone) resends the same bytes;
    the engine never places them twice (replay guard, journal message id ``o:<hash>``) and
    refuses the repeat only after the original was applied, so its outcome can be looked up by
    the order's hash (``signed_outcome`` query). Only an order the engine's index no longer
    holds keeps the refusal.
    """
    link = call.gateway.link
    account = order.intent.account
    try:
        outcome = await link.query("signed_outcome", account=account, hash=order.order_hash.hex())
    except OptexError as exc:
        if exc.code is not MarketReason.UNKNOWN_ORDER:
            raise
        if refusal is not None:
            raise refusal from None
        # Still a replay to the client: it was journaled, so it must not read as "not placed".
        raise InvalidInput(
            SecurityReason.ORDER_REPLAYED,
            "this signed order was sent before; what became of it is no longer known",
        ) from None
    if outcome["order_id"] is None:
        raise InvalidInput(_reason(outcome["code"]), outcome["message"])
    view, instrument = await _order_view(call, outcome["order_id"])
    trades = await _trades_of(call, account, view["order_id"], instrument, 1000)
    return {"order": order_json(view, instrument), "trades": trades}


# Public: market data -----------------------------------------------------------------------


async def get_time(call: Call) -> Any:
    return call.now_ms


async def test(call: Call) -> Any:
    if call.connection is not None:
        call.connection.heartbeat_answered = True
    return {"version": API_VERSION}


async def hello(call: Call) -> Any:
    return {"version": API_VERSION}


async def status(call: Call) -> Any:
    return {"locked": "false", "locked_indices": []}


async def get_currencies(call: Call) -> Any:
    instruments = call.gateway.link.instruments.values()
    codes = sorted({i.underlying for i in instruments} | {i.settlement for i in instruments})
    return [currency_json(code) for code in codes]


async def get_instruments(call: Call) -> Any:
    await call.gateway.link.refresh_instruments()
    currency = _check_currency(call)
    kind = call.args.get("kind")
    expired = call.args.get("expired", False)
    link = call.gateway.link
    return [
        instrument_json(instrument, name in link.expired)
        for name, instrument in sorted(link.instruments.items())
        if _currency_matches(instrument, currency)
        and _kind_matches(instrument, kind)
        and (name in link.expired) == expired
    ]


async def get_instrument(call: Call) -> Any:
    name = call.args["instrument_name"]
    instrument = await call.gateway.link.instrument(name)
    return instrument_json(instrument, name in call.gateway.link.expired)


async def get_order_book(call: Call) -> Any:
    name = call.args["instrument_name"]
    depth = call.args.get("depth", 20)
    if not 1 <= depth <= 1000:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "depth is 1 to 1000", param="depth")
    instrument = await call.gateway.link.instrument(name)
    book = await call.gateway.link.query("book", instrument=name, depth=depth)
    return book_json(book, instrument)


async def ticker(call: Call) -> Any:
    name = call.args["instrument_name"]
    instrument = await call.gateway.link.instrument(name)
    return ticker_json(await call.gateway.link.query("ticker", instrument=name), instrument)


async def get_book_summary_by_instrument(call: Call) -> Any:
    return [_summary(await ticker(call))]


async def get_book_summary_by_currency(call: Call) -> Any:
    currency = _check_currency(call)
    kind = call.args.get("kind")
    link = call.gateway.link
    answers = []
    for name, instrument in sorted(link.instruments.items()):
        if name in link.expired or not _currency_matches(instrument, currency):
            continue
        if not _kind_matches(instrument, kind):
            continue
        answers.append(
            _summary(ticker_json(await link.query("ticker", instrument=name), instrument))
        )
    return answers


def _summary(tick: dict[str, Any]) -> dict[str, Any]:
    stats = tick["stats"]
    return {
        "instrument_name": tick["instrument_name"],
        "bid_price": tick["best_bid_price"] or None,
        "ask_price": tick["best_ask_price"] or None,
        "mid_price": (
            (tick["best_bid_price"] + tick["best_ask_price"]) / 2
            if tick["best_bid_price"] and tick["best_ask_price"]
            else None
        ),
        "last": tick["last_price"],
        "mark_price": tick["mark_price"],
        "mark_iv": tick.get("mark_iv"),
        "underlying_price": tick.get("underlying_price"),
        "estimated_delivery_price": tick["index_price"],
        "open_interest": tick["open_interest"],
        "high": stats["high"],
        "low": stats["low"],
        "volume": stats["volume"],
        "volume_usd": stats["volume_usd"],
        "creation_timestamp": tick["timestamp"],
    }


async def _last_trades(call: Call, name: str, start: int | None, end: int | None) -> Any:
    instrument = await call.gateway.link.instrument(name)
    count = _count(call)
    args: dict[str, Any] = {"instrument": name, "count": count}
    if start is not None:
        args["start_ms"] = start
    if end is not None:
        args["end_ms"] = end
    trades = await call.gateway.link.query("trades", **args)
    answers = [public_trade_json(t, instrument) for t in trades]
    if call.args.get("sorting") == "desc":
        answers.reverse()
    return {"trades": answers, "has_more": False}


async def get_last_trades_by_instrument(call: Call) -> Any:
    return await _last_trades(call, call.args["instrument_name"], None, None)


async def get_last_trades_by_instrument_and_time(call: Call) -> Any:
    return await _last_trades(
        call, call.args["instrument_name"], call.args["start_timestamp"], call.args["end_timestamp"]
    )


async def get_index_price(call: Call) -> Any:
    index_name = call.args["index_name"].lower()
    underlying, _, quote = index_name.partition("_")
    for instrument in call.gateway.link.instruments.values():
        if instrument.underlying.lower() == underlying and quote in ("usd", "usdc"):
            top = await call.gateway.link.query("ticker", instrument=instrument.name)
            if top["index"] is not None:
                price = money(instrument, top["index"])
                return {"index_price": price, "estimated_delivery_price": price}
    raise NotFound(GatewayReason.INVALID_PARAMS, f"no index {index_name!r:.30}", param="index_name")


async def optex_status(call: Call) -> Any:
    engine = await call.gateway.link.status()
    return {
        "role": engine.role,
        "last_seq": engine.last_seq,
        "state_hash": engine.state_hash,
        "snapshot_seq": engine.snapshot_seq,
        "chain_id": call.gateway.config.chain_id,
        "gateway_key": call.gateway.key.public_key.hex(),
    }


# Authentication and sessions ---------------------------------------------------------------


async def auth(call: Call) -> Any:
    raw = {k: v for k, v in call.args.items()}
    call.gateway.reload_keys()
    try:
        result = call.gateway.authenticator.public_auth(raw, ip=call.ip, now_ms=call.now_ms)
    finally:
        # Saved before answering, refused or not: a reused refresh token is refused *and*
        # kills its family, which must survive a restart as much as a new login must.
        await call.gateway.save_tokens()
    if call.connection is not None:
        call.connection.access_token = result.access_token
        call.connection.session = call.gateway.authenticator.authenticate_token(
            result.access_token, ip=call.ip, now_ms=call.now_ms
        )
    answer = msgspec.to_builtins(result)
    answer["enabled_features"] = []
    if "state" in call.args:
        answer["state"] = call.args["state"]
    return answer


async def logout(call: Call) -> Any:
    connection = call.connection
    if connection is not None and connection.access_token is not None:
        call.gateway.authenticator.tokens.revoke(connection.access_token)
        connection.access_token = None
        connection.session = None
        await call.gateway.save_tokens()
    return "ok"


async def set_heartbeat(call: Call) -> Any:
    interval = call.args["interval"]
    shortest = call.gateway.config.limits.min_heartbeat_s
    if not shortest <= interval <= 3600:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            f"interval is {shortest} to 3600 seconds",
            param="interval",
        )
    assert call.connection is not None  # noqa: S101 - websocket_only
    call.connection.heartbeat_s = int(interval)
    call.connection.heartbeat_answered = True
    return "ok"


async def disable_heartbeat(call: Call) -> Any:
    assert call.connection is not None  # noqa: S101 - websocket_only
    call.connection.heartbeat_s = 0
    return "ok"


async def enable_cancel_on_disconnect(call: Call) -> Any:
    assert call.connection is not None  # noqa: S101 - websocket_only
    call.connection.cancel_on_disconnect = True
    return "ok"


async def disable_cancel_on_disconnect(call: Call) -> Any:
    assert call.connection is not None  # noqa: S101 - websocket_only
    call.connection.cancel_on_disconnect = False
    return "ok"


async def get_cancel_on_disconnect(call: Call) -> Any:
    assert call.connection is not None  # noqa: S101 - websocket_only
    return {"scope": "connection", "enabled": call.connection.cancel_on_disconnect}


async def subscribe(call: Call) -> Any:
    connection = call.connection
    assert connection is not None  # noqa: S101 - websocket_only
    hub = call.gateway.hub
    channels = hub.parse(call.args["channels"])
    if any(c.private for c in channels):
        if connection.access_token is None:
            raise InvalidInput(GatewayReason.AUTHORIZATION_REQUIRED, "private channels need auth")
        if call.session is None:
            call.session = call.gateway.authenticator.authenticate_token(
                connection.access_token, ip=call.ip, now_ms=call.now_ms
            )
        for channel in channels:
            if channel.kind in ("user.orders", "user.trades"):
                call.session.scopes.require(*_READ_TRADE)
            elif channel.kind == "user.portfolio":
                call.session.scopes.require(*_READ_ACCOUNT)
    new = {c.name for c in channels} - set(hub.subs.get(connection, {}))
    limit = call.gateway.config.limits.max_subscriptions
    if hub.count(connection) + len(new) > limit:
        raise InvalidInput(
            GatewayReason.TOO_MANY_SUBSCRIPTIONS, f"at most {limit} channels per connection"
        )
    return await hub.subscribe(connection, channels)


async def unsubscribe(call: Call) -> Any:
    assert call.connection is not None  # noqa: S101 - websocket_only
    return call.gateway.hub.unsubscribe(call.connection, call.args["channels"])


async def unsubscribe_all(call: Call) -> Any:
    assert call.connection is not None  # noqa: S101 - websocket_only
    hub = call.gateway.hub
    hub.unsubscribe(call.connection, list(hub.subs.get(call.connection, {})))
    return "ok"


# Private: trading ---------------------------------------------------------------------------


async def buy(call: Call) -> Any:
    return await _place(call, Side.BUY)


async def sell(call: Call) -> Any:
    return await _place(call, Side.SELL)


async def _place(call: Call, side: Side) -> Any:
    args = call.args
    gateway = call.gateway
    instrument = await gateway.link.instrument(args["instrument_name"])
    amount: Decimal | None = args.get("amount", args.get("contracts"))
    if amount is None:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "amount is required", param="amount")
    quantity = quantity_units(instrument, amount)
    order_type = TYPE_FROM_DERIBIT[args.get("type", "limit")]
    price = 0
    if order_type.has_limit:
        if "price" not in args:
            raise InvalidInput(MarketReason.PRICE_REQUIRED, "a limit order needs a price")
        price = price_units(instrument, args["price"])
    trigger_price = 0
    if order_type.is_triggered:
        if "trigger_price" not in args:
            raise InvalidInput(MarketReason.TRIGGER_PRICE_REQUIRED)
        trigger_price = price_units(instrument, args["trigger_price"], "trigger_price")
        if args.get("trigger", "mark_price") != "mark_price":
            raise InvalidInput(
                GatewayReason.INVALID_PARAMS,
                "signed stop orders trigger on the mark price: pass trigger=mark_price",
                param="trigger",
            )
    post_only = bool(args.get("post_only", False))
    if post_only and not args.get("reject_post_only", False):
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            "post_only orders are rejected, never repriced, here: pass reject_post_only=true",
            param="reject_post_only",
        )
    if "max_show" in args and args["max_show"] != amount:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            "iceberg orders (max_show) are not signed yet",
            param="max_show",
        )
    if args.get("mmp", False):
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            "market maker protection groups are not available through the gateway yet",
            param="mmp",
        )
    tif = TIF_FROM_DERIBIT[args.get("time_in_force", "good_til_cancelled")]
    now = call.now_ms
    expiry = now + gateway.config.limits.order_signature_ttl_ms
    if tif is TimeInForce.GTD:
        expiry = _good_til_day_expiry(now, gateway.config.limits.order_signature_ttl_ms)
    try:
        intent = OrderIntent(
            chain_id=gateway.config.chain_id,
            account=call.account,
            instrument=instrument.name,
            side=side,
            order_type=order_type,
            price=price,
            quantity=quantity,
            time_in_force=tif,
            client_order_id=_label(call),
            reduce_only=bool(args.get("reduce_only", False)),
            post_only=post_only,
            trigger_price=trigger_price,
            nonce=gateway.next_nonce(),
            expiry_ms=expiry,
        )
        signed = sign_order(gateway.key, intent)
    except InvalidInput as exc:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, exc.message, **exc.details) from None
    return await _submit_signed(call, PlaceSignedOrder(0, signed))


async def place_signed_order(call: Call) -> Any:
    try:
        data = base64.b64decode(call.args["signed_order"], validate=True)
        order = decode_signed_order(data)
    except (binascii.Error, ValueError, OptexError) as exc:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            f"signed_order is base64 of a canonical SignedOrder: {exc}",
            param="signed_order",
        ) from None
    if order.intent.account != call.account:
        raise Forbidden(GatewayReason.INVALID_PARAMS, "the order is for another account")
    await call.gateway.link.instrument(order.intent.instrument)
    return await _submit_signed(call, PlaceSignedOrder(0, order))


async def _order_view(call: Call, order_id: int) -> tuple[dict[str, Any], Instrument]:
    view = await call.gateway.link.query("order", account=call.account, order_id=order_id)
    return view, await call.gateway.link.instrument(view["instrument"])


async def edit(call: Call) -> Any:
    order_id = _order_id(call.args["order_id"])
    view, instrument = await _order_view(call, order_id)
    price = call.args.get("price")
    amount = call.args.get("amount", call.args.get("contracts"))
    # A signed replacement of the order's governing signed order, by the gateway's delegated
    # key (Deribit's edit: amount is the new total, the filled part included), so that fills
    # after the edit settle on chain like any other (docs/settlement.md).
    gateway = call.gateway
    data = await gateway.link.query("signed_order", account=call.account, order_id=order_id)
    previous = None if data is None else decode_signed_order(data)
    if previous is None or previous.public_key != gateway.key.public_key.raw:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            "only orders the gateway signed can be edited here; replace an order you signed "
            "yourself with a signed replacement (private/optex_place_signed_order)",
            param="order_id",
        )
    now = call.now_ms
    expiry = now + gateway.config.limits.order_signature_ttl_ms
    if previous.intent.time_in_force is TimeInForce.GTD:
        expiry = _good_til_day_expiry(now, gateway.config.limits.order_signature_ttl_ms)
    try:
        intent = replacement(
            previous,
            price=None if price is None else price_units(instrument, price),
            quantity=None if amount is None else quantity_units(instrument, amount),
            trigger_price=(
                None
                if "trigger_price" not in call.args
                else price_units(instrument, call.args["trigger_price"], "trigger_price")
            ),
            nonce=gateway.next_nonce(),
            expiry_ms=expiry,
        )
        command = PlaceSignedOrder(0, sign_order(gateway.key, intent))
    except InvalidInput as exc:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, exc.message, **exc.details) from None
    receipt = await gateway.link.submit(command)
    for event in receipt.events:
        if isinstance(event, OrderRejected):
            raise _rejected(event)
    view, instrument = await _order_view(call, order_id)
    trades: list[dict[str, Any]] = []
    if any(isinstance(e, Fill) for e in receipt.events):
        fills = await call.gateway.link.query(
            "user_trades", account=call.account, order_id=order_id, count=1000
        )
        for trade in fills:
            trades += user_trade_json(trade, call.account, instrument)
    return {"order": order_json(view, instrument), "trades": trades}


async def cancel(call: Call) -> Any:
    order_id = _order_id(call.args["order_id"])
    receipt = await call.gateway.link.submit(CancelOrder(0, call.account, order_id=order_id))
    for event in receipt.events:
        if isinstance(event, OrderRejected):
            raise _rejected(event)
    view, instrument = await _order_view(call, order_id)
    return order_json(view, instrument)


async def cancel_by_label(call: Call) -> Any:
    label = _label(call)
    orders = await call.gateway.link.query("open_orders", account=call.account)
    cancelled = 0
    for view in orders:
        if view["client_order_id"] == label:
            receipt = await call.gateway.link.submit(
                CancelOrder(0, call.account, order_id=view["order_id"])
            )
            cancelled += sum(isinstance(e, OrderCancelled) for e in receipt.events)
    return cancelled


async def _mass_cancel(call: Call, instrument: str | None) -> int:
    receipt = await call.gateway.link.submit(MassCancel(0, call.account, instrument=instrument))
    return sum(isinstance(e, OrderCancelled) for e in receipt.events)


async def cancel_all(call: Call) -> Any:
    return await _mass_cancel(call, None)


async def cancel_all_by_instrument(call: Call) -> Any:
    instrument = await call.gateway.link.instrument(call.args["instrument_name"])
    return await _mass_cancel(call, instrument.name)


async def cancel_all_by_currency(call: Call) -> Any:
    currency = _check_currency(call)
    kind = call.args.get("kind")
    link = call.gateway.link
    orders = await link.query("open_orders", account=call.account)
    names = sorted({view["instrument"] for view in orders})
    cancelled = 0
    for name in names:
        instrument = link.instruments.get(name)
        if instrument is None or not _currency_matches(instrument, currency):
            continue
        if _kind_matches(instrument, kind):
            cancelled += await _mass_cancel(call, name)
    return cancelled


# Private: reading -----------------------------------------------------------------------------


async def _open_orders(
    call: Call, instrument: str | None, currency: str | None, kind: str | None
) -> list[Any]:
    link = call.gateway.link
    args: dict[str, Any] = {"account": call.account}
    if instrument is not None:
        args["instrument"] = instrument
    answers = []
    wanted = call.args.get("type", "all")
    for view in await link.query("open_orders", **args):
        found = await link.instrument(view["instrument"])
        if not (_currency_matches(found, currency) and _kind_matches(found, kind)):
            continue
        triggered = OrderType(view["order_type"]).is_triggered
        if (wanted == "limit" and triggered) or (wanted not in ("all", "limit") and not triggered):
            continue
        answers.append(order_json(view, found))
    return answers


async def get_open_orders_by_instrument(call: Call) -> Any:
    instrument = await call.gateway.link.instrument(call.args["instrument_name"])
    return await _open_orders(call, instrument.name, None, None)


async def get_open_orders_by_currency(call: Call) -> Any:
    return await _open_orders(call, None, _check_currency(call), call.args.get("kind"))


async def get_open_orders(call: Call) -> Any:
    return await _open_orders(call, None, None, call.args.get("kind"))


async def get_order_state(call: Call) -> Any:
    view, instrument = await _order_view(call, _order_id(call.args["order_id"]))
    return order_json(view, instrument)


async def _user_trades(
    call: Call,
    *,
    instrument: str | None = None,
    currency: str | None = None,
    order_id: int | None = None,
    start: int | None = None,
    end: int | None = None,
) -> list[dict[str, Any]]:
    link = call.gateway.link
    args: dict[str, Any] = {"account": call.account, "count": _count(call)}
    if instrument is not None:
        args["instrument"] = instrument
    if order_id is not None:
        args["order_id"] = order_id
        args["count"] = 1000
    if start is not None:
        args["start_ms"] = start
    if end is not None:
        args["end_ms"] = end
    answers = []
    kind = call.args.get("kind")
    for trade in await link.query("user_trades", **args):
        found = await link.instrument(trade["instrument"])
        if _currency_matches(found, currency) and _kind_matches(found, kind):
            for item in user_trade_json(trade, call.account, found):
                if order_id is None or item["order_id"] == str(order_id):
                    answers.append(item)
    if call.args.get("sorting") == "desc":
        answers.reverse()
    return answers


async def get_user_trades_by_instrument(call: Call) -> Any:
    name = (await call.gateway.link.instrument(call.args["instrument_name"])).name
    return {"trades": await _user_trades(call, instrument=name), "has_more": False}


async def get_user_trades_by_instrument_and_time(call: Call) -> Any:
    name = (await call.gateway.link.instrument(call.args["instrument_name"])).name
    trades = await _user_trades(
        call,
        instrument=name,
        start=call.args.get("start_timestamp"),
        end=call.args.get("end_timestamp"),
    )
    return {"trades": trades, "has_more": False}


async def get_user_trades_by_currency(call: Call) -> Any:
    return {"trades": await _user_trades(call, currency=_check_currency(call)), "has_more": False}


async def get_user_trades_by_currency_and_time(call: Call) -> Any:
    trades = await _user_trades(
        call,
        currency=_check_currency(call),
        start=call.args.get("start_timestamp"),
        end=call.args.get("end_timestamp"),
    )
    return {"trades": trades, "has_more": False}


async def get_user_trades_by_order(call: Call) -> Any:
    return await _user_trades(call, order_id=_order_id(call.args["order_id"]))


async def _account(call: Call) -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = await call.gateway.link.query("account", account=call.account)
    except NotFound:
        return None  # no deposit yet: an empty account, not an error
    return answer


async def get_account_summary(call: Call) -> Any:
    _check_currency(call)
    return summary_json(await _account(call), SETTLEMENT, call.gateway.settlement_scale)


async def get_account_summaries(call: Call) -> Any:
    summary = summary_json(await _account(call), SETTLEMENT, call.gateway.settlement_scale)
    return {"id": 0, "username": call.account, "summaries": [summary]}


async def get_positions(call: Call) -> Any:
    currency = _check_currency(call)
    kind = call.args.get("kind")
    account = await _account(call)
    answers = []
    for position in [] if account is None else account["positions"]:
        instrument = await call.gateway.link.instrument(position["instrument"])
        if _currency_matches(instrument, currency) and _kind_matches(instrument, kind):
            answers.append(position_json(position, instrument))
    return answers


async def get_position(call: Call) -> Any:
    instrument = await call.gateway.link.instrument(call.args["instrument_name"])
    account = await _account(call)
    for position in [] if account is None else account["positions"]:
        if position["instrument"] == instrument.name:
            return position_json(position, instrument)
    return position_json(
        {"quantity": 0, "mark": None, "average_price": None, "instrument": instrument.name},
        instrument,
    ) | {"direction": "zero"}


# The table ----------------------------------------------------------------------------------

_CHANNELS = Param("channels", "array", required=True, doc="channel names", max_length=128)

_TABLE: Final = (
    Method(
        "public/auth",
        "Authenticate: client_credentials, client_signature or refresh_token",
        auth,
        (
            Param(
                "grant_type",
                required=True,
                choices=("client_credentials", "client_signature", "refresh_token"),
            ),
            Param("client_id", max_length=64),
            Param("client_secret", max_length=128),
            Param("timestamp", "integer"),
            Param("signature", max_length=256),
            Param("nonce", max_length=64),
            Param("data", max_length=4096),
            Param("refresh_token", max_length=128),
            Param("scope", max_length=512),
            Param("state", max_length=128),
        ),
        tags=("authentication",),
    ),
    Method(
        "private/logout",
        "Revoke this connection's tokens",
        logout,
        websocket_only=True,
        tags=("authentication",),
    ),
    Method("public/get_time", "The server time in ms", get_time, tags=("supporting",)),
    Method(
        "public/test",
        "Answer a heartbeat test_request",
        test,
        (Param("expected_result"),),
        tags=("supporting",),
    ),
    Method(
        "public/hello",
        "Introduce the client",
        hello,
        (Param("client_name"), Param("client_version")),
        tags=("supporting",),
    ),
    Method("public/status", "Whether the platform is locked", status, tags=("supporting",)),
    Method(
        "public/set_heartbeat",
        "Ask for heartbeats every interval seconds",
        set_heartbeat,
        (Param("interval", "integer", required=True),),
        websocket_only=True,
        tags=("session",),
    ),
    Method(
        "public/disable_heartbeat",
        "Stop heartbeats",
        disable_heartbeat,
        websocket_only=True,
        tags=("session",),
    ),
    Method(
        "private/enable_cancel_on_disconnect",
        "Cancel all of the account's orders when this connection closes",
        enable_cancel_on_disconnect,
        (Param("scope", choices=("connection", "account")),),
        websocket_only=True,
        tags=("session",),
    ),
    Method(
        "private/disable_cancel_on_disconnect",
        "Do not cancel on disconnect",
        disable_cancel_on_disconnect,
        (Param("scope", choices=("connection", "account")),),
        websocket_only=True,
        tags=("session",),
    ),
    Method(
        "private/get_cancel_on_disconnect",
        "Whether cancel-on-disconnect is on",
        get_cancel_on_disconnect,
        (Param("scope", choices=("connection", "account")),),
        websocket_only=True,
        tags=("session",),
    ),
    Method(
        "public/subscribe",
        "Subscribe to public channels",
        subscribe,
        (_CHANNELS,),
        websocket_only=True,
        result="array",
        tags=("subscriptions",),
    ),
    Method(
        "private/subscribe",
        "Subscribe to channels, user channels included",
        subscribe,
        (_CHANNELS,),
        websocket_only=True,
        result="array",
        tags=("subscriptions",),
    ),
    Method(
        "public/unsubscribe",
        "Unsubscribe",
        unsubscribe,
        (_CHANNELS,),
        websocket_only=True,
        result="array",
        tags=("subscriptions",),
    ),
    Method(
        "private/unsubscribe",
        "Unsubscribe",
        unsubscribe,
        (_CHANNELS,),
        websocket_only=True,
        result="array",
        tags=("subscriptions",),
    ),
    Method(
        "public/unsubscribe_all",
        "Unsubscribe from everything",
        unsubscribe_all,
        websocket_only=True,
        tags=("subscriptions",),
    ),
    Method(
        "private/unsubscribe_all",
        "Unsubscribe from everything",
        unsubscribe_all,
        websocket_only=True,
        tags=("subscriptions",),
    ),
    Method(
        "public/get_currencies",
        "The currencies traded and settled",
        get_currencies,
        result="array",
        tags=("market data",),
    ),
    Method(
        "public/get_instruments",
        "Listed instruments",
        get_instruments,
        (CURRENCY, KIND, Param("expired", "boolean")),
        result="array",
        tags=("market data",),
    ),
    Method(
        "public/get_instrument",
        "One instrument",
        get_instrument,
        (INSTRUMENT,),
        tags=("market data",),
    ),
    Method(
        "public/get_order_book",
        "Order book with ticker fields",
        get_order_book,
        (INSTRUMENT, Param("depth", "integer", doc="1-1000, default 20")),
        tags=("market data",),
    ),
    Method(
        "public/ticker",
        "Best bid and ask, last, mark (IV and greeks for options)",
        ticker,
        (INSTRUMENT,),
        tags=("market data",),
    ),
    Method(
        "public/get_book_summary_by_instrument",
        "Summary of one book",
        get_book_summary_by_instrument,
        (INSTRUMENT,),
        result="array",
        tags=("market data",),
    ),
    Method(
        "public/get_book_summary_by_currency",
        "Summaries of a currency's books",
        get_book_summary_by_currency,
        (CURRENCY, KIND),
        result="array",
        tags=("market data",),
    ),
    Method(
        "public/get_last_trades_by_instrument",
        "Recent trades",
        get_last_trades_by_instrument,
        (
            INSTRUMENT,
            COUNT,
            INCLUDE_OLD,
            SORTING,
        ),
        tags=("market data",),
    ),
    Method(
        "public/get_last_trades_by_instrument_and_time",
        "Recent trades in a time range",
        get_last_trades_by_instrument_and_time,
        (
            INSTRUMENT,
            Param("start_timestamp", "integer", required=True),
            Param("end_timestamp", "integer", required=True),
            COUNT,
            INCLUDE_OLD,
            SORTING,
        ),
        tags=("market data",),
    ),
    Method(
        "public/get_index_price",
        "An index price (btc_usdc)",
        get_index_price,
        (Param("index_name", required=True, max_length=32),),
        tags=("market data",),
    ),
    Method(
        "public/optex_status",
        "optex: the engine's role, last sequence and state hash",
        optex_status,
        tags=("optex",),
    ),
    *PROOF_METHODS,
    Method(
        "private/buy",
        "Place a buy order (signed with the delegated gateway key)",
        buy,
        ORDER_PARAMS,
        scope=_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/sell",
        "Place a sell order (signed with the delegated gateway key)",
        sell,
        ORDER_PARAMS,
        scope=_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/optex_place_signed_order",
        "optex: place an order signed with your own trading key (base64 canonical bytes)",
        place_signed_order,
        (Param("signed_order", required=True, max_length=4096),),
        scope=_TRADE,
        tags=("trading", "optex"),
    ),
    Method(
        "private/edit",
        "Change an open order's price or amount",
        edit,
        (
            ORDER_ID,
            Param("amount", "number"),
            Param("contracts", "number"),
            Param("price", "number"),
            Param("trigger_price", "number"),
            Param("post_only", "boolean"),
            Param("reduce_only", "boolean"),
        ),
        scope=_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/cancel", "Cancel an order", cancel, (ORDER_ID,), scope=_TRADE, tags=("trading",)
    ),
    Method(
        "private/cancel_by_label",
        "Cancel the open orders with a label",
        cancel_by_label,
        (Param("label", required=True, max_length=MAX_LABEL),),
        scope=_TRADE,
        result="integer",
        tags=("trading",),
    ),
    Method(
        "private/cancel_all",
        "Cancel all open orders",
        cancel_all,
        scope=_TRADE,
        result="integer",
        tags=("trading",),
    ),
    Method(
        "private/cancel_all_by_instrument",
        "Cancel an instrument's open orders",
        cancel_all_by_instrument,
        (INSTRUMENT, TYPE_FILTER),
        scope=_TRADE,
        result="integer",
        tags=("trading",),
    ),
    Method(
        "private/cancel_all_by_currency",
        "Cancel a currency's open orders",
        cancel_all_by_currency,
        (Param("currency", required=True, max_length=16), KIND, TYPE_FILTER),
        scope=_TRADE,
        result="integer",
        tags=("trading",),
    ),
    Method(
        "private/get_open_orders_by_instrument",
        "Open orders of an instrument",
        get_open_orders_by_instrument,
        (INSTRUMENT, TYPE_FILTER),
        scope=_READ_TRADE,
        result="array",
        tags=("trading",),
    ),
    Method(
        "private/get_open_orders_by_currency",
        "Open orders of a currency",
        get_open_orders_by_currency,
        (Param("currency", required=True, max_length=16), KIND, TYPE_FILTER),
        scope=_READ_TRADE,
        result="array",
        tags=("trading",),
    ),
    Method(
        "private/get_open_orders",
        "All open orders",
        get_open_orders,
        (KIND, TYPE_FILTER),
        scope=_READ_TRADE,
        result="array",
        tags=("trading",),
    ),
    Method(
        "private/get_order_state",
        "One order's state",
        get_order_state,
        (ORDER_ID,),
        scope=_READ_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/get_user_trades_by_instrument",
        "Your recent trades in an instrument",
        get_user_trades_by_instrument,
        (
            INSTRUMENT,
            COUNT,
            INCLUDE_OLD,
            SORTING,
        ),
        scope=_READ_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/get_user_trades_by_instrument_and_time",
        "Your trades in a time range",
        get_user_trades_by_instrument_and_time,
        (INSTRUMENT, START, END, COUNT, INCLUDE_OLD, SORTING),
        scope=_READ_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/get_user_trades_by_currency",
        "Your recent trades in a currency",
        get_user_trades_by_currency,
        (
            Param("currency", required=True, max_length=16),
            KIND,
            COUNT,
            INCLUDE_OLD,
            SORTING,
        ),
        scope=_READ_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/get_user_trades_by_currency_and_time",
        "Your trades in a time range",
        get_user_trades_by_currency_and_time,
        (
            Param("currency", required=True, max_length=16),
            KIND,
            START,
            END,
            COUNT,
            INCLUDE_OLD,
            SORTING,
        ),
        scope=_READ_TRADE,
        tags=("trading",),
    ),
    Method(
        "private/get_user_trades_by_order",
        "The trades of one order",
        get_user_trades_by_order,
        (ORDER_ID, SORTING),
        scope=_READ_TRADE,
        result="array",
        tags=("trading",),
    ),
    Method(
        "private/get_account_summary",
        "Balance, equity and margins",
        get_account_summary,
        (CURRENCY, Param("extended", "boolean")),
        scope=_READ_ACCOUNT,
        tags=("account",),
    ),
    Method(
        "private/get_account_summaries",
        "Balance, equity and margins of every currency",
        get_account_summaries,
        (Param("extended", "boolean"),),
        scope=_READ_ACCOUNT,
        tags=("account",),
    ),
    Method(
        "private/get_positions",
        "Open positions",
        get_positions,
        (CURRENCY, KIND),
        scope=_READ_ACCOUNT,
        result="array",
        tags=("account",),
    ),
    Method(
        "private/get_position",
        "One position",
        get_position,
        (INSTRUMENT,),
        scope=_READ_ACCOUNT,
        tags=("account",),
    ),
    *HISTORY_METHODS,
    *WITHDRAWAL_METHODS,
)

METHODS: Final = {method.name: method for method in _TABLE}
"""Every method the gateway serves, by name."""
