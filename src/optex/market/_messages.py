"""Commands into the engine and events out of it: immutable, typed, encodable.

Commands are imperative (``NewOrder``), events past tense (``OrderAccepted``). Every message is a
frozen msgspec Struct tagged with its class name, so a journal can store a command with
:func:`optex.core.encode` and get it back with ``decode(data, Command)``. Prices are integers of
settlement-asset base units per whole underlying (10^-6 USDC), quantities integers of
underlying base units; both must lie on the instrument's tick and lot grid. Time is the
``ts_ms`` field of each command (milliseconds since the Unix epoch), never a clock.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from optex.core import Instrument, OrderType, Side, TimeInForce


class PostOnly(StrEnum):
    """What a post-only order does if it would trade on arrival: reject, or move to the touch."""

    OFF = "off"
    REJECT = "reject"
    REPRICE = "reprice"


class StpMode(StrEnum):
    """Self-trade prevention: what happens when an account's order would trade with its own."""

    ALLOW = "allow"
    CANCEL_TAKER = "cancel_taker"
    CANCEL_MAKER = "cancel_maker"
    CANCEL_BOTH = "cancel_both"


class PriceSource(StrEnum):
    """The price a stop or take-profit order watches."""

    MARK = "mark"
    INDEX = "index"
    LAST = "last"


class CancelReason(StrEnum):
    """Why an order stopped resting before it filled."""

    USER = "user"
    MASS_CANCEL = "mass_cancel"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
    FILL_OR_KILL = "fill_or_kill"
    NO_LIQUIDITY = "no_liquidity"
    SELF_TRADE = "self_trade"
    REDUCE_ONLY = "reduce_only"
    MMP_TRIGGERED = "mmp_triggered"
    QUOTE_REPLACED = "quote_replaced"
    PRICE_PROTECTION = "price_protection"


class _Message(msgspec.Struct, frozen=True, tag=True, tag_field="type", gc=False):
    """Base of every command and event: frozen, tagged with the class name.

    ``gc=False``: a frozen message of scalars cannot be part of a reference cycle, and leaving
    it out of the cycle collector makes creating the events of a busy book about a quarter
    cheaper.
    """


# Commands ---------------------------------------------------------------------------------


class AddInstrument(_Message, frozen=True):
    """List an instrument. ``band_bps``/``band_min`` bound limit prices around the mark."""

    ts_ms: int
    instrument: Instrument
    band_bps: int | None = None
    band_min: int = 0


class NewOrder(_Message, frozen=True):
    """Place an order. ``price`` is the limit, or a market order's worst acceptable price.

    ``expire_ts_ms`` is required for GTD; a GTC order may carry one as the most it may rest
    (``OrderExpired`` then); IOC and FOK orders take none.
    """

    ts_ms: int
    account: str
    instrument: str
    side: Side
    quantity: int
    price: int | None = None
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None
    expire_ts_ms: int | None = None
    trigger_price: int | None = None
    trigger: PriceSource = PriceSource.MARK
    display_quantity: int | None = None
    post_only: PostOnly = PostOnly.OFF
    reduce_only: bool = False
    stp: StpMode | None = None
    mmp_group: str | None = None


class CancelOrder(_Message, frozen=True):
    """Cancel one open order, named by engine ``order_id`` or by the account's client id."""

    ts_ms: int
    account: str
    order_id: int | None = None
    client_order_id: str | None = None


class AmendOrder(_Message, frozen=True):
    """Change an open order's price, total quantity (filled part included) or trigger price."""

    ts_ms: int
    account: str
    order_id: int | None = None
    client_order_id: str | None = None
    price: int | None = None
    quantity: int | None = None
    trigger_price: int | None = None


class MassCancel(_Message, frozen=True):
    """Cancel all of an account's open orders, optionally only one instrument's or group's."""

    ts_ms: int
    account: str
    instrument: str | None = None
    mmp_group: str | None = None


class Quote(msgspec.Struct, frozen=True, gc=False):
    """One instrument's two-sided quote; a side with no quantity withdraws that side.

    ``bid_expire_ts_ms`` / ``ask_expire_ts_ms``: the most that side may rest (``OrderExpired``
    then), as a GTC order's ``expire_ts_ms``; a quote kept in place takes the new value. A
    signed quote's leg must stop resting when its signature expires.
    """

    instrument: str
    bid_price: int | None = None
    bid_quantity: int = 0
    ask_price: int | None = None
    ask_quantity: int = 0
    bid_expire_ts_ms: int | None = None
    ask_expire_ts_ms: int | None = None


class MassQuote(_Message, frozen=True):
    """Replace a market maker's quotes in one MMP group on every instrument listed."""

    ts_ms: int
    account: str
    mmp_group: str
    quotes: tuple[Quote, ...]
    post_only: PostOnly = PostOnly.OFF


class UpdatePrice(_Message, frozen=True):
    """A new mark, index or last price; a mark update may also carry the option's delta.

    ``delta_ppm`` is the instrument's delta in millionths (a call at the money is about
    500000), used by market maker protection; the engine does no float arithmetic.
    """

    ts_ms: int
    instrument: str
    source: PriceSource
    price: int
    delta_ppm: int | None = None


class SetPosition(_Message, frozen=True):
    """Set an account's net position in base units (from the chain), for reduce-only orders."""

    ts_ms: int
    account: str
    instrument: str
    position: int


class SetSelfTradePrevention(_Message, frozen=True):
    """Choose an account's default self-trade prevention; an order may override it."""

    ts_ms: int
    account: str
    mode: StpMode


class SetMmpConfig(_Message, frozen=True):
    """Market maker protection for an account's group: limits over a sliding window.

    A breach (filled quantity at least ``quantity_limit``, or absolute net delta in underlying
    base units at least ``delta_limit``, within ``interval_ms``) cancels the group's orders and
    freezes it for ``frozen_ms`` (0: until :class:`ResetMmp`).
    """

    ts_ms: int
    account: str
    mmp_group: str
    interval_ms: int
    frozen_ms: int
    quantity_limit: int
    delta_limit: int


class ResetMmp(_Message, frozen=True):
    """Unfreeze a group and clear its window."""

    ts_ms: int
    account: str
    mmp_group: str


class AdvanceTime(_Message, frozen=True):
    """Let time pass with nothing else happening, so that GTD orders and instruments expire."""

    ts_ms: int


Command = (
    AddInstrument
    | NewOrder
    | CancelOrder
    | AmendOrder
    | MassCancel
    | MassQuote
    | UpdatePrice
    | SetPosition
    | SetSelfTradePrevention
    | SetMmpConfig
    | ResetMmp
    | AdvanceTime
)

# Events -----------------------------------------------------------------------------------


class OrderAccepted(_Message, frozen=True):
    """The order passed validation; ``quantity`` is what was accepted (reduce-only may cap it)."""

    ts_ms: int
    order_id: int
    account: str
    client_order_id: str | None
    instrument: str
    side: Side
    order_type: OrderType
    price: int | None
    quantity: int


class OrderRejected(_Message, frozen=True):
    """The command was refused and changed nothing."""

    ts_ms: int
    account: str
    client_order_id: str | None
    order_id: int | None
    code: int
    reason: str
    message: str


class Fill(_Message, frozen=True):
    """A trade between a resting (maker) order and an incoming (taker) one."""

    ts_ms: int
    trade_id: int
    instrument: str
    price: int
    quantity: int
    aggressor_side: Side
    maker_order_id: int
    maker_account: str
    taker_order_id: int
    taker_account: str


class OrderCancelled(_Message, frozen=True):
    """The order's remaining quantity was cancelled."""

    ts_ms: int
    order_id: int
    account: str
    instrument: str
    quantity: int
    reason: CancelReason


class OrderAmended(_Message, frozen=True):
    """The order now has this price and total quantity; ``remaining`` is still open."""

    ts_ms: int
    order_id: int
    account: str
    instrument: str
    price: int | None
    quantity: int
    remaining: int
    trigger_price: int | None
    kept_priority: bool


class OrderExpired(_Message, frozen=True):
    """A good-til-date order, a GTC order with an ``expire_ts_ms``, or an order on an expired
    instrument, reached its time."""

    ts_ms: int
    order_id: int
    account: str
    instrument: str
    quantity: int


class OrderTriggered(_Message, frozen=True):
    """A stop or take-profit order's trigger price was reached; it now trades."""

    ts_ms: int
    order_id: int
    account: str
    instrument: str
    trigger_price: int
    price: int


class BookDelta(_Message, frozen=True):
    """The visible quantity at one price level is now ``quantity`` (0: the level is gone)."""

    ts_ms: int
    instrument: str
    side: Side
    price: int
    quantity: int


class MmpTriggered(_Message, frozen=True):
    """Market maker protection tripped; ``frozen_until_ms`` is 0 when frozen until reset."""

    ts_ms: int
    account: str
    mmp_group: str
    frozen_until_ms: int


Event = (
    OrderAccepted
    | OrderRejected
    | Fill
    | OrderCancelled
    | OrderAmended
    | OrderExpired
    | OrderTriggered
    | BookDelta
    | MmpTriggered
)
