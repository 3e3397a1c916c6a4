"""Matching: price-time priority against one book, FOK dry runs, and what follows a trade.

``_match`` is the hot loop. It keeps attribute lookups in locals and allocates nothing per fill but
the events it must return; the maker at the head of the best level is always the next to trade,
because every order before it was filled, cancelled or (an iceberg's spent slice) moved to the
back.
"""

from __future__ import annotations

from collections import deque

from optex.core import (
    Side,
    TimeInForce,
)
from optex.market._base import UNBOUNDED, EngineBase, reducible
from optex.market._book import Book, Level, Order
from optex.market._checks import (
    MARKET_TYPES,
    reference_price,
    trigger_reached,
)
from optex.market._lifecycle import Trigger, advance
from optex.market._messages import (
    BookDelta,
    CancelReason,
    Event,
    Fill,
    MmpTriggered,
    OrderTriggered,
    StpMode,
)

# Module-level aliases: a global lookup is cheaper than an enum attribute in the hot loop.
_T = Trigger
_ALLOW = StpMode.ALLOW
_CANCEL_TAKER = StpMode.CANCEL_TAKER
_CANCEL_MAKER = StpMode.CANCEL_MAKER
_BUY = Side.BUY
_SELL = Side.SELL
_FOK = TimeInForce.FOK
_IOC = TimeInForce.IOC


# Enum members as module constants: in CPython 3.11 reading a member off its class costs
# about 190 ns (EnumType.__getattr__), more than most of what the hot path does.
_CR_FILL_OR_KILL = CancelReason.FILL_OR_KILL
_CR_IMMEDIATE_OR_CANCEL = CancelReason.IMMEDIATE_OR_CANCEL
_CR_MMP_TRIGGERED = CancelReason.MMP_TRIGGERED
_CR_NO_LIQUIDITY = CancelReason.NO_LIQUIDITY
_CR_PRICE_PROTECTION = CancelReason.PRICE_PROTECTION
_CR_REDUCE_ONLY = CancelReason.REDUCE_ONLY
_CR_SELF_TRADE = CancelReason.SELF_TRADE
_TRIG_AMEND = Trigger.AMEND
_TRIG_FULL_FILL = Trigger.FULL_FILL
_TRIG_PARTIAL_FILL = Trigger.PARTIAL_FILL
_TRIG_TRIGGER = Trigger.TRIGGER


class Matcher(EngineBase):
    """Matching: price-time priority against one book, FOK dry runs, and what follows a trade."""

    def _execute(self, book: Book, order: Order, events: list[Event], ts: int) -> None:
        """Trade an order that has just become active, then rest or cancel what is left."""
        tif = order.tif
        if tif is _FOK and self._fillable(book, order) < order.remaining:
            self._finish(order, _CR_FILL_OR_KILL, events, ts)
            return
        # Most orders do not cross: test that here rather than pay for a call.
        price = order.price
        if order.is_buy:
            keys = book.ask_keys
            crosses = keys and (price is None or keys[0] <= price)
        else:
            keys = book.bid_keys
            crosses = keys and (price is None or keys[0] <= -price)
        stopped = self._match(book, order, events, ts) if crosses else None
        if not order.remaining:
            if order.order_id in self._orders:
                self._forget(order)
            return
        if stopped is not None:
            self._finish(order, stopped, events, ts)
        elif order.order_type in MARKET_TYPES:
            keys = book.ask_keys if order.is_buy else book.bid_keys
            reason = _CR_PRICE_PROTECTION if keys else _CR_NO_LIQUIDITY
            self._finish(order, reason, events, ts)
        elif tif is _IOC or tif is _FOK:
            self._finish(order, _CR_IMMEDIATE_OR_CANCEL, events, ts)
        else:
            if order.order_id not in self._orders:
                self._register(order)
            display = order.display
            remaining = order.remaining
            order.visible = display if display and display < remaining else remaining
            total = book.rest(order)
            assert order.price is not None  # noqa: S101 - narrowing: limit and resting orders have a price
            events.append(BookDelta(ts, book.name, order.side, order.price, total))

    def _match(self, book: Book, taker: Order, events: list[Event], ts: int) -> CancelReason | None:
        """Trade ``taker`` against the other side in price-time priority.

        Returns why the taker must stop early (self-trade prevention), or ``None``.
        """
        is_buy = taker.is_buy
        price_limit = taker.price
        if is_buy:
            keys, levels, maker_side = book.ask_keys, book.ask_levels, _SELL
            limit = UNBOUNDED if price_limit is None else price_limit
        else:
            keys, levels, maker_side = book.bid_keys, book.bid_levels, _BUY
            limit = UNBOUNDED if price_limit is None else -price_limit
        if not keys or keys[0] > limit:
            return None
        remaining = taker.remaining
        account = taker.account
        taker_id = taker.order_id
        taker_side = taker.side
        stp = taker.stp
        check_self = stp is not _ALLOW
        name = book.name
        positions = book.positions
        trade_id = self._next_trade_id
        append = events.append
        stopped: CancelReason | None = None
        filled = 0
        last = 0
        sign = -1 if is_buy else 1
        while remaining and keys and keys[0] <= limit:
            key = keys[0]
            level = levels[key]
            price = level.price
            while remaining:
                maker = level.head
                if maker is None:
                    break
                maker_account = maker.account
                if check_self and maker_account == account:
                    if stp is not _CANCEL_TAKER:
                        self._cancel_head(level, maker, _CR_SELF_TRADE, events, ts)
                    if stp is not _CANCEL_MAKER:
                        stopped = _CR_SELF_TRADE
                        break
                    continue
                visible = maker.visible
                quantity = remaining if remaining < visible else visible
                if maker.reduce_only:
                    allowed = reducible(positions.get(maker_account, 0), maker.is_buy)
                    if not allowed:
                        self._cancel_head(level, maker, _CR_REDUCE_ONLY, events, ts)
                        continue
                    quantity = min(quantity, allowed)
                remaining -= quantity
                filled += quantity
                maker.filled += quantity
                maker_remaining = maker.remaining - quantity
                maker.remaining = maker_remaining
                maker.visible = visible - quantity
                level.total -= quantity
                positions[maker_account] = positions.get(maker_account, 0) + sign * quantity
                positions[account] = positions.get(account, 0) - sign * quantity
                last = price
                append(
                    Fill(
                        ts,
                        trade_id,
                        name,
                        price,
                        quantity,
                        taker_side,
                        maker.order_id,
                        maker_account,
                        taker_id,
                        account,
                    )
                )
                trade_id += 1
                if maker.mmp_group is not None:
                    self._mmp_hits.append(
                        (maker_account, maker.mmp_group, quantity, sign * quantity * book.delta_ppm)
                    )
                if not maker_remaining:
                    maker.state = advance(maker.state, _TRIG_FULL_FILL)
                    following = maker.next
                    level.head = following
                    if following is None:
                        level.tail = None
                    else:
                        following.prev = None
                    maker.next = maker.level = None
                    self._forget(maker)
                    continue
                maker.state = advance(maker.state, _TRIG_PARTIAL_FILL)
                if maker.reduce_only and not reducible(positions[maker_account], maker.is_buy):
                    self._cancel_head(level, maker, _CR_REDUCE_ONLY, events, ts)
                elif not maker.visible:
                    self._replenish(level, maker)
            if level.head is None:
                del levels[key]
                del keys[0]
                append(BookDelta(ts, name, maker_side, price, 0))
            else:
                append(BookDelta(ts, name, maker_side, price, level.total))
            if stopped is not None:
                break
        self._next_trade_id = trade_id
        if filled:
            taker.filled += filled
            taker.remaining = remaining
            taker.state = advance(taker.state, _TRIG_PARTIAL_FILL if remaining else _TRIG_FULL_FILL)
            book.last = last
            if taker.mmp_group is not None:
                self._mmp_hits.append(
                    (account, taker.mmp_group, filled, -sign * filled * book.delta_ppm)
                )
        return stopped

    @staticmethod
    def _replenish(level: Level, maker: Order) -> None:
        """Show an iceberg's next slice, at the back of its level's queue."""
        display = maker.display
        remaining = maker.remaining
        maker.visible = display if display < remaining else remaining
        level.total += maker.visible
        following = maker.next
        if following is not None:
            level.head = following
            following.prev = None
            tail = level.tail
            assert tail is not None  # noqa: S101 - narrowing: a level with two orders has a tail
            tail.next = maker
            maker.prev = tail
            maker.next = None
            level.tail = maker

    def _cancel_head(
        self, level: Level, maker: Order, reason: CancelReason, events: list[Event], ts: int
    ) -> None:
        """Cancel the order at the head of a level during matching (the level stays)."""
        following = maker.next
        level.head = following
        if following is None:
            level.tail = None
        else:
            following.prev = None
        maker.next = maker.level = None
        level.total -= maker.visible
        self._finish(maker, reason, events, ts)

    def _fillable(self, book: Book, taker: Order) -> int:
        """How much of ``taker`` would trade now, found by a dry run (for FOK).

        Each level is replayed as a queue of (order, remaining, visible), icebergs going to the
        back after each slice, so self-trade prevention and reduce-only limits stop the count
        exactly where real matching would stop.
        """
        is_buy = taker.is_buy
        if is_buy:
            keys, levels = book.ask_keys, book.ask_levels
            limit = UNBOUNDED if taker.price is None else taker.price
        else:
            keys, levels = book.bid_keys, book.bid_levels
            limit = UNBOUNDED if taker.price is None else -taker.price
        need = taker.remaining
        stp = taker.stp
        sign = -1 if is_buy else 1
        positions = dict(book.positions)
        total = 0
        for key in keys:
            if key > limit:
                break
            queue: deque[tuple[Order, int, int]] = deque()
            maker = levels[key].head
            while maker is not None:
                queue.append((maker, maker.remaining, maker.visible))
                maker = maker.next
            while queue:
                maker, remaining, visible = queue.popleft()
                if stp is not _ALLOW and maker.account == taker.account:
                    if stp is not _CANCEL_MAKER:
                        return total
                    continue
                quantity = visible
                if maker.reduce_only:
                    quantity = min(
                        quantity, reducible(positions.get(maker.account, 0), maker.is_buy)
                    )
                    if not quantity:
                        continue
                positions[maker.account] = positions.get(maker.account, 0) + sign * quantity
                positions[taker.account] = positions.get(taker.account, 0) - sign * quantity
                total += quantity
                if total >= need:
                    return total
                remaining -= quantity
                if not remaining:
                    continue
                if quantity < visible:
                    # Capped by reduce-only: the rest of the slice still shows, at the head, as
                    # in _match (a self-trade leaves the position, and so the cap, unchanged).
                    queue.appendleft((maker, remaining, visible - quantity))
                else:
                    display = maker.display
                    queue.append((maker, remaining, display if display < remaining else remaining))
        return total

    def _settle(self, book: Book, events: list[Event], ts: int) -> None:
        """After trading: market maker protection, then the stops the new last price fires."""
        if self._mmp_hits:
            self._apply_mmp(events, ts)
        if book.stops:
            self._run_triggers(book, events, ts)

    def _apply_mmp(self, events: list[Event], ts: int) -> None:
        hits, self._mmp_hits = self._mmp_hits, []
        for account, group, quantity, delta in hits:
            state = self._mmp.get((account, group))
            if state is None or state.is_frozen(ts) or not state.record(ts, quantity, delta):
                continue
            until = state.freeze(ts)
            events.append(MmpTriggered(ts, account, group, until))
            doomed = [
                o for o in self._orders.values() if o.account == account and o.mmp_group == group
            ]
            for order in doomed:
                self._remove(order, _CR_MMP_TRIGGERED, events, ts)

    def _run_triggers(self, book: Book, events: list[Event], ts: int) -> None:
        """Fire stops one at a time, oldest first, until the prices fire no more."""
        while book.stops:
            fired: Order | None = None
            current = 0
            for order in book.stops.values():
                price = reference_price(book, order.trigger)
                assert order.trigger_price is not None  # noqa: S101 - narrowing: waiting stops have a trigger
                if price is not None and trigger_reached(
                    order.order_type, order.is_buy, order.trigger_price, price
                ):
                    fired, current = order, price
                    break
            if fired is None:
                return
            del book.stops[fired.order_id]
            fired.state = advance(fired.state, _TRIG_TRIGGER)
            assert fired.trigger_price is not None  # noqa: S101 - narrowing: waiting stops have a trigger
            events.append(
                OrderTriggered(
                    ts, fired.order_id, fired.account, book.name, fired.trigger_price, current
                )
            )
            if fired.reduce_only:
                allowed = self._reduce_only_cap(book, fired.account, fired.is_buy, fired.remaining)
                if not allowed:
                    self._finish(fired, _CR_REDUCE_ONLY, events, ts)
                    continue
                if allowed < fired.remaining:
                    fired.quantity -= fired.remaining - allowed
                    fired.remaining = fired.visible = allowed
                    fired.state = advance(fired.state, _TRIG_AMEND)
                    events.append(self._amended(fired, ts, kept_priority=False))
            self._execute(book, fired, events, ts)
            if self._mmp_hits:
                self._apply_mmp(events, ts)
