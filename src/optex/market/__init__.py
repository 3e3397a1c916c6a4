"""optex.market: order books and the deterministic matching engine.

:class:`MatchingEngine` holds one :class:`Book` per instrument and turns commands
(:class:`NewOrder`, :class:`CancelOrder`, :class:`AmendOrder`, :class:`MassCancel`,
:class:`MassQuote`, price and settings updates) into events (:class:`OrderAccepted`,
:class:`OrderRejected`, :class:`Fill`, :class:`OrderCancelled`, :class:`BookDelta`, ...), in
price-time priority, with integer prices and quantities and time as an input. Rejections carry a
:class:`MarketReason`. The risk engine plugs in through :class:`PreTradeCheck`; the book never
imports risk. See docs/market.md.
"""

from optex.core import (
    OrderType,
    Side,
    TimeInForce,
)
from optex.market._book import Book, Level, Order
from optex.market._checks import (
    AcceptAll,
    EngineView,
    OrderRequest,
    PreTradeCheck,
    Rejection,
)
from optex.market._engine import MatchingEngine
from optex.market._freshness import check_build
from optex.market._lifecycle import TRANSITIONS, OrderState, Trigger, advance
from optex.market._messages import (
    AddInstrument,
    AdvanceTime,
    AmendOrder,
    BookDelta,
    CancelOrder,
    CancelReason,
    Command,
    Event,
    Fill,
    MassCancel,
    MassQuote,
    MmpTriggered,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    PostOnly,
    PriceSource,
    Quote,
    ResetMmp,
    SetMmpConfig,
    SetPosition,
    SetSelfTradePrevention,
    StpMode,
    UpdatePrice,
)
from optex.market._reasons import MarketReason
from optex.market._state import EngineState

# An extension built from older source than the .py beside it must not run (see _freshness).
check_build()

__all__ = [
    "AcceptAll",
    "AddInstrument",
    "AdvanceTime",
    "AmendOrder",
    "Book",
    "BookDelta",
    "CancelOrder",
    "CancelReason",
    "Command",
    "EngineState",
    "EngineView",
    "Event",
    "Fill",
    "Level",
    "MarketReason",
    "MassCancel",
    "MassQuote",
    "MatchingEngine",
    "MmpTriggered",
    "NewOrder",
    "Order",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderExpired",
    "OrderRejected",
    "OrderRequest",
    "OrderState",
    "OrderTriggered",
    "OrderType",
    "PostOnly",
    "PreTradeCheck",
    "PriceSource",
    "Quote",
    "Rejection",
    "ResetMmp",
    "SetMmpConfig",
    "SetPosition",
    "SetSelfTradePrevention",
    "Side",
    "StpMode",
    "TRANSITIONS",
    "TimeInForce",
    "Trigger",
    "UpdatePrice",
    "advance",
]
