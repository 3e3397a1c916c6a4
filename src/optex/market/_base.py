"""The engine's state and the small operations every command shares.

Split from the command handlers only to keep modules short: ``EngineBase`` owns the data (books,
live orders, client ids, deadlines, MMP groups, quotes, counters) and the bookkeeping that keeps
them consistent (register, forget, finish, remove, expire).
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any, Final

from optex.core import (
    NotFound,
    ReasonCode,
    Side,
)
from optex.market._book import Book, Order
from optex.market._checks import (
    AcceptAll,
    PreTradeCheck,
)
from optex.market._lifecycle import OrderState, Trigger, advance
from optex.market._messages import (
    BookDelta,
    CancelReason,
    Event,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    PostOnly,
    StpMode,
)
from optex.market._mmp import MmpState
from optex.market._reasons import MarketReason

# Larger than any price key, so an order without a limit crosses every level.
UNBOUNDED: Final = 1 << 127
# Self-trade prevention for accounts that chose none: trade, as a plain book would.
DEFAULT_STP: Final = StpMode.ALLOW


_S = OrderState
_T = Trigger


# Enum members as module constants: in CPython 3.11 reading a member off its class costs
# about 190 ns (EnumType.__getattr__), more than most of what the hot path does.
_PO_REJECT = PostOnly.REJECT
_STATE_UNTRIGGERED = OrderState.UNTRIGGERED
_TRIG_CANCEL = Trigger.CANCEL
_TRIG_EXPIRE = Trigger.EXPIRE


def reducible(position: int, is_buy: bool) -> int:
    """How much an order on this side can trade before it stops reducing ``position``."""
    if is_buy:
        return -position if position < 0 else 0
    return position if position > 0 else 0


class EngineBase:
    """The engine's data and shared bookkeeping (see :class:`MatchingEngine`)."""

    def __init__(self, pre_trade: PreTradeCheck | None = None) -> None:
        self._books: dict[str, Book] = {}
        # Every live order (resting or waiting for its trigger), in order of acceptance.
        self._orders: dict[int, Order] = {}
        self._client_ids: dict[tuple[str, str], Order] = {}
        self._stp: dict[str, StpMode] = {}
        self._mmp: dict[tuple[str, str], MmpState] = {}
        self._quotes: dict[tuple[str, str, str, Side], Order] = {}
        # (time, kind, order id, instrument): kind 0 is an order's expire_ts_ms (GTD, a GTC
        # order's limit, a quote's end), 1 an instrument's expiry. An entry whose order has
        # since changed its time is skipped when it comes due.
        self._deadlines: list[tuple[int, int, int, str]] = []
        self._next_deadline = UNBOUNDED
        self._now = 0
        self._next_order_id = 1
        self._next_trade_id = 1
        self._mmp_hits: list[tuple[str, str, int, int]] = []
        self._pre_trade = (
            None if pre_trade is None or isinstance(pre_trade, AcceptAll) else pre_trade
        )

    def book(self, instrument: str) -> Book:
        """The book of ``instrument``."""
        book = self._books.get(instrument)
        if book is None:
            raise NotFound(MarketReason.UNKNOWN_INSTRUMENT, f"{instrument!r} is not listed")
        return book

    def position(self, account: str, instrument: str) -> int:
        """The account's net position in base units, from its fills and :class:`SetPosition`."""
        return self.book(instrument).positions.get(account, 0)

    def _rejection(
        self, command: Any, code: ReasonCode, message: str, order_id: int | None = None
    ) -> OrderRejected:
        return OrderRejected(
            command.ts_ms,
            command.account,
            getattr(command, "client_order_id", None),
            order_id if order_id is not None else getattr(command, "order_id", None),
            int(code),
            code.reason,
            message,
        )

    def _register(self, order: Order) -> None:
        self._orders[order.order_id] = order
        if order.client_order_id is not None:
            self._client_ids[order.account, order.client_order_id] = order
        if order.expire_ts_ms is not None:
            self._push_deadline((order.expire_ts_ms, 0, order.order_id, ""))

    def _forget(self, order: Order) -> None:
        del self._orders[order.order_id]
        if order.client_order_id is not None:
            del self._client_ids[order.account, order.client_order_id]
        if order.quote:
            assert order.mmp_group is not None  # noqa: S101 - narrowing: quotes always have a group
            key = (order.account, order.mmp_group, order.instrument, order.side)
            if self._quotes.get(key) is order:
                del self._quotes[key]

    def _push_deadline(self, entry: tuple[int, int, int, str]) -> None:
        heappush(self._deadlines, entry)
        self._next_deadline = self._deadlines[0][0]

    def _finish(self, order: Order, reason: CancelReason, events: list[Event], ts: int) -> None:
        """Cancel the rest of an order that is not in the book."""
        quantity = order.remaining
        order.cancelled += quantity
        order.remaining = 0
        order.visible = 0
        order.state = advance(order.state, _TRIG_CANCEL)
        if order.order_id in self._orders:
            self._forget(order)
        events.append(
            OrderCancelled(ts, order.order_id, order.account, order.instrument, quantity, reason)
        )

    def _remove(
        self, order: Order, reason: CancelReason | None, events: list[Event], ts: int
    ) -> None:
        """Take a live order out of its book and end it: cancelled, or expired if no reason."""
        book = self._books[order.instrument]
        if order.state is _STATE_UNTRIGGERED:
            del book.stops[order.order_id]
        else:
            total = book.unlink(order)
            assert order.price is not None  # noqa: S101 - narrowing: limit and resting orders have a price
            events.append(BookDelta(ts, book.name, order.side, order.price, total))
        if reason is not None:
            self._finish(order, reason, events, ts)
            return
        quantity = order.remaining
        order.cancelled += quantity
        order.remaining = order.visible = 0
        order.state = advance(order.state, _TRIG_EXPIRE)
        self._forget(order)
        events.append(OrderExpired(ts, order.order_id, order.account, order.instrument, quantity))

    def _amended(self, order: Order, ts: int, kept_priority: bool) -> OrderAmended:
        return OrderAmended(
            ts,
            order.order_id,
            order.account,
            order.instrument,
            order.price,
            order.quantity,
            order.remaining,
            order.trigger_price,
            kept_priority,
        )

    def _expire(self, ts: int, events: list[Event]) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= ts:
            when, kind, order_id, name = heappop(deadlines)
            if kind == 0:
                order = self._orders.get(order_id)
                if order is not None and order.expire_ts_ms == when:
                    self._remove(order, None, events, when)
                continue
            book = self._books[name]
            doomed = [o for o in self._orders.values() if o.instrument == name]
            for order in doomed:
                self._remove(order, None, events, when)
            del book
        self._next_deadline = deadlines[0][0] if deadlines else UNBOUNDED

    def _check_group(self, account: str, group: str, ts: int) -> tuple[MarketReason, str] | None:
        state = self._mmp.get((account, group))
        if state is None:
            return MarketReason.MMP_GROUP_UNKNOWN, f"set up market maker protection for {group!r}"
        if state.is_frozen(ts):
            until = state.frozen_until_ms
            return MarketReason.MMP_FROZEN, (
                f"group {group!r} is frozen " + (f"until {until}" if until else "until reset")
            )
        return None

    def _reduce_only_cap(self, book: Book, account: str, is_buy: bool, quantity: int) -> int:
        lot = book.instrument.lot_size
        allowed = reducible(book.positions.get(account, 0), is_buy) // lot * lot
        return quantity if quantity <= allowed else allowed

    def _reduce_only_problem(self, book: Book, account: str) -> tuple[MarketReason, str]:
        position = book.positions.get(account, 0)
        return (
            MarketReason.REDUCE_ONLY_WOULD_INCREASE,
            f"the position in {book.name} is {position}; this side would not reduce it",
        )

    def _post_only_price(self, book: Book, is_buy: bool, price: int, mode: PostOnly) -> int | None:
        tick = book.instrument.tick_size
        if is_buy:
            best = book.best_ask()
            if best is None or price < best:
                return price
            repriced = best - tick
        else:
            best = book.best_bid()
            if best is None or price > best:
                return price
            repriced = best + tick
        if mode is _PO_REJECT or repriced <= 0:
            return None
        return repriced
