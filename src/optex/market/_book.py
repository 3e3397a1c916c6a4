"""One instrument's order book: price levels of FIFO queues, kept for speed.

Each side keeps a dict from price key to :class:`Level` and a sorted list of the keys, best
first: the key is the price for asks and minus the price for bids, so that one comparison
``keys[0] <= limit_key`` tells whether an aggressor crosses, on either side. Inserting a new
level is a ``bisect.insort`` on a list of a few hundred ints (a memmove), which in CPython beats
any tree written in Python. Each level is an intrusive doubly linked list of :class:`Order`
objects, so a cancel from the middle of a queue is O(1), and a level's visible total is kept
up to date so that depth never walks the queues.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from optex.core import (
    Instrument,
    OrderType,
    Side,
    TimeInForce,
)
from optex.market._lifecycle import OrderState
from optex.market._messages import (
    PostOnly,
    PriceSource,
    StpMode,
)

# Enum members as module constants: in CPython 3.11 reading a member off its class costs
# about 190 ns (EnumType.__getattr__), more than most of what the hot path does.
_PO_OFF = PostOnly.OFF
_SIDE_BUY = Side.BUY
_SRC_MARK = PriceSource.MARK
_STATE_OPEN = OrderState.OPEN


class Order:
    """An order inside the engine (mutable; read it, never change it from outside).

    ``quantity`` is the order's total size, and ``filled + remaining + cancelled == quantity``
    at all times (``cancelled`` counts expired quantity too). ``visible`` is the part of
    ``remaining`` shown in the book (less than it only for icebergs, whose ``display`` is the
    slice shown at a time). A plain class, compared by identity (the linked queues rely on
    it); ``_book.pxd`` makes it a C struct when the package is compiled, so the matching loop
    reads and writes its fields without a dictionary or descriptor lookup.
    """

    __slots__ = (
        "account",
        "cancelled",
        "client_order_id",
        "display",
        "expire_ts_ms",
        "filled",
        "instrument",
        "is_buy",
        "key",
        "level",
        "mmp_group",
        "next",
        "order_id",
        "order_type",
        "post_only",
        "prev",
        "price",
        "quantity",
        "quote",
        "reduce_only",
        "remaining",
        "side",
        "state",
        "stp",
        "tif",
        "trigger",
        "trigger_price",
        "ts_ms",
        "visible",
    )

    def __init__(  # noqa: PLR0917 - positional on purpose, see below
        self,
        order_id: int,
        account: str,
        instrument: str,
        side: Side,
        order_type: OrderType,
        price: int | None,
        quantity: int,
        tif: TimeInForce,
        ts_ms: int,
    ) -> None:
        # Only the fields every order has are arguments: a positional call is several times
        # cheaper than keywords, and the engine sets the rarer fields afterwards.
        self.order_id = order_id
        self.account = account
        self.instrument = instrument
        self.side = side
        self.order_type = order_type
        self.price = price
        self.quantity = quantity
        self.tif = tif
        self.ts_ms = ts_ms
        is_buy = self.is_buy = side is _SIDE_BUY
        # Sort key on its own side: best first in an ascending list.
        self.key = 0 if price is None else (-price if is_buy else price)
        self.remaining = self.visible = quantity
        self.filled = self.cancelled = self.display = 0
        self.client_order_id: str | None = None
        self.expire_ts_ms: int | None = None
        self.post_only = _PO_OFF
        self.reduce_only = False
        self.stp: StpMode | None = None
        self.mmp_group: str | None = None
        self.trigger = _SRC_MARK
        self.trigger_price: int | None = None
        self.state = _STATE_OPEN
        self.quote = False
        self.prev: Order | None = None
        self.next: Order | None = None
        self.level: Level | None = None

    def set_price(self, price: int) -> None:
        """Change the limit price (and its sort key) of an order that is not resting."""
        self.price = price
        self.key = -price if self.is_buy else price

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id}, {self.account}, {self.side} {self.remaining}/"
            f"{self.quantity} @ {self.price}, {self.state})"
        )


class Level:
    """The FIFO queue of orders at one price; ``total`` is its visible quantity."""

    __slots__ = ("head", "key", "price", "tail", "total")

    def __init__(self, price: int, key: int) -> None:
        self.price = price
        self.key = key
        self.total = 0
        self.head: Order | None = None
        self.tail: Order | None = None


class Book:
    """The resting orders of one instrument, and the prices the engine keeps beside them."""

    __slots__ = (
        "ask_keys",
        "ask_levels",
        "band_bps",
        "band_min",
        "bid_keys",
        "bid_levels",
        "delta_ppm",
        "expiry_ms",
        "index",
        "instrument",
        "last",
        "lot_size",
        "mark",
        "max_lots",
        "min_lots",
        "name",
        "positions",
        "stops",
        "tick_size",
    )

    def __init__(self, instrument: Instrument, band_bps: int | None = None, band_min: int = 0):
        self.instrument = instrument
        self.name = instrument.name
        # The instrument's grid and life, copied into C fields for the per-order checks.
        self.tick_size = instrument.tick_size
        self.lot_size = instrument.lot_size
        self.min_lots = instrument.min_lots
        self.max_lots = instrument.max_lots
        self.expiry_ms = instrument.expiry_ms
        self.bid_keys: list[int] = []
        self.ask_keys: list[int] = []
        self.bid_levels: dict[int, Level] = {}
        self.ask_levels: dict[int, Level] = {}
        # Untriggered stop and take-profit orders, in arrival order.
        self.stops: dict[int, Order] = {}
        self.positions: dict[str, int] = {}
        self.mark: int | None = None
        self.index: int | None = None
        self.last: int | None = None
        self.band_bps = band_bps
        self.band_min = band_min
        # Without a delta from the mark feed, assume the worst case of one underlying per unit
        # (signed for puts), so that market maker protection errs towards tripping early.
        self.delta_ppm = (
            -1_000_000
            if instrument.option_type is not None and instrument.option_type == "put"
            else 1_000_000
        )

    def rest(self, order: Order) -> int:
        """Put ``order`` at the back of its price level; returns the level's visible total."""
        key = order.key
        if order.is_buy:
            levels, keys = self.bid_levels, self.bid_keys
        else:
            levels, keys = self.ask_levels, self.ask_keys
        level = levels.get(key)
        if level is None:
            assert order.price is not None  # noqa: S101 - narrowing: limit and resting orders have a price
            level = levels[key] = Level(order.price, key)
            insort(keys, key)
        tail = level.tail
        order.prev = tail
        order.next = None
        if tail is None:
            level.head = order
        else:
            tail.next = order
        level.tail = order
        order.level = level
        level.total += order.visible
        return level.total

    def unlink(self, order: Order) -> int:
        """Take ``order`` out of its level; returns the level's visible total (0: level gone)."""
        level = order.level
        assert level is not None  # noqa: S101 - narrowing: resting orders have a level
        prev, nxt = order.prev, order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = order.level = None
        level.total -= order.visible
        if level.head is None:
            self.drop_level(level, order.is_buy)
            return 0
        return level.total

    def drop_level(self, level: Level, is_buy: bool) -> None:
        """Forget an empty level."""
        key = level.key
        if is_buy:
            del self.bid_levels[key]
            keys = self.bid_keys
        else:
            del self.ask_levels[key]
            keys = self.ask_keys
        if keys[0] == key:
            del keys[0]
        else:
            del keys[bisect_left(keys, key)]

    def best_bid(self) -> int | None:
        """The highest bid price, if any."""
        return -self.bid_keys[0] if self.bid_keys else None

    def best_ask(self) -> int | None:
        """The lowest ask price, if any."""
        return self.ask_keys[0] if self.ask_keys else None

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The best ``levels`` bids and asks as (price, visible quantity), best first."""
        bid_levels, ask_levels = self.bid_levels, self.ask_levels
        bids = [(-k, bid_levels[k].total) for k in self.bid_keys[:levels]]
        asks = [(k, ask_levels[k].total) for k in self.ask_keys[:levels]]
        return bids, asks

    def resting(self) -> Iterator[Order]:
        """Every resting order: bids best first then asks, each level in queue order."""
        for keys, levels in ((self.bid_keys, self.bid_levels), (self.ask_keys, self.ask_levels)):
            for key in keys:
                order = levels[key].head
                while order is not None:
                    yield order
                    order = order.next

    def position(self, account: str) -> int:
        """The account's net position in base units, as the engine knows it."""
        return self.positions.get(account, 0)
