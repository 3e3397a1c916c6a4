"""Deribit's shapes and units at the edge: amounts in coins and prices in the quote currency on
the outside, optex's integers (underlying and settlement base units) on the inside.

Decimal text from clients is converted exactly (``optex.core.Asset.to_units``): an amount off
the instrument's lot grid or a price off its tick grid is refused with the market's reason
(Deribit ``invalid_amount`` / ``price_wrong_tick``), never rounded. Numbers going out are
``units / scale``, which Python rounds correctly, so ``json`` writes the shortest decimal that
reads back to the same value (``0.05``, not ``0.05000000000000000277``).
"""

from __future__ import annotations

import math
import zlib
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Final

from optex.core import (
    Instrument,
    InstrumentKind,
    InvalidInput,
    OrderType,
    Side,
    TimeInForce,
    asset,
)
from optex.gateway._reasons import GatewayReason
from optex.market import MarketReason
from optex.pricing import implied_vol

TIF_TO_DERIBIT: Final = {
    TimeInForce.GTC: "good_til_cancelled",
    TimeInForce.GTD: "good_til_day",
    TimeInForce.IOC: "immediate_or_cancel",
    TimeInForce.FOK: "fill_or_kill",
}
TIF_FROM_DERIBIT: Final = {value: key for key, value in TIF_TO_DERIBIT.items()}
TYPE_TO_DERIBIT: Final = {
    OrderType.LIMIT: "limit",
    OrderType.MARKET: "market",
    OrderType.STOP_LIMIT: "stop_limit",
    OrderType.STOP_MARKET: "stop_market",
    OrderType.TAKE_PROFIT_LIMIT: "take_limit",
    OrderType.TAKE_PROFIT_MARKET: "take_market",
}
TYPE_FROM_DERIBIT: Final = {value: key for key, value in TYPE_TO_DERIBIT.items()}
STATE_TO_DERIBIT: Final = {
    "untriggered": "untriggered",
    "open": "open",
    "partially_filled": "open",
    "filled": "filled",
    "cancelled": "cancelled",
    "expired": "cancelled",
}
CANCEL_REASON_TO_DERIBIT: Final = {
    "user": "user_request",
    "mass_cancel": "user_request",
    "immediate_or_cancel": "immediate_or_cancel",
    "fill_or_kill": "fill_or_kill",
    "no_liquidity": "no_liquidity",
    "self_trade": "self_trade_prevention",
    "reduce_only": "reduce_only",
    "mmp_triggered": "mmp_trigger",
    "quote_replaced": "replaced",
    "price_protection": "price_protection",
}
CURRENCY_NAMES: Final = {
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "SOL": "Solana",
    "USDC": "USD Coin",
    "USDT": "Tether",
}
MAX_NUMBER_TEXT: Final = 40
# Wide enough that scaling any 40-character number is exact (the default context keeps 28).
_EXACT: Final = Context(prec=100, Emax=999, Emin=-999)


def decimal_of(value: Any, name: str) -> Decimal:
    """A finite, non-negative decimal from a JSON number or query-string text, exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(name, "a number")
    text = repr(value) if isinstance(value, float) else str(value)
    if len(text) > MAX_NUMBER_TEXT:
        raise _bad(name, "a number of at most 40 characters")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _bad(name, "a number") from None
    if not number.is_finite() or number < 0:
        raise _bad(name, "a finite number, not negative")
    if number and not -30 <= number.adjusted() <= 30:
        raise _bad(name, "a number between 1e-30 and 1e30")
    return number


def _bad(name: str, what: str) -> InvalidInput:
    return InvalidInput(GatewayReason.INVALID_PARAMS, f"{name} must be {what}", param=name)


def quantity_units(instrument: Instrument, amount: Decimal) -> int:
    """Underlying base units for an amount in coins, exactly on the lot grid."""
    underlying = asset(instrument.underlying)
    units = amount.scaleb(underlying.decimals, context=_EXACT)
    if units != units.to_integral_value():
        raise InvalidInput(
            MarketReason.QUANTITY_OFF_LOT,
            f"amount {amount} has more decimals than {instrument.underlying} allows",
            param="amount",
        )
    quantity = int(units)
    if quantity <= 0:
        raise InvalidInput(MarketReason.NOT_POSITIVE, "amount must be positive", param="amount")
    if quantity % instrument.lot_size:
        raise InvalidInput(
            MarketReason.QUANTITY_OFF_LOT,
            f"amount {amount} is not a multiple of {coins(instrument, instrument.lot_size)}",
            param="amount",
        )
    return quantity


def price_units(instrument: Instrument, price: Decimal, name: str = "price") -> int:
    """Settlement base units per whole underlying, exactly on the tick grid."""
    settlement = asset(instrument.settlement)
    units = price.scaleb(settlement.decimals, context=_EXACT)
    if units != units.to_integral_value() or int(units) % instrument.tick_size:
        raise InvalidInput(
            MarketReason.PRICE_OFF_TICK,
            f"{name} {price} is not a multiple of the tick "
            f"{money(instrument, instrument.tick_size)}",
            param=name,
        )
    if units <= 0:
        raise InvalidInput(MarketReason.NOT_POSITIVE, f"{name} must be positive", param=name)
    return int(units)


def coins(instrument: Instrument, quantity: int) -> float:
    """A quantity in underlying base units, in coins."""
    return quantity / asset(instrument.underlying).scale


def money(instrument: Instrument, units: int) -> float:
    """Settlement base units as a number of the settlement currency."""
    return units / asset(instrument.settlement).scale


def maybe_money(instrument: Instrument, units: int | None) -> float | None:
    """:func:`money`, or ``None``."""
    return None if units is None else money(instrument, units)


def instrument_json(instrument: Instrument, expired: bool) -> dict[str, Any]:
    """Deribit's ``get_instruments`` entry (every field ccxt's ``fetch_markets`` reads)."""
    kind = "option" if instrument.kind is InstrumentKind.OPTION else "future"
    settlement_period = (
        "perpetual"
        if instrument.kind is InstrumentKind.PERPETUAL
        else ("day" if instrument.expiry_ms is None else "month")
    )
    lot = coins(instrument, instrument.lot_size)
    return {
        "instrument_name": instrument.name,
        "instrument_id": zlib.crc32(instrument.name.encode("ascii")),
        "kind": kind,
        "base_currency": instrument.underlying,
        "counter_currency": instrument.settlement,
        "quote_currency": instrument.settlement,
        "settlement_currency": instrument.settlement,
        "price_index": f"{instrument.underlying.lower()}_{instrument.settlement.lower()}",
        "settlement_period": settlement_period,
        "expiration_timestamp": instrument.expiry_ms or 32503680000000,
        "creation_timestamp": 0,
        "strike": None if instrument.strike is None else money(instrument, instrument.strike),
        "option_type": None if instrument.option_type is None else instrument.option_type.value,
        "tick_size": money(instrument, instrument.tick_size),
        "min_trade_amount": lot,
        "max_trade_amount": coins(instrument, instrument.lot_size * instrument.max_lots),
        "contract_size": 1,
        "instrument_type": "linear",
        "is_active": not expired,
        "maker_commission": 0.0003 if kind == "option" else 0.0,
        "taker_commission": 0.0003 if kind == "option" else 0.0005,
        "block_trade_commission": 0.0003,
        "rfq": False,
    }


def currency_json(code: str) -> dict[str, Any]:
    """Deribit's ``get_currencies`` entry."""
    decimals = asset(code).decimals
    return {
        "currency": code,
        "currency_long": CURRENCY_NAMES.get(code, code),
        "coin_type": code,
        "withdrawal_fee": 0,
        "fee_precision": decimals,
        "min_confirmations": 1,
        "min_withdrawal_fee": 0,
        "withdrawal_priorities": [],
    }


def order_json(view: dict[str, Any], instrument: Instrument) -> dict[str, Any]:
    """Deribit's order object for an order record from the engine (``_query.OrderView``)."""
    filled = view["filled"]
    price = view["price"]
    order_type = OrderType(view["order_type"])
    average = (view["filled_cash"] // filled) if filled else 0
    state = view["state"]
    answer: dict[str, Any] = {
        "order_id": str(view["order_id"]),
        "instrument_name": view["instrument"],
        "direction": view["side"],
        "amount": coins(instrument, view["quantity"]),
        "contracts": coins(instrument, view["quantity"]),
        "filled_amount": coins(instrument, filled),
        "price": "market_price" if price is None else money(instrument, price),
        "average_price": money(instrument, average),
        "order_type": TYPE_TO_DERIBIT[order_type],
        "order_state": STATE_TO_DERIBIT.get(state, state),
        "time_in_force": TIF_TO_DERIBIT[TimeInForce(view["tif"])],
        "post_only": view["post_only"],
        "reduce_only": view["reduce_only"],
        "label": view["client_order_id"] or "",
        "creation_timestamp": view["created_ms"],
        "last_update_timestamp": view["updated_ms"],
        "max_show": coins(instrument, view["display_quantity"] or view["quantity"]),
        "api": True,
        "web": False,
        "is_liquidation": False,
        "replaced": False,
        "mmp": False,
        "risk_reducing": False,
        "optex_signed": view["signed"],
    }
    if order_type.is_triggered:
        answer["trigger"] = "mark_price"
        answer["trigger_price"] = maybe_money(instrument, view["trigger_price"])
        answer["triggered"] = state != "untriggered"
    if state in ("cancelled", "expired"):
        reason = view["cancel_reason"]
        answer["cancel_reason"] = (
            "expired" if state == "expired" else CANCEL_REASON_TO_DERIBIT.get(reason, reason)
        )
    return answer


def public_trade_json(trade: dict[str, Any], instrument: Instrument) -> dict[str, Any]:
    """Deribit's public trade object (``get_last_trades_by_instrument``, ``trades.*``)."""
    return {
        "trade_id": str(trade["trade_id"]),
        "trade_seq": trade["trade_id"],
        "timestamp": trade["ts_ms"],
        "instrument_name": trade["instrument"],
        "price": money(instrument, trade["price"]),
        "amount": coins(instrument, trade["quantity"]),
        "contracts": coins(instrument, trade["quantity"]),
        "direction": trade["aggressor_side"],
        "index_price": maybe_money(instrument, trade["index"]),
        "mark_price": maybe_money(instrument, trade["mark"]),
        "tick_direction": 0,
    }


def user_trade_json(
    trade: dict[str, Any], account: str, instrument: Instrument
) -> list[dict[str, Any]]:
    """Deribit's user trade objects of ``account`` in one fill (two if it traded with itself)."""
    answers = []
    for maker in (True, False):
        if trade["maker_account" if maker else "taker_account"] != account:
            continue
        taker_side = Side(trade["aggressor_side"])
        side = (Side.SELL if taker_side is Side.BUY else Side.BUY) if maker else taker_side
        answer = public_trade_json(trade, instrument)
        answer.update(
            {
                "order_id": str(trade["maker_order_id" if maker else "taker_order_id"]),
                "direction": side.value,
                "liquidity": "M" if maker else "T",
                "fee": money(instrument, trade["maker_fee" if maker else "taker_fee"]),
                "fee_currency": instrument.settlement,
                "state": "filled",
                "self_trade": trade["maker_account"] == trade["taker_account"],
                "api": True,
            }
        )
        answers.append(answer)
    return answers


def ticker_json(top: dict[str, Any], instrument: Instrument) -> dict[str, Any]:
    """Deribit's ticker (``public/ticker``, ``ticker.*``): book top, last, mark with IV and
    greeks for options, index and 24 h stats."""
    best_bid, best_ask = top["best_bid"], top["best_ask"]
    mark = top["mark"]
    index = top["index"]
    stats = top["stats"]
    answer: dict[str, Any] = {
        "timestamp": top["ts_ms"],
        "instrument_name": instrument.name,
        "state": "open",
        "best_bid_price": money(instrument, best_bid[0]) if best_bid else 0,
        "best_bid_amount": coins(instrument, best_bid[1]) if best_bid else 0,
        "best_ask_price": money(instrument, best_ask[0]) if best_ask else 0,
        "best_ask_amount": coins(instrument, best_ask[1]) if best_ask else 0,
        "last_price": maybe_money(instrument, top["last"]),
        "mark_price": None if mark is None else money(instrument, mark["price"]),
        "index_price": maybe_money(instrument, index),
        "estimated_delivery_price": maybe_money(instrument, index),
        "open_interest": coins(instrument, top["open_interest"]),
        "settlement_price": None,
        "stats": {
            "high": maybe_money(instrument, stats["high"]),
            "low": maybe_money(instrument, stats["low"]),
            "volume": coins(instrument, stats["volume"]),
            "volume_usd": stats["volume_cash"]
            / asset(instrument.underlying).scale
            / asset(instrument.settlement).scale,
            "price_change": None,
        },
        "change_id": top["seq"],
    }
    if instrument.kind is InstrumentKind.OPTION and mark is not None:
        answer.update(_option_fields(instrument, mark, best_bid, best_ask))
    return answer


def _option_fields(
    instrument: Instrument, mark: dict[str, Any], best_bid: Any, best_ask: Any
) -> dict[str, Any]:
    forward, t = mark.get("forward"), mark.get("t")
    iv = mark.get("iv")

    def implied(level: Any) -> float:
        if not level or forward is None or t is None or instrument.strike is None:
            return 0.0
        vol = float(
            implied_vol(
                price=money(instrument, level[0]),
                forward=forward,
                strike=money(instrument, instrument.strike),
                t=t,
                call=instrument.option_type is not None and instrument.option_type.value == "call",
            )
        )
        return 0.0 if math.isnan(vol) else round(vol * 100, 4)

    return {
        "mark_iv": None if iv is None else round(iv * 100, 4),
        "bid_iv": implied(best_bid),
        "ask_iv": implied(best_ask),
        "underlying_price": forward,
        "underlying_index": "index_price",
        "interest_rate": 0.0,
        "greeks": {
            "delta": mark["delta"],
            "gamma": mark["gamma"],
            "vega": mark["vega"],
            "theta": mark["theta"],
            "rho": 0.0,
        },
    }


def book_json(book: dict[str, Any], instrument: Instrument) -> dict[str, Any]:
    """Deribit's ``get_order_book`` result: the ticker plus the levels."""
    answer = ticker_json(book, instrument)
    answer["bids"] = [[money(instrument, p), coins(instrument, q)] for p, q in book["bids"]]
    answer["asks"] = [[money(instrument, p), coins(instrument, q)] for p, q in book["asks"]]
    return answer


def summary_json(account: dict[str, Any] | None, currency: str, scale: int) -> dict[str, Any]:
    """Deribit's account summary, in the settlement currency (one margin account per user)."""
    if account is None:
        account = {
            "balance": 0,
            "equity": 0,
            "initial_margin": 0,
            "maintenance_margin": 0,
            "portfolio_margin": False,
            "positions": [],
        }
    equity = account["equity"]
    initial = account["initial_margin"]
    maintenance = account["maintenance_margin"]
    available = equity - initial
    return {
        "currency": currency,
        "balance": account["balance"] / scale,
        "equity": equity / scale,
        "margin_balance": equity / scale,
        "available_funds": available / scale,
        "available_withdrawal_funds": max(0, min(available, account["balance"])) / scale,
        "initial_margin": initial / scale,
        "maintenance_margin": maintenance / scale,
        "projected_initial_margin": initial / scale,
        "projected_maintenance_margin": maintenance / scale,
        "total_pl": (equity - account["balance"]) / scale,
        "session_upl": (equity - account["balance"]) / scale,
        "session_rpl": 0,
        "fee_balance": 0,
        "portfolio_margining_enabled": account["portfolio_margin"],
        "margin_model": "cross_pm" if account["portfolio_margin"] else "cross_sm",
        "cross_collateral_enabled": False,
    }


def position_json(position: dict[str, Any], instrument: Instrument) -> dict[str, Any]:
    """Deribit's position object."""
    quantity = position["quantity"]
    mark = position["mark"]
    mark_price = None if mark is None else mark["price"]
    average = position["average_price"]
    size = coins(instrument, abs(quantity))
    floating = (
        (mark_price - average) * quantity / asset(instrument.underlying).scale
        if mark_price is not None and average is not None
        else 0
    )
    answer: dict[str, Any] = {
        "instrument_name": instrument.name,
        "kind": "option" if instrument.kind is InstrumentKind.OPTION else "future",
        "direction": "buy" if quantity > 0 else "sell",
        "size": coins(instrument, quantity),
        "size_currency": coins(instrument, quantity),
        "average_price": maybe_money(instrument, average) or 0,
        "mark_price": maybe_money(instrument, mark_price),
        "floating_profit_loss": money(instrument, int(floating)),
        "total_profit_loss": money(instrument, int(floating)),
        "realized_profit_loss": 0,
        "settlement_price": None,
        "leverage": None,
        "estimated_liquidation_price": None,
        "initial_margin": None,
        "maintenance_margin": None,
        "delta": (mark["delta"] if mark else 1.0) * size * (1 if quantity > 0 else -1),
    }
    return answer
