"""Mass quotes: a market maker's two-sided quotes on many instruments, replaced in one command."""

from __future__ import annotations

from optex.core import (
    OrderType,
    Side,
    TimeInForce,
)
from optex.market._base import DEFAULT_STP
from optex.market._book import Book, Order
from optex.market._checks import (
    OrderRequest,
    check_band,
    check_expiry,
    check_price,
    check_quantity,
)
from optex.market._lifecycle import Trigger, advance
from optex.market._messages import (
    BookDelta,
    CancelReason,
    Event,
    MassQuote,
    OrderAccepted,
    OrderRejected,
    PostOnly,
)
from optex.market._orders import OrderDesk
from optex.market._reasons import MarketReason

_T = Trigger
_OFF = PostOnly.OFF
_BUY = Side.BUY
_SELL = Side.SELL
_GTC = TimeInForce.GTC
_LIMIT = OrderType.LIMIT


# Enum members as module constants: in CPython 3.11 reading a member off its class costs
# about 190 ns (EnumType.__getattr__), more than most of what the hot path does.
_CR_QUOTE_REPLACED = CancelReason.QUOTE_REPLACED
_TRIG_AMEND = Trigger.AMEND


class Quoter(OrderDesk):
    """Mass quotes: two-sided quotes on many instruments, replaced in one command."""

    def _mass_quote(self, cmd: MassQuote, events: list[Event]) -> None:
        ts = cmd.ts_ms
        problem = self._check_mass_quote(cmd)
        if problem is not None:
            events.append(self._rejection(cmd, *problem))
            return
        for quote in cmd.quotes:
            book = self._books[quote.instrument]
            for side, price, quantity, expire_ts_ms in (
                (_BUY, quote.bid_price, quote.bid_quantity, quote.bid_expire_ts_ms),
                (_SELL, quote.ask_price, quote.ask_quantity, quote.ask_expire_ts_ms),
            ):
                self._requote(
                    cmd,
                    book,
                    events,
                    side=side,
                    price=price,
                    quantity=quantity,
                    expire_ts_ms=expire_ts_ms,
                )
            self._settle(book, events, ts)

    def _requote(
        self,
        cmd: MassQuote,
        book: Book,
        events: list[Event],
        *,
        side: Side,
        price: int | None,
        quantity: int,
        expire_ts_ms: int | None,
    ) -> None:
        ts, account, group = cmd.ts_ms, cmd.account, cmd.mmp_group
        key = (account, group, book.name, side)
        existing = self._quotes.get(key)
        if existing is not None:
            if price is not None and price == existing.price and 0 < quantity <= existing.remaining:
                if existing.expire_ts_ms != expire_ts_ms:
                    existing.expire_ts_ms = expire_ts_ms
                    if expire_ts_ms is not None:
                        # The entry for the old time is skipped when it comes due.
                        self._push_deadline((expire_ts_ms, 0, existing.order_id, ""))
                if quantity < existing.remaining:
                    level = existing.level
                    assert level is not None  # noqa: S101 - narrowing: resting orders have a level
                    cut = existing.remaining - quantity
                    existing.state = advance(existing.state, _TRIG_AMEND)
                    existing.quantity -= cut
                    existing.remaining = quantity
                    level.total -= cut
                    existing.visible -= cut
                    events.append(self._amended(existing, ts, kept_priority=True))
                    events.append(BookDelta(ts, book.name, side, price, level.total))
                return
            self._remove(existing, _CR_QUOTE_REPLACED, events, ts)
        if not quantity or price is None:
            return
        problem = self._check_group(account, group, ts)
        is_buy = side is _BUY
        if problem is None and cmd.post_only is not _OFF:
            repriced = self._post_only_price(book, is_buy, price, cmd.post_only)
            if repriced is None:
                problem = (
                    MarketReason.POST_ONLY_WOULD_CROSS,
                    f"the {side} quote at {price} on {book.name} would trade on arrival",
                )
            else:
                price = repriced
        if problem is None and self._pre_trade is not None:
            request = OrderRequest(account, book.name, side, _LIMIT, price, quantity, False)
            rejection = self._pre_trade.check(request, self)
            if rejection is not None:
                problem = (rejection.code, rejection.message)  # type: ignore[assignment]
        if problem is not None:
            code, message = problem
            events.append(OrderRejected(ts, account, None, None, int(code), code.reason, message))
            return
        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        order = Order(order_id, account, book.name, side, _LIMIT, price, quantity, _GTC, ts)
        order.stp = self._stp.get(account, DEFAULT_STP)
        order.post_only = cmd.post_only
        order.mmp_group = group
        order.quote = True
        order.expire_ts_ms = expire_ts_ms
        events.append(
            OrderAccepted(ts, order_id, account, None, book.name, side, _LIMIT, price, quantity)
        )
        self._execute(book, order, events, ts)
        if order.order_id in self._orders:
            self._quotes[key] = order
        if self._mmp_hits:
            self._apply_mmp(events, ts)

    def _check_mass_quote(self, cmd: MassQuote) -> tuple[MarketReason, str] | None:
        problem = self._check_group(cmd.account, cmd.mmp_group, cmd.ts_ms)
        if problem is not None:
            return problem
        seen: set[str] = set()
        for quote in cmd.quotes:
            book = self._books.get(quote.instrument)
            if book is None:
                return MarketReason.UNKNOWN_INSTRUMENT, f"{quote.instrument!r} is not listed"
            inst = book.instrument
            if inst.expiry_ms is not None and cmd.ts_ms >= inst.expiry_ms:
                return MarketReason.INSTRUMENT_EXPIRED, f"{inst.name} expired at {inst.expiry_ms}"
            if quote.instrument in seen:
                return MarketReason.INVALID_MASS_QUOTE, f"{quote.instrument} is quoted twice"
            seen.add(quote.instrument)
            for price, quantity, expire_ts_ms, name in (
                (quote.bid_price, quote.bid_quantity, quote.bid_expire_ts_ms, "bid"),
                (quote.ask_price, quote.ask_quantity, quote.ask_expire_ts_ms, "ask"),
            ):
                if type(quantity) is not int:
                    return MarketReason.NOT_AN_INTEGER, f"{name} quantity must be an integer"
                if quantity == 0:
                    continue
                if expire_ts_ms is not None:
                    problem = check_expiry(expire_ts_ms, cmd.ts_ms, f"{name}_expire_ts_ms")
                    if problem is not None:
                        return problem
                problem = check_quantity(quantity, book, f"{name} quantity")
                if problem is None:
                    problem = (
                        (MarketReason.PRICE_REQUIRED, f"the {name} needs a price")
                        if price is None
                        else check_price(price, book, f"{name} price") or check_band(price, book)
                    )
                if problem is not None:
                    return problem
            if (
                quote.bid_quantity
                and quote.ask_quantity
                and quote.bid_price is not None
                and quote.ask_price is not None
                and quote.bid_price >= quote.ask_price
            ):
                return (
                    MarketReason.INVALID_MASS_QUOTE,
                    f"the bid {quote.bid_price} is not below the ask {quote.ask_price} "
                    f"on {quote.instrument}",
                )
        return None
