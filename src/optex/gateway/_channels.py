"""Subscriptions: Deribit's channels, fed from the engine's stream of journal entries.

* ``book.{instrument}.{100ms,agg2,raw}``: a ``snapshot`` first, then ``change`` s carrying
  ``change_id`` (the journal sequence) and ``prev_change_id``, entries
  ``[new|change|delete, price, amount]``;
* ``book.{instrument}.none.{1,10,20}.{100ms,agg2}``: the top levels, whole, when they changed;
* ``trades.{instrument}.{interval}``, ``trades.{kind}.{currency}.{interval}``: public trades;
* ``ticker.{instrument}.{interval}``: the ticker (with mark IV and greeks for options);
* ``user.orders.{instrument}.{interval}``, ``user.orders.{kind}.{currency}.{interval}``: the
  session's orders as they change;
* ``user.trades.{instrument}.{interval}``, ``user.trades.{kind}.{currency}.{interval}``: the
  session's fills;
* ``user.portfolio.{currency}``: the session's account summary when it changed.

``raw`` channels are sent as each journal entry arrives, the others at most every 100 ms
(``agg2`` like ``100ms``). Book snapshots are consistent with the changes that follow: a
subscription buffers the stream from the moment it is made, reads a snapshot at journal
sequence S, and then sends only changes after S. After a gap in the stream (the engine
restarted, or this gateway fell behind) every book subscription starts again from a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from optex.core import Instrument, InstrumentKind, InvalidInput, OptexError
from optex.exchange import Event
from optex.gateway._convert import (
    book_json,
    coins,
    money,
    order_json,
    public_trade_json,
    summary_json,
    ticker_json,
    user_trade_json,
)
from optex.gateway._link import EngineLink
from optex.gateway._reasons import GatewayReason
from optex.market import (
    BookDelta,
    Fill,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderTriggered,
    Side,
)

log = logging.getLogger("optex.gateway")
INTERVALS: Final = ("raw", "100ms", "agg2")
FLUSH_S: Final = 0.1
MAX_CHANNEL_LENGTH: Final = 128
SNAPSHOT_DEPTH: Final = 1000
_KINDS: Final = ("future", "option", "any")


class Subscriber(Protocol):
    """A WebSocket connection as the hub sees it."""

    @property
    def account(self) -> str | None:
        """The authenticated account, if any."""
        ...

    @property
    def settlement_scale(self) -> int:
        """Base units of the settlement currency in one unit."""
        ...

    def notify(self, channel: str, data: Any) -> None:
        """Queue one ``subscription`` notification."""
        ...


@dataclass
class Channel:
    """A parsed channel name."""

    name: str
    kind: str
    instrument: str | None = None
    instrument_kind: str = "any"
    currency: str = "any"
    interval: str = "100ms"
    depth: int = 0

    def matches(self, instrument: Instrument) -> bool:
        """Whether events of ``instrument`` belong to this channel."""
        if self.instrument is not None:
            return instrument.name == self.instrument
        kind = "option" if instrument.kind is InstrumentKind.OPTION else "future"
        return self.instrument_kind in ("any", kind) and self.currency in (
            "any",
            instrument.underlying,
            instrument.settlement,
        )

    @property
    def private(self) -> bool:
        """Whether the channel needs an authenticated session."""
        return self.kind.startswith("user.") or (self.kind == "book" and self.interval == "raw")


def parse_channel(name: str, instruments: dict[str, Instrument]) -> Channel:
    """Parse a channel name, or say what is wrong with it."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_CHANNEL_LENGTH:
        raise _bad(f"a channel name is 1-{MAX_CHANNEL_LENGTH} characters")
    parts = name.split(".")
    head = parts[0]
    if head == "user" and len(parts) >= 3:
        head = f"user.{parts[1]}"
        parts = [head, *parts[2:]]
    if head == "user.portfolio" and len(parts) == 2:
        return Channel(name, head, currency=parts[1].upper())
    if head in ("book", "trades", "ticker", "user.orders", "user.trades"):
        if len(parts) == 3 and parts[2] in INTERVALS:
            _known(parts[1], instruments)
            return Channel(name, head, instrument=parts[1], interval=parts[2])
        if head == "book" and len(parts) == 5:
            _known(parts[1], instruments)
            if parts[2] != "none" or parts[3] not in ("1", "10", "20") or parts[4] == "raw":
                raise _bad(f"{name}: grouped books are book.INSTRUMENT.none.1|10|20.100ms|agg2")
            if parts[4] not in INTERVALS:
                raise _bad(f"{name}: unknown interval")
            return Channel(name, "book_top", parts[1], interval=parts[4], depth=int(parts[3]))
        if head in ("trades", "user.orders", "user.trades") and len(parts) == 4:
            kind, currency, interval = parts[1], parts[2].upper(), parts[3]
            if kind not in _KINDS or interval not in INTERVALS:
                raise _bad(f"{name}: expected {head}.KIND.CURRENCY.INTERVAL")
            return Channel(
                name,
                head,
                instrument_kind=kind,
                currency=currency.lower() if currency == "ANY" else currency,
                interval=interval,
            )
    raise _bad(f"{name!r:.80} is not a channel this gateway publishes")


def _known(name: str, instruments: dict[str, Instrument]) -> None:
    if name not in instruments:
        raise _bad(f"{name!r:.70} is not a listed instrument")


def _bad(message: str) -> InvalidInput:
    return InvalidInput(GatewayReason.INVALID_CHANNEL, message, param="channels")


@dataclass(eq=False)
class _Sub:
    conn: Subscriber
    channel: Channel
    ready: bool = True
    since: int = 0
    levels: dict[tuple[str, int], int] = field(default_factory=dict)
    pending: list[tuple[int, BookDelta]] = field(default_factory=list)
    outbox: list[Any] = field(default_factory=list)
    order_ids: set[int] = field(default_factory=set)
    dirty: bool = False
    last: Any = None
    prev_change_id: int = 0


class Hub:
    """Every live subscription, fed from the engine link's stream."""

    def __init__(self, link: EngineLink) -> None:
        self.link = link
        self.subs: dict[Subscriber, dict[str, _Sub]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flusher: asyncio.Task[None] | None = None
        link.listeners.append(self.on_entry)
        link.gap_listeners.append(self.on_gap)

    def start(self) -> None:
        """Start the 100 ms flush loop."""
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def close(self) -> None:
        """Stop flushing and drop every subscription."""
        for task in [self._flusher, *self._tasks]:
            if task is not None:
                task.cancel()
        self.subs.clear()

    def count(self, conn: Subscriber) -> int:
        """How many channels ``conn`` is subscribed to."""
        return len(self.subs.get(conn, {}))

    # Subscribing ---------------------------------------------------------------------------

    def parse(self, names: Iterable[str]) -> list[Channel]:
        """Parse channel names (all or nothing)."""
        return [parse_channel(name, self.link.instruments) for name in names]

    async def subscribe(self, conn: Subscriber, channels: list[Channel]) -> list[str]:
        """Add subscriptions and send each its first message; the names now subscribed."""
        mine = self.subs.setdefault(conn, {})
        added = []
        for channel in channels:
            if channel.name in mine:
                added.append(channel.name)
                continue
            sub = _Sub(conn, channel)
            mine[channel.name] = sub
            added.append(channel.name)
            if channel.kind == "book":
                sub.ready = False
                self._spawn(self._snapshot(sub))
            elif channel.kind in ("ticker", "book_top", "user.portfolio"):
                sub.dirty = True
        return added

    def unsubscribe(self, conn: Subscriber, names: Iterable[str]) -> list[str]:
        """Remove subscriptions; the names that were removed."""
        mine = self.subs.get(conn, {})
        return [name for name in names if mine.pop(name, None) is not None]

    def drop(self, conn: Subscriber) -> None:
        """Forget a closed connection."""
        self.subs.pop(conn, None)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _snapshot(self, sub: _Sub) -> None:
        name = sub.channel.instrument
        assert name is not None  # noqa: S101 - book channels always name one
        try:
            instrument = await self.link.instrument(name)
            book = await self.link.query("book", instrument=name, depth=SNAPSHOT_DEPTH)
        except OptexError as exc:
            # Without a snapshot the changes mean nothing: drop the subscription, say why.
            log.warning("book snapshot of %s failed: %s", name, exc)
            self.subs.get(sub.conn, {}).pop(sub.channel.name, None)
            return
        seq = book["seq"]
        sub.levels = {("bids", p): q for p, q in book["bids"]} | {
            ("asks", p): q for p, q in book["asks"]
        }
        sub.since = seq
        sub.prev_change_id = seq
        sub.conn.notify(
            sub.channel.name,
            {
                "type": "snapshot",
                "timestamp": book["ts_ms"],
                "instrument_name": name,
                "change_id": seq,
                "bids": [
                    ["new", money(instrument, p), coins(instrument, q)] for p, q in book["bids"]
                ],
                "asks": [
                    ["new", money(instrument, p), coins(instrument, q)] for p, q in book["asks"]
                ],
            },
        )
        sub.pending = [(s, d) for s, d in sub.pending if s > seq]
        sub.ready = True
        if sub.channel.interval == "raw":
            self._send_book_changes(sub)

    # Fan-out -------------------------------------------------------------------------------

    def on_gap(self) -> None:
        """The stream restarted: book subscriptions start again from a snapshot."""
        for mine in self.subs.values():
            for sub in mine.values():
                if sub.channel.kind == "book":
                    sub.ready = False
                    sub.pending.clear()
                    self._spawn(self._snapshot(sub))
                else:
                    sub.dirty = True

    def on_entry(self, seq: int, events: list[Event]) -> None:
        """One journal entry's events: queue what each subscription must send."""
        if not self.subs:
            return
        try:
            self._route(seq, events)
        except Exception:  # a bug here must not stop the stream for everyone else
            log.exception("routing entry %s failed", seq)

    def _route(self, seq: int, events: list[Event]) -> None:
        instruments = self.link.instruments
        touched: dict[str, set[int]] = {}
        changed: set[str] = set()
        accounts: set[str] = set()
        fills: list[Fill] = []
        deltas: list[BookDelta] = []
        for event in events:
            if isinstance(event, BookDelta):
                deltas.append(event)
                changed.add(event.instrument)
            elif isinstance(event, Fill):
                fills.append(event)
                changed.add(event.instrument)
                accounts.update((event.maker_account, event.taker_account))
                touched.setdefault(event.maker_account, set()).add(event.maker_order_id)
                touched.setdefault(event.taker_account, set()).add(event.taker_order_id)
            elif isinstance(
                event, OrderAccepted | OrderCancelled | OrderAmended | OrderExpired | OrderTriggered
            ):
                touched.setdefault(event.account, set()).add(event.order_id)
                accounts.add(event.account)
        for mine in self.subs.values():
            for sub in mine.values():
                kind = sub.channel.kind
                if kind == "book":
                    self._route_book(sub, seq, deltas)
                elif kind in ("ticker", "book_top"):
                    if sub.channel.instrument in changed:
                        sub.dirty = True
                elif kind == "trades":
                    for fill in fills:
                        instrument = instruments.get(fill.instrument)
                        if instrument is not None and sub.channel.matches(instrument):
                            sub.outbox.append(public_trade_json(_trade(seq, fill), instrument))
                elif kind == "user.trades":
                    self._route_user_trades(sub, seq, fills)
                elif kind == "user.orders":
                    for order_id in touched.get(sub.conn.account or "", ()):
                        sub.order_ids.add(order_id)
                elif kind == "user.portfolio" and sub.conn.account in accounts:
                    sub.dirty = True
                if sub.channel.interval == "raw":
                    self._flush_sub(sub)

    def _route_book(self, sub: _Sub, seq: int, deltas: list[BookDelta]) -> None:
        for delta in deltas:
            if delta.instrument == sub.channel.instrument:
                if sub.ready and seq <= sub.since:
                    continue
                sub.pending.append((seq, delta))

    def _route_user_trades(self, sub: _Sub, seq: int, fills: list[Fill]) -> None:
        account = sub.conn.account
        if account is None:
            return
        for fill in fills:
            if account not in (fill.maker_account, fill.taker_account):
                continue
            instrument = self.link.instruments.get(fill.instrument)
            if instrument is None or not sub.channel.matches(instrument):
                continue
            # Fees are the engine's: read with the order's trades when flushed.
            sub.order_ids.update({fill.maker_order_id, fill.taker_order_id})
            sub.outbox.append(fill.trade_id)

    # Flushing ------------------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                for mine in list(self.subs.values()):
                    for sub in list(mine.values()):
                        if sub.channel.interval != "raw" or sub.channel.kind in (
                            "ticker",
                            "book_top",
                        ):
                            self._flush_sub(sub)
            except Exception:  # a bug here must not stop every other subscription's flushes
                log.exception("flushing subscriptions failed")

    def _flush_sub(self, sub: _Sub) -> None:
        kind = sub.channel.kind
        if kind == "book":
            if sub.ready and sub.pending:
                self._send_book_changes(sub)
        elif kind == "trades":
            if sub.outbox:
                sub.conn.notify(sub.channel.name, sub.outbox)
                sub.outbox = []
        elif kind in ("user.trades", "user.orders"):
            if sub.order_ids or sub.outbox:
                ids, trade_ids = sorted(sub.order_ids), list(sub.outbox)
                sub.order_ids, sub.outbox = set(), []
                self._spawn(self._send_user(sub, ids, trade_ids))
        elif sub.dirty:
            sub.dirty = False
            self._spawn(self._send_state(sub))

    def _send_book_changes(self, sub: _Sub) -> None:
        name = sub.channel.instrument
        instrument = self.link.instruments.get(name or "")
        if instrument is None or not sub.pending:
            return
        last_seq, last_delta = sub.pending[-1]
        latest: dict[tuple[str, int], int] = {}
        for _, delta in sub.pending:
            side = "bids" if delta.side is Side.BUY else "asks"
            latest[(side, delta.price)] = delta.quantity
        sub.pending = []
        changes: dict[str, list[list[Any]]] = {"bids": [], "asks": []}
        for (side, price), quantity in latest.items():
            known = (side, price) in sub.levels
            if quantity == 0:
                if not known:
                    continue
                del sub.levels[(side, price)]
                action = "delete"
            else:
                action = "change" if known else "new"
                sub.levels[(side, price)] = quantity
            changes[side].append([action, money(instrument, price), coins(instrument, quantity)])
        sub.conn.notify(
            sub.channel.name,
            {
                "type": "change",
                "timestamp": last_delta.ts_ms,
                "instrument_name": instrument.name,
                "change_id": last_seq,
                "prev_change_id": sub.prev_change_id,
                "bids": changes["bids"],
                "asks": changes["asks"],
            },
        )
        sub.prev_change_id = last_seq

    async def _send_user(self, sub: _Sub, order_ids: list[int], trade_ids: list[int]) -> None:
        account = sub.conn.account
        if account is None:
            return
        with contextlib.suppress(OptexError):
            if sub.channel.kind == "user.orders":
                views = await self.link.query("orders", account=account, order_ids=order_ids)
                orders = []
                for view in views:
                    instrument = self.link.instruments.get(view["instrument"])
                    if instrument is not None and sub.channel.matches(instrument):
                        orders.append(order_json(view, instrument))
                if not orders:
                    return
                if sub.channel.interval == "raw":
                    for order in orders:
                        sub.conn.notify(sub.channel.name, order)
                else:
                    sub.conn.notify(sub.channel.name, orders)
                return
            trades = await self.link.query(
                "user_trades", account=account, trade_ids=trade_ids, count=len(trade_ids)
            )
            found = []
            for trade in trades:
                instrument = self.link.instruments.get(trade["instrument"])
                if instrument is not None:
                    found += user_trade_json(trade, account, instrument)
            if found:
                sub.conn.notify(sub.channel.name, found)

    async def _send_state(self, sub: _Sub) -> None:
        channel = sub.channel
        try:
            if channel.kind == "user.portfolio":
                if sub.conn.account is None:
                    return
                try:
                    account = await self.link.query("account", account=sub.conn.account)
                except OptexError:
                    account = None
                data = summary_json(account, "USDC", sub.conn.settlement_scale)
            else:
                name = channel.instrument or ""
                instrument = await self.link.instrument(name)
                if channel.kind == "ticker":
                    data = ticker_json(await self.link.query("ticker", instrument=name), instrument)
                else:
                    book = await self.link.query("book", instrument=name, depth=channel.depth)
                    full = book_json(book, instrument)
                    data = {
                        "timestamp": book["ts_ms"],
                        "instrument_name": name,
                        "change_id": book["seq"],
                        "bids": full["bids"],
                        "asks": full["asks"],
                    }
        except OptexError as exc:
            log.warning("%s failed: %s", channel.name, exc)
            return
        comparable = {k: v for k, v in data.items() if k not in ("timestamp", "change_id")}
        if comparable == sub.last:
            return
        sub.last = comparable
        sub.conn.notify(channel.name, data)


def _level(action: str, instrument: Instrument, price: int, quantity: int) -> list[Any]:
    return [action, money(instrument, price), coins(instrument, quantity)]


def _trade(seq: int, fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "ts_ms": fill.ts_ms,
        "instrument": fill.instrument,
        "price": fill.price,
        "quantity": fill.quantity,
        "aggressor_side": fill.aggressor_side.value,
        "index": None,
        "mark": None,
    }
