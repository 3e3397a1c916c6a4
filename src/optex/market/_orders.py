"""New orders, cancels, mass cancels and amendments."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import astuple

from optex.core import (
    OrderType,
    Side,
    TimeInForce,
)
from optex.market._base import DEFAULT_STP
from optex.market._book import Book, Order
from optex.market._checks import (
    TRIGGERED_TYPES,
    OrderRequest,
    check_band,
    check_new_order,
    check_price,
    check_quantity,
    reference_price,
    trigger_reached,
)
from optex.market._lifecycle import OrderState, Trigger, advance
from optex.market._matching import Matcher
from optex.market._messages import (
    AmendOrder,
    BookDelta,
    CancelOrder,
    CancelReason,
    Event,
    MassCancel,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    PostOnly,
    PriceSource,
    StpMode,
)
from optex.market._reasons import MarketReason

_S = OrderState
_T = Trigger
_OFF = PostOnly.OFF
_BUY = Side.BUY


# Enum members as module constants: in CPython 3.11 reading a member off its class costs
# about 190 ns (EnumType.__getattr__), more than most of what the hot path does.
_LIMIT = OrderType.LIMIT
_TIF_GTC = TimeInForce.GTC
_TIF_GTD = TimeInForce.GTD
_CR_MASS_CANCEL = CancelReason.MASS_CANCEL
_CR_USER = CancelReason.USER
_STATE_UNTRIGGERED = OrderState.UNTRIGGERED
_TRIG_AMEND = Trigger.AMEND


# The order in which ``_new_order`` unpacks ``msgspec.structs.astuple(NewOrder)``.
NEW_ORDER_FIELDS = (
    "ts_ms",
    "account",
    "instrument",
    "side",
    "quantity",
    "price",
    "order_type",
    "tif",
    "client_order_id",
    "expire_ts_ms",
    "trigger_price",
    "trigger",
    "display_quantity",
    "post_only",
    "reduce_only",
    "stp",
    "mmp_group",
)

# The order in which ``_amend_order`` unpacks ``msgspec.structs.astuple(AmendOrder)``.
AMEND_ORDER_FIELDS = (
    "ts_ms",
    "account",
    "order_id",
    "client_order_id",
    "price",
    "quantity",
    "trigger_price",
)


def _well_typed(fields: tuple[Any, ...]) -> bool:
    """Whether a NewOrder's fields (in NEW_ORDER_FIELDS order) have the types they declare,
    for the fields whose wrong type would not be caught by the checks that follow."""
    stp, cid, group = fields[15], fields[8], fields[16]
    return (
        type(fields[3]) is Side
        and type(fields[6]) is OrderType
        and type(fields[7]) is TimeInForce
        and type(fields[13]) is PostOnly
        and type(fields[11]) is PriceSource
        and (stp is None or type(stp) is StpMode)
        and type(fields[1]) is str
        and type(fields[2]) is str
        and (cid is None or type(cid) is str)
        and (group is None or type(group) is str)
        and type(fields[14]) is bool
    )


class OrderDesk(Matcher):
    """New orders, cancels, mass cancels and amendments."""

    def _new_order(self, cmd: NewOrder, events: list[Event]) -> None:
        fields = astuple(cmd)
        # Plain strings where enum members belong, and anything but a string or a bool where
        # those belong (msgspec checks types only when decoding; a command built in Python is
        # checked here, or an account of 1 would be stored and then fail to encode).
        if not _well_typed(fields):
            # Convert once, so that every comparison below sees real enum members; a field of
            # the wrong type is rejected here.
            try:
                cmd = msgspec.convert(msgspec.structs.asdict(cmd), NewOrder)
            except msgspec.ValidationError as exc:
                events.append(self._rejection(cmd, MarketReason.INVALID_FIELD, str(exc)))
                return
            fields = astuple(cmd)
        # Every field in one C call rather than one attribute lookup each, which is what
        # compiled code pays for a msgspec field (NEW_ORDER_FIELDS pins the order).
        (
            ts,
            account,
            instrument,
            side,
            quantity,
            price,
            order_type,
            tif,
            cid,
            expire_ts_ms,
            trigger_price,
            trigger,
            display,
            post_only,
            reduce_only,
            stp,
            group,
        ) = fields
        book = self._books.get(instrument)
        if book is None:
            events.append(
                self._rejection(
                    cmd, MarketReason.UNKNOWN_INSTRUMENT, f"{instrument!r} is not listed"
                )
            )
            return
        lot, expiry = book.lot_size, book.expiry_ms
        if (
            # The common case, a plain limit order on the grid, passes without the full check;
            # anything unusual or wrong takes it (the differential test covers both paths).
            order_type is _LIMIT
            and type(quantity) is int
            and type(price) is int
            and price > 0
            and not price % book.tick_size
            and not quantity % lot
            and book.min_lots <= quantity // lot <= book.max_lots
            and trigger_price is None
            and expire_ts_ms is None
            and display is None
            and tif is not _TIF_GTD
            and (post_only is _OFF or tif is _TIF_GTC)
            and (expiry is None or ts < expiry)
        ):
            problem = None if book.band_bps is None else check_band(price, book)
        else:
            problem = check_new_order(cmd, book, ts)
        if problem is not None:
            events.append(self._rejection(cmd, *problem))
            return
        if cid is not None and (account, cid) in self._client_ids:
            events.append(
                self._rejection(
                    cmd, MarketReason.DUPLICATE_CLIENT_ORDER_ID, f"client order id {cid!r} is open"
                )
            )
            return
        if group is not None:
            problem = self._check_group(account, group, ts)
            if problem is not None:
                events.append(self._rejection(cmd, *problem))
                return
        is_buy = side is _BUY
        triggered = order_type in TRIGGERED_TYPES
        if reduce_only and not triggered:
            quantity = self._reduce_only_cap(book, account, is_buy, quantity)
            if not quantity:
                events.append(self._rejection(cmd, *self._reduce_only_problem(book, account)))
                return
        if post_only is not _OFF and not triggered:
            assert price is not None  # noqa: S101 - narrowing: limit and resting orders have a price
            repriced = self._post_only_price(book, is_buy, price, post_only)
            if repriced is None:
                events.append(
                    self._rejection(
                        cmd,
                        MarketReason.POST_ONLY_WOULD_CROSS,
                        f"{side} at {price} would trade against the other side's best price",
                    )
                )
                return
            price = repriced
        if self._pre_trade is not None:
            request = OrderRequest(
                account, book.name, side, order_type, price, quantity, reduce_only
            )
            rejection = self._pre_trade.check(request, self)
            if rejection is not None:
                events.append(self._rejection(cmd, rejection.code, rejection.message))
                return
        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        name = book.name
        order = Order(order_id, account, name, side, order_type, price, quantity, tif, ts)
        if display is not None and display < quantity:
            order.display = display
        order.client_order_id = cid
        order.expire_ts_ms = expire_ts_ms
        order.post_only = post_only
        order.reduce_only = reduce_only
        order.stp = stp or self._stp.get(account, DEFAULT_STP)
        order.mmp_group = group
        events.append(
            OrderAccepted(ts, order_id, account, cid, name, side, order_type, price, quantity)
        )
        if triggered:
            order.trigger = trigger
            order.trigger_price = trigger_price
            order.state = _STATE_UNTRIGGERED
            self._register(order)
            book.stops[order_id] = order
            return
        self._execute(book, order, events, ts)
        if self._mmp_hits or book.stops:
            self._settle(book, events, ts)

    def _lookup(self, cmd: CancelOrder | AmendOrder) -> Order | None:
        order_id = cmd.order_id
        if order_id is not None:
            order = self._orders.get(order_id)
        elif cmd.client_order_id is not None:
            order = self._client_ids.get((cmd.account, cmd.client_order_id))
        else:
            return None
        if order is None or order.account != cmd.account:
            return None
        return order

    def _unknown(self, cmd: CancelOrder | AmendOrder) -> OrderRejected:
        which = cmd.order_id if cmd.order_id is not None else cmd.client_order_id
        return self._rejection(
            cmd, MarketReason.UNKNOWN_ORDER, f"{cmd.account} has no open order {which!r}"
        )

    def _cancel_order(self, cmd: CancelOrder, events: list[Event]) -> None:
        order = self._lookup(cmd)
        if order is None:
            events.append(self._unknown(cmd))
            return
        self._remove(order, _CR_USER, events, cmd.ts_ms)

    def _mass_cancel(self, cmd: MassCancel, events: list[Event]) -> None:
        account, instrument, group = cmd.account, cmd.instrument, cmd.mmp_group
        if instrument is not None and instrument not in self._books:
            events.append(
                self._rejection(
                    cmd, MarketReason.UNKNOWN_INSTRUMENT, f"{instrument!r} is not listed"
                )
            )
            return
        doomed = [
            o
            for o in self._orders.values()
            if o.account == account
            and (instrument is None or o.instrument == instrument)
            and (group is None or o.mmp_group == group)
        ]
        for order in doomed:
            self._remove(order, _CR_MASS_CANCEL, events, cmd.ts_ms)

    def _amend_order(self, cmd: AmendOrder, events: list[Event]) -> None:
        # One C call for the fields (as in _new_order; AMEND_ORDER_FIELDS pins the order).
        ts, account, order_id, _, price, quantity, trigger_price = astuple(cmd)
        order = self._orders.get(order_id) if order_id is not None else self._lookup(cmd)
        if order is None or order.account != account:
            events.append(self._unknown(cmd))
            return
        level = order.level
        if (
            level is not None
            and quantity is None
            and trigger_price is None
            and type(price) is int
            and price > 0
            and price != order.price
            and order.post_only is _OFF
            and self._pre_trade is None
        ):
            # The market maker's "move": only the price of a plain resting order changes. The
            # same rules as below, without the branches that cannot apply.
            book = self._books[order.instrument]
            expiry = book.expiry_ms
            if (
                not price % book.tick_size
                and book.band_bps is None
                and (expiry is None or ts < expiry)
            ):
                order.state = advance(order.state, _TRIG_AMEND)
                total = book.unlink(order)
                events.append(BookDelta(ts, book.name, order.side, order.price, total))  # type: ignore[arg-type]
                order.set_price(price)
                events.append(
                    OrderAmended(
                        ts,
                        order.order_id,
                        order.account,
                        order.instrument,
                        price,
                        order.quantity,
                        order.remaining,
                        order.trigger_price,
                        False,
                    )
                )
                is_buy = order.is_buy
                opposite = book.ask_keys if is_buy else book.bid_keys
                if not opposite or opposite[0] > (price if is_buy else -price):
                    # Nothing to trade with: straight to the back of the new level.
                    display, remaining = order.display, order.remaining
                    order.visible = display if display and display < remaining else remaining
                    events.append(BookDelta(ts, book.name, order.side, price, book.rest(order)))
                    return
                self._execute(book, order, events, ts)
                if self._mmp_hits or book.stops:
                    self._settle(book, events, ts)
                return
        book = self._books[order.instrument]
        problem = self._check_amend(cmd, order, book)
        if problem is not None:
            events.append(self._rejection(cmd, *problem))
            return
        price = order.price if cmd.price is None else cmd.price
        quantity = order.quantity if cmd.quantity is None else cmd.quantity
        trigger_price = order.trigger_price if cmd.trigger_price is None else cmd.trigger_price
        untriggered = order.state is _STATE_UNTRIGGERED
        if price != order.price and not untriggered and order.post_only is not _OFF:
            assert price is not None  # noqa: S101 - narrowing: limit and resting orders have a price
            # The order's own level is not the other side, so it cannot make itself cross.
            repriced = self._post_only_price(book, order.is_buy, price, order.post_only)
            if repriced is None:
                events.append(
                    self._rejection(
                        cmd,
                        MarketReason.POST_ONLY_WOULD_CROSS,
                        f"moving to {price} would trade against the other side's best price",
                    )
                )
                return
            price = repriced
        if (
            price == order.price
            and quantity == order.quantity
            and trigger_price == order.trigger_price
        ):
            events.append(self._rejection(cmd, MarketReason.NOTHING_TO_AMEND, "nothing changes"))
            return
        remaining = quantity - order.filled
        if self._pre_trade is not None and (price != order.price or remaining > order.remaining):
            request = OrderRequest(
                order.account,
                order.instrument,
                order.side,
                order.order_type,
                price,
                remaining,
                order.reduce_only,
                order.order_id,
            )
            rejection = self._pre_trade.check(request, self)
            if rejection is not None:
                events.append(self._rejection(cmd, rejection.code, rejection.message))
                return
        order.state = advance(order.state, _TRIG_AMEND)
        if untriggered:
            if price is not None:
                order.set_price(price)
            order.quantity = quantity
            order.remaining = order.visible = remaining
            order.trigger_price = trigger_price
            events.append(self._amended(order, ts, kept_priority=True))
            return
        assert price is not None  # noqa: S101 - narrowing: limit and resting orders have a price
        if price == order.price and remaining <= order.remaining:
            level = order.level
            assert level is not None  # noqa: S101 - narrowing: resting orders have a level
            order.quantity = quantity
            order.remaining = remaining
            if order.visible > remaining:
                level.total -= order.visible - remaining
                order.visible = remaining
            events.append(self._amended(order, ts, kept_priority=True))
            events.append(BookDelta(ts, book.name, order.side, price, level.total))
            return
        total = book.unlink(order)
        assert order.price is not None  # noqa: S101 - narrowing: limit and resting orders have a price
        events.append(BookDelta(ts, book.name, order.side, order.price, total))
        order.set_price(price)
        order.quantity = quantity
        order.remaining = remaining
        display = order.display
        order.visible = display if display and display < remaining else remaining
        events.append(self._amended(order, ts, kept_priority=False))
        self._execute(book, order, events, ts)
        if self._mmp_hits or book.stops:
            self._settle(book, events, ts)

    def _check_amend(
        self, cmd: AmendOrder, order: Order, book: Book
    ) -> tuple[MarketReason, str] | None:
        inst = book.instrument
        if inst.expiry_ms is not None and cmd.ts_ms >= inst.expiry_ms:
            return MarketReason.INSTRUMENT_EXPIRED, f"{inst.name} expired at {inst.expiry_ms}"
        if cmd.price is not None:
            problem = check_price(cmd.price, book)
            if problem is not None:
                return problem
            if order.state is not _STATE_UNTRIGGERED and cmd.price != order.price:
                problem = check_band(cmd.price, book)
                if problem is not None:
                    return problem
        if cmd.quantity is not None:
            problem = check_quantity(cmd.quantity, book)
            if problem is not None:
                return problem
            if cmd.quantity <= order.filled:
                return (
                    MarketReason.AMEND_BELOW_FILLED,
                    f"quantity {cmd.quantity} is not above the {order.filled} already filled",
                )
        if cmd.trigger_price is not None:
            if order.state is not _STATE_UNTRIGGERED:
                return MarketReason.INVALID_COMBINATION, "only a waiting stop has a trigger price"
            problem = check_price(cmd.trigger_price, book, "trigger_price")
            if problem is not None:
                return problem
            current = reference_price(book, order.trigger)
            if current is not None and trigger_reached(
                order.order_type, order.is_buy, cmd.trigger_price, current
            ):
                return (
                    MarketReason.TRIGGER_ALREADY_REACHED,
                    f"the {order.trigger} price {current} has already reached {cmd.trigger_price}",
                )
        return None
