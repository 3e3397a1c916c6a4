"""Shared builders for the market tests: a small instrument grid and terse order makers."""

from __future__ import annotations

from typing import Any

from optex.core import Instrument, InstrumentKind, OptionType
from optex.market import (
    BookDelta,
    CancelOrder,
    Fill,
    MatchingEngine,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    Side,
)

TICK = 1_000_000  # 1 USDC
LOT = 1_000_000  # 0.01 BTC
NAME = "BTC-PERPETUAL"

PERP = Instrument(
    name=NAME,
    kind=InstrumentKind.PERPETUAL,
    underlying="BTC",
    settlement="USDC",
    tick_size=TICK,
    lot_size=LOT,
    min_lots=1,
    max_lots=40,
)

CALL = Instrument(
    name="BTC-25DEC26-100000-C",
    kind=InstrumentKind.OPTION,
    underlying="BTC",
    settlement="USDC",
    tick_size=TICK,
    lot_size=LOT,
    min_lots=1,
    max_lots=1_000,
    expiry_ms=1_000_000,
    strike=100_000 * 10**6,
    option_type=OptionType.CALL,
)


def engine(*instruments: Instrument) -> MatchingEngine:
    """An engine listing ``instruments`` (the perpetual by default)."""
    return MatchingEngine(instruments or (PERP,))


def buy(ts: int, account: str, lots: int, ticks: int | None, **kw: Any) -> NewOrder:
    """A buy of ``lots`` at ``ticks`` (``None``: no price) on the perpetual unless told."""
    instrument = kw.pop("instrument", NAME)
    price = None if ticks is None else ticks * TICK
    return NewOrder(ts, account, instrument, Side.BUY, lots * LOT, price=price, **kw)


def sell(ts: int, account: str, lots: int, ticks: int | None, **kw: Any) -> NewOrder:
    """A sell of ``lots`` at ``ticks``."""
    instrument = kw.pop("instrument", NAME)
    price = None if ticks is None else ticks * TICK
    return NewOrder(ts, account, instrument, Side.SELL, lots * LOT, price=price, **kw)


def cancel(ts: int, account: str, order_id: int) -> CancelOrder:
    """Cancel by engine id."""
    return CancelOrder(ts, account, order_id=order_id)


def of(events: list[Any], kind: type) -> list[Any]:
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]


def fills(events: list[Any]) -> list[tuple[int, int, int, int]]:
    """Fills as (maker id, taker id, price ticks, lots)."""
    return [
        (f.maker_order_id, f.taker_order_id, f.price // TICK, f.quantity // LOT)
        for f in of(events, Fill)
    ]


def depth(e: MatchingEngine, name: str = NAME) -> tuple[list[tuple[int, int]], ...]:
    """The whole book in ticks and lots."""
    bids, asks = e.book(name).depth(1_000)
    return [(p // TICK, q // LOT) for p, q in bids], [(p // TICK, q // LOT) for p, q in asks]


def rejected(events: list[Any]) -> str:
    """The reason of the single rejection in ``events``."""
    rejections = of(events, OrderRejected)
    assert len(rejections) == 1, events
    return str(rejections[0].reason)


def accepted_id(events: list[Any]) -> int:
    """The id of the order accepted in ``events``."""
    (event,) = of(events, OrderAccepted)
    return int(event.order_id)


class Ledger:
    """Per-order bookkeeping from events alone, to check the engine's invariants."""

    def __init__(self) -> None:
        self.quantity: dict[int, int] = {}
        self.price: dict[int, int | None] = {}
        self.side: dict[int, Side] = {}
        self.filled: dict[int, int] = {}
        self.closed: dict[int, int] = {}
        self.depth: dict[tuple[str, Side, int], int] = {}

    def apply(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, OrderAccepted):
                self.quantity[ev.order_id] = ev.quantity
                self.price[ev.order_id] = ev.price
                self.side[ev.order_id] = ev.side
                self.filled[ev.order_id] = 0
                self.closed[ev.order_id] = 0
            elif isinstance(ev, OrderAmended):
                self.quantity[ev.order_id] = ev.quantity
                self.price[ev.order_id] = ev.price
            elif isinstance(ev, Fill):
                taker_limit = self.price[ev.taker_order_id]
                if taker_limit is not None:
                    if ev.aggressor_side is Side.BUY:
                        assert ev.price <= taker_limit, ev
                    else:
                        assert ev.price >= taker_limit, ev
                assert ev.price == self.price[ev.maker_order_id], ev
                assert ev.quantity > 0
                self.filled[ev.maker_order_id] += ev.quantity
                self.filled[ev.taker_order_id] += ev.quantity
            elif isinstance(ev, OrderCancelled | OrderExpired):
                self.closed[ev.order_id] += ev.quantity
            elif isinstance(ev, BookDelta):
                key = (ev.instrument, ev.side, ev.price)
                if ev.quantity:
                    self.depth[key] = ev.quantity
                else:
                    self.depth.pop(key, None)

    def check(self, e: MatchingEngine) -> None:
        """Filled + remaining + cancelled = quantity for every order; deltas rebuild depth."""
        for order_id, quantity in self.quantity.items():
            live = e.order(order_id)
            remaining = live.remaining if live is not None else 0
            assert self.filled[order_id] + remaining + self.closed[order_id] == quantity, order_id
            if live is not None:
                assert live.filled + live.remaining + live.cancelled == live.quantity
                assert live.filled == self.filled[order_id]
        from_deltas: dict[tuple[str, Side, int], int] = {}
        for name in e.instruments():
            bids, asks = e.book(name).depth(10_000)
            assert not bids or not asks or bids[0][0] < asks[0][0], "crossed book"
            from_deltas |= {(name, Side.BUY, p): q for p, q in bids}
            from_deltas |= {(name, Side.SELL, p): q for p, q in asks}
        assert from_deltas == self.depth


def cancel_ids(events: list[Any]) -> list[int]:
    """Ids of orders cancelled in ``events``."""
    return [e.order_id for e in of(events, OrderCancelled)]
