"""The engine's whole state as plain records: one definition for the hash, snapshot and restore.

The records list contents in a canonical order (books by name, each book's bids best first
then asks, each level in queue order, then waiting stops by id), never the layout of the
structures that hold them, so that two engines that went through the same commands, or one
restored from the other's snapshot, have the same bytes under :func:`optex.core.encode` and the
same SHA-256.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import msgspec

from optex.core import (
    Instrument,
    OrderType,
    Side,
    TimeInForce,
    decode,
    encode,
)
from optex.market._base import UNBOUNDED
from optex.market._book import Book, Order
from optex.market._lifecycle import OrderState
from optex.market._messages import (
    PostOnly,
    PriceSource,
    StpMode,
)
from optex.market._mmp import MmpState

if TYPE_CHECKING:
    from optex.market._engine import MatchingEngine

FORMAT_VERSION = 1


class OrderRecord(msgspec.Struct, frozen=True, array_like=True):
    """One live order, every field that matters."""

    order_id: int
    account: str
    client_order_id: str | None
    side: Side
    order_type: OrderType
    price: int | None
    quantity: int
    remaining: int
    filled: int
    cancelled: int
    display: int
    visible: int
    tif: TimeInForce
    ts_ms: int
    expire_ts_ms: int | None
    post_only: PostOnly
    reduce_only: bool
    stp: StpMode | None
    mmp_group: str | None
    trigger: PriceSource
    trigger_price: int | None
    state: OrderState
    quote: bool


class BookRecord(msgspec.Struct, frozen=True):
    """One instrument: its prices, positions, resting orders in priority order and stops."""

    instrument: Instrument
    band_bps: int | None
    band_min: int
    mark: int | None
    index: int | None
    last: int | None
    delta_ppm: int
    positions: dict[str, int]
    resting: list[OrderRecord]
    stops: list[OrderRecord]


class MmpRecord(msgspec.Struct, frozen=True):
    """One market maker protection group."""

    account: str
    mmp_group: str
    interval_ms: int
    frozen_ms: int
    quantity_limit: int
    delta_limit: int
    window: list[tuple[int, int, int]]
    frozen_until_ms: int | None


class EngineState(msgspec.Struct, frozen=True):
    """Everything a :class:`MatchingEngine` knows."""

    version: int
    now_ms: int
    next_order_id: int
    next_trade_id: int
    books: list[BookRecord]
    stp: dict[str, StpMode]
    mmp: list[MmpRecord]


def _order_record(o: Order) -> OrderRecord:
    return OrderRecord(
        o.order_id,
        o.account,
        o.client_order_id,
        o.side,
        o.order_type,
        o.price,
        o.quantity,
        o.remaining,
        o.filled,
        o.cancelled,
        o.display,
        o.visible,
        o.tif,
        o.ts_ms,
        o.expire_ts_ms,
        o.post_only,
        o.reduce_only,
        o.stp,
        o.mmp_group,
        o.trigger,
        o.trigger_price,
        o.state,
        o.quote,
    )


def _order(r: OrderRecord, instrument: str) -> Order:
    o = Order(
        r.order_id, r.account, instrument, r.side, r.order_type, r.price, r.quantity, r.tif, r.ts_ms
    )
    o.remaining, o.filled, o.cancelled = r.remaining, r.filled, r.cancelled
    o.display, o.visible = r.display, r.visible
    o.client_order_id, o.expire_ts_ms = r.client_order_id, r.expire_ts_ms
    o.post_only, o.reduce_only, o.stp, o.mmp_group = r.post_only, r.reduce_only, r.stp, r.mmp_group
    o.trigger, o.trigger_price, o.state, o.quote = r.trigger, r.trigger_price, r.state, r.quote
    return o


def _book_record(book: Book) -> BookRecord:
    return BookRecord(
        book.instrument,
        book.band_bps,
        book.band_min,
        book.mark,
        book.index,
        book.last,
        book.delta_ppm,
        {a: p for a, p in sorted(book.positions.items()) if p},
        [_order_record(o) for o in book.resting()],
        [_order_record(o) for o in sorted(book.stops.values(), key=lambda o: o.order_id)],
    )


def _mmp_record(account: str, group: str, s: MmpState, now_ms: int) -> MmpRecord:
    # A timed freeze that has ended is the same state as no freeze.
    frozen_until = s.frozen_until_ms if s.is_frozen(now_ms) else None
    return MmpRecord(
        account,
        group,
        s.interval_ms,
        s.frozen_ms,
        s.quantity_limit,
        s.delta_limit,
        list(s.window),
        frozen_until,
    )


def engine_state(engine: MatchingEngine) -> EngineState:
    """The canonical record of ``engine``'s state."""
    e = engine
    return EngineState(
        FORMAT_VERSION,
        e._now,
        e._next_order_id,
        e._next_trade_id,
        [_book_record(e._books[name]) for name in sorted(e._books)],
        dict(sorted(e._stp.items())),
        [_mmp_record(a, g, s, e._now) for (a, g), s in sorted(e._mmp.items())],
    )


def state_hash(engine: MatchingEngine) -> bytes:
    """SHA-256 of the canonical encoding of the engine's state."""
    return hashlib.sha256(encode(engine_state(engine))).digest()


def snapshot(engine: MatchingEngine) -> bytes:
    """The engine's state as canonical bytes."""
    return encode(engine_state(engine))


def restore_into(engine: MatchingEngine, data: bytes) -> None:
    """Load a snapshot into a freshly made engine."""
    state = decode(data, EngineState)
    e = engine
    e._now = state.now_ms
    e._next_order_id = state.next_order_id
    e._next_trade_id = state.next_trade_id
    e._stp = dict(state.stp)
    orders: list[Order] = []
    for rec in state.books:
        book = Book(rec.instrument, rec.band_bps, rec.band_min)
        book.mark, book.index, book.last, book.delta_ppm = (
            rec.mark,
            rec.index,
            rec.last,
            rec.delta_ppm,
        )
        book.positions = dict(rec.positions)
        e._books[book.name] = book
        expiry = rec.instrument.expiry_ms
        if expiry is not None and expiry > state.now_ms:
            e._deadlines.append((expiry, 1, 0, book.name))
        for r in rec.resting:
            o = _order(r, book.name)
            visible = o.visible
            book.rest(o)
            o.visible = visible
            orders.append(o)
        for r in rec.stops:
            o = _order(r, book.name)
            book.stops[o.order_id] = o
            orders.append(o)
    for o in sorted(orders, key=lambda o: o.order_id):
        e._orders[o.order_id] = o
        if o.client_order_id is not None:
            e._client_ids[o.account, o.client_order_id] = o
        if o.expire_ts_ms is not None:
            e._deadlines.append((o.expire_ts_ms, 0, o.order_id, ""))
        if o.quote:
            assert o.mmp_group is not None  # noqa: S101 - narrowing: quotes always have a group
            e._quotes[o.account, o.mmp_group, o.instrument, o.side] = o
    e._deadlines.sort()
    e._next_deadline = e._deadlines[0][0] if e._deadlines else UNBOUNDED
    for m in state.mmp:
        s = MmpState(m.interval_ms, m.frozen_ms, m.quantity_limit, m.delta_limit)
        for entry in m.window:
            s.window.append(tuple(entry))  # type: ignore[arg-type]
            s.sum_quantity += entry[1]
            s.sum_delta += entry[2]
        if m.frozen_until_ms is not None:
            s.frozen, s.frozen_until_ms = True, m.frozen_until_ms
        e._mmp[m.account, m.mmp_group] = s
