"""Typed results: msgspec Structs in Deribit's field names, as the gateway sends them.

Numbers are Deribit's: prices and amounts are JSON numbers in the instrument's quote and
contract units (``float`` here), timestamps are milliseconds. The structs ignore fields they do
not name, so a server that adds fields does not break a client, and every field that Deribit
documents as optional has a default. Decoding still refuses a wrong type (a price that is a
list, a missing ``order_id``): a result that does not fit is a ``ClientError``, not a guess.
"""

from __future__ import annotations

from typing import Any

import msgspec


class AuthToken(msgspec.Struct, frozen=True, kw_only=True):
    """``public/auth``: the session's tokens. ``expires_in`` is in seconds."""

    access_token: str
    refresh_token: str
    expires_in: int
    scope: str = ""
    token_type: str = "bearer"  # noqa: S105 - the token's kind, not a secret

    def __repr__(self) -> str:
        return f"AuthToken(expires_in={self.expires_in}, scope={self.scope!r}, tokens=<hidden>)"


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of ``public/get_instruments``."""

    instrument_name: str
    kind: str
    base_currency: str = ""
    counter_currency: str = ""
    quote_currency: str = ""
    settlement_currency: str = ""
    settlement_period: str = ""
    expiration_timestamp: int = 0
    creation_timestamp: int = 0
    strike: float | None = None
    option_type: str | None = None
    tick_size: float = 0.0
    min_trade_amount: float = 0.0
    contract_size: float = 0.0
    is_active: bool = True
    maker_commission: float = 0.0
    taker_commission: float = 0.0


class Greeks(msgspec.Struct, frozen=True, kw_only=True):
    """Option sensitivities as Deribit reports them."""

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    rho: float = 0.0


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """24 h statistics of an instrument."""

    high: float | None = None
    low: float | None = None
    volume: float | None = None
    volume_usd: float | None = None
    price_change: float | None = None


class OrderBook(msgspec.Struct, frozen=True, kw_only=True):
    """``public/get_order_book``: levels are ``[price, amount]``, best first."""

    instrument_name: str
    timestamp: int = 0
    change_id: int = 0
    bids: list[tuple[float, float]] = []
    asks: list[tuple[float, float]] = []
    best_bid_price: float | None = None
    best_bid_amount: float | None = None
    best_ask_price: float | None = None
    best_ask_amount: float | None = None
    last_price: float | None = None
    mark_price: float | None = None
    index_price: float | None = None
    state: str = "open"


class Ticker(msgspec.Struct, frozen=True, kw_only=True):
    """``public/ticker`` (and ``ticker.*`` notifications); options add IVs and greeks."""

    instrument_name: str
    timestamp: int = 0
    state: str = "open"
    best_bid_price: float | None = None
    best_bid_amount: float | None = None
    best_ask_price: float | None = None
    best_ask_amount: float | None = None
    last_price: float | None = None
    mark_price: float | None = None
    index_price: float | None = None
    underlying_price: float | None = None
    mark_iv: float | None = None
    bid_iv: float | None = None
    ask_iv: float | None = None
    open_interest: float | None = None
    greeks: Greeks | None = None
    stats: Stats | None = None


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """A public trade (``get_last_trades_by_instrument``, ``trades.*`` notifications)."""

    trade_id: str
    instrument_name: str
    timestamp: int
    price: float
    amount: float
    direction: str
    trade_seq: int = 0
    mark_price: float | None = None
    index_price: float | None = None
    tick_direction: int | None = None


class Trades(msgspec.Struct, frozen=True, kw_only=True):
    """``public/get_last_trades_by_instrument``: newest trades and whether there are more."""

    trades: list[Trade]
    has_more: bool = False


class Order(msgspec.Struct, frozen=True, kw_only=True):
    """An order as Deribit reports it. ``price`` is ``"market_price"`` for a market order."""

    order_id: str
    instrument_name: str
    direction: str
    amount: float
    order_state: str
    order_type: str
    price: float | str | None = None
    filled_amount: float = 0.0
    average_price: float = 0.0
    time_in_force: str = "good_til_cancelled"
    post_only: bool = False
    reduce_only: bool = False
    label: str = ""
    trigger_price: float | None = None
    creation_timestamp: int = 0
    last_update_timestamp: int = 0
    commission: float = 0.0
    replaced: bool = False
    api: bool = True


class UserTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One of the caller's fills (``get_user_trades_by_instrument``, ``user.trades.*``)."""

    trade_id: str
    instrument_name: str
    order_id: str
    timestamp: int
    price: float
    amount: float
    direction: str
    trade_seq: int = 0
    liquidity: str = ""
    fee: float = 0.0
    fee_currency: str = ""
    order_type: str = ""
    label: str = ""
    state: str = ""
    mark_price: float | None = None
    index_price: float | None = None


class OrderResult(msgspec.Struct, frozen=True, kw_only=True):
    """``private/buy``, ``sell``, ``edit`` and ``optex_place_signed_order``: the order and the
    fills it made on the way in."""

    order: Order
    trades: list[UserTrade] = []


class UserTrades(msgspec.Struct, frozen=True, kw_only=True):
    """``private/get_user_trades_by_instrument``."""

    trades: list[UserTrade]
    has_more: bool = False


class AccountSummary(msgspec.Struct, frozen=True, kw_only=True):
    """``private/get_account_summary`` for one currency."""

    currency: str
    balance: float = 0.0
    equity: float = 0.0
    available_funds: float = 0.0
    available_withdrawal_funds: float = 0.0
    margin_balance: float = 0.0
    initial_margin: float = 0.0
    maintenance_margin: float = 0.0
    total_pl: float = 0.0
    session_upl: float = 0.0
    session_rpl: float = 0.0
    delta_total: float = 0.0
    options_value: float = 0.0
    portfolio_margining_enabled: bool = False


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of ``private/get_positions``. ``direction`` is ``buy``, ``sell`` or ``zero``."""

    instrument_name: str
    direction: str
    size: float
    kind: str = ""
    average_price: float = 0.0
    mark_price: float | None = None
    index_price: float | None = None
    floating_profit_loss: float = 0.0
    realized_profit_loss: float = 0.0
    total_profit_loss: float = 0.0
    initial_margin: float | None = None
    maintenance_margin: float | None = None
    delta: float = 0.0
    size_currency: float | None = None
    estimated_liquidation_price: float | None = None


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """``public/optex_status``: what the gateway reports about itself and the engine.

    The gateway's fields are kept in ``details`` as sent, beside the few a client acts on.
    """

    chain_id: str = ""
    details: dict[str, Any] = {}
