"""Signed mass quotes: a market maker's quotes, each leg an order it signed.

A :class:`~optex.exchange.SignedMassQuote` is the market's ``MassQuote`` (atomic replacement
of the maker's quotes in one MMP group on the instruments it names) whose every leg is a
post-only GTC limit :class:`~optex.crypto.SignedOrder` of the maker, so that the settlement
batcher can prove the quotes' fills on chain with the maker's own signature.

**The sequencer** (:func:`verify_quote`) checks the shape (:func:`check_quote`) and then
every leg exactly as it checks a ``PlaceSignedOrder``: chain, expiry, the key authorized for
the account, the signature and the replay guard.

**The pipeline** (:func:`apply_quote`) turns it into the market's ``MassQuote`` and decides,
per leg, what governs the resulting order id. The market keeps a quote's order id when the
new quote has the same price and no more than the quote's remaining size (it shrinks in place,
keeping priority); otherwise it cancels the quote and opens a new order id. The chain counts
fills per chain of replacements (``origin``), so:

* **same order id → signed replacement.** A leg whose ``revision`` is above 0 must replace
  the leg that governs the live quote on its side, at that quote's price, with a total
  (``quantity``, what was filled included) no larger than the quote's. The quote keeps its
  order id with ``total - filled`` remaining, and the replacement governs it: on chain, the
  old and the new leg together never fill beyond the new total, and the old leg can no longer
  be used once the new one was. A total already filled pulls the side. A replacement that
  does not fit (the quote is gone or governed by another leg, another price, a larger total,
  another key, a field it may not change) is refused (``replaced_order_unknown``,
  ``invalid_replacement``) and its side is pulled: the maker meant to change that quote, and
  leaving it would trade at a price or size it no longer means.
* **new order id → new signed order.** A leg whose ``revision`` is 0 always opens a new
  order id under its own origin. Where the market would keep the quote on its side instead
  (same price, no larger), the quote is pulled first and the leg placed after it in a second
  ``MassQuote``: one order id governed by two origins could fill beyond what the maker meant.

Each side rests until the settlement window before the end of the signature of the leg that
governs it (the market's ``Quote.bid_expire_ts_ms``/``ask_expire_ts_ms``, from
``trading_end_ms``): a later fill could reach the chain after the signature's end and not be
proven, so the market expires the quote at that time.

After the quote, :class:`~optex.exchange.SignedQuotesApplied` names each leg that governs a
live order and its order id; the batcher's collector and the maker's own bookkeeping read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from optex.core import InvalidInput, OptexError, OrderType, Side, TimeInForce
from optex.crypto import (
    KeyAuthority,
    ReplayGuard,
    SignedOrder,
    check_replacement,
    verify_order,
)
from optex.exchange._commands import (
    Command,
    Event,
    GoverningLeg,
    SignedMassQuote,
    SignedQuotesApplied,
)
from optex.exchange._reasons import ExchangeReason
from optex.exchange._signed import SignedOrders
from optex.exchange._window import check_settles_in_time, trading_end_ms
from optex.market import (
    MassQuote,
    MatchingEngine,
    Order,
    OrderAccepted,
    OrderRejected,
    PostOnly,
    Quote,
)

MAX_LEGS: Final = 512
"""Legs plus pulls of one signed mass quote (256 instruments, two sides each); the sequencer's
16 KiB command limit allows about 35 legs, so this only bounds a foreign journal."""

Slot = tuple[str, Side]
Rest = tuple[int | None, int, int | None]
"""What one side of a quote becomes: price, remaining quantity and the most it may rest."""
PULL: Final[Rest] = (None, 0, None)
Trade = Callable[[Command], list[Event]]


# Checking -----------------------------------------------------------------------------------


def check_quote(command: SignedMassQuote) -> None:
    """Refuse a signed mass quote whose shape is wrong, whatever its signatures; changes
    nothing. Each leg must be a post-only GTC limit order of the quoting account (no
    reduce-only, client order id or trigger: quotes have none in the engine), one per side of
    an instrument, with nonces unique per key; a pulled side has no leg."""
    legs, pulls = command.legs, command.pulls
    if not legs and not pulls:
        raise _invalid("a signed mass quote has at least one leg or pull")
    if len(legs) + len(pulls) > MAX_LEGS:
        raise _invalid(f"a signed mass quote has at most {MAX_LEGS} legs and pulls")
    slots: set[Slot] = set()
    nonces: set[tuple[bytes, int]] = set()
    for leg in legs:
        intent = leg.intent
        if intent.account != command.account:
            raise InvalidInput(
                ExchangeReason.INVALID_QUOTE,
                f"a leg of {intent.account!r:.40} in a quote of {command.account!r}",
            )
        if (
            intent.order_type is not OrderType.LIMIT
            or intent.time_in_force is not TimeInForce.GTC
            or not intent.post_only
            or intent.reduce_only
            or intent.client_order_id
            or intent.trigger_price
        ):
            raise _invalid(
                f"the leg on {intent.instrument} {intent.side} is not a post-only GTC limit "
                "order without client order id or reduce-only"
            )
        slot = (intent.instrument, intent.side)
        nonce = (leg.public_key, intent.nonce)
        if slot in slots or nonce in nonces:
            raise _invalid(f"two legs for {intent.instrument} {intent.side} or one nonce twice")
        slots.add(slot)
        nonces.add(nonce)
    for pull in pulls:
        slot = (pull.instrument, pull.side)
        if slot in slots:
            raise _invalid(f"{pull.instrument} {pull.side} is both quoted and pulled")
        slots.add(slot)


def verify_quote(
    command: SignedMassQuote,
    chain_id: str,
    now_ms: int,
    authority: KeyAuthority,
    guard: ReplayGuard,
) -> None:
    """Everything the sequencer checks before journaling a signed mass quote; changes
    nothing (the caller remembers every leg in ``guard`` once it is queued)."""
    check_quote(command)
    for leg in command.legs:
        verify_order(leg, chain_id=chain_id, now_ms=now_ms, authority=authority)
        guard.check(leg)
        check_settles_in_time(leg, now_ms)


# Applying -----------------------------------------------------------------------------------


def apply_quote(
    command: SignedMassQuote,
    engine: MatchingEngine,
    signed: SignedOrders,
    replay: ReplayGuard,
    trade: Trade,
    *,
    instrument_expiry: Callable[[str], int | None] = lambda _name: None,
) -> list[Event]:
    """Apply a journaled signed mass quote (see the module's rules); its events.

    ``trade`` runs a market command through the risk hold, the engine and the risk release
    (the pipeline's own stage). ``instrument_expiry`` gives a listed instrument's expiry: a leg
    rests until the settlement window before it (or before its signature's end, if earlier),
    and a leg on an instrument already in that window is refused and its side pulled. Raises
    ``OptexError`` (a ``CommandFailed``, nothing changed) for a quote whose shape or replay
    state is wrong, which only a foreign journal can hold.
    """
    check_quote(command)
    for leg in command.legs:
        replay.check(leg)
    for leg in command.legs:
        replay.remember(leg)
    digests = [signed.remember(leg) for leg in command.legs]
    try:
        return _QuoteRun(command, engine, signed, trade, instrument_expiry).run(digests)
    finally:
        for digest in digests:
            signed.release(digest)


class _QuoteRun:
    """One signed mass quote being applied: the plan per side, then the engine's answer."""

    def __init__(
        self,
        command: SignedMassQuote,
        engine: MatchingEngine,
        signed: SignedOrders,
        trade: Trade,
        instrument_expiry: Callable[[str], int | None],
    ) -> None:
        self.command = command
        self.engine = engine
        self.signed = signed
        self.trade = trade
        self.instrument_expiry = instrument_expiry
        # A quote whose end has come is not live: the engine expires it before it applies this
        # command, so no leg may replace it and no side may restate it.
        self.live: dict[Slot, Order] = {
            (o.instrument, o.side): o
            for o in engine.open_orders(command.account)
            if o.quote and o.mmp_group == command.mmp_group and _rests_at(o, command.ts_ms)
        }
        self.plan: dict[Slot, Rest] = {}
        """Side -> (price, remaining, expiry) for the first ``MassQuote``; ``PULL`` pulls it."""
        self.kept: list[tuple[Order, SignedOrder, bytes]] = []
        self.fresh: dict[Slot, bytes] = {}
        self.later: list[tuple[Order, SignedOrder, bytes]] = []
        self.events: list[Event] = []

    def run(self, digests: Sequence[bytes]) -> list[Event]:
        for pull in self.command.pulls:
            self.plan[pull.instrument, pull.side] = PULL
        for leg, digest in zip(self.command.legs, digests, strict=True):
            self._place(leg, digest)
        self.events += self.trade(self._mass_quote(self.plan))
        governing = [self._kept(order, leg, digest) for order, leg, digest in self.kept]
        governing += self._opened(self.fresh, self.events)
        # The second MassQuote only once the first pulled what was in the way: a first one
        # the engine refused as a whole pulled nothing and places nothing.
        pending = [item for item in self.later if self.engine.order(item[0].order_id) is None]
        if pending:
            plan = {
                (leg.intent.instrument, leg.intent.side): self._size(leg) for _, leg, _ in pending
            }
            second = self.trade(self._mass_quote(plan))
            self.events += second
            slots = {(leg.intent.instrument, leg.intent.side): d for _, leg, d in pending}
            governing += self._opened(slots, second)
        legs = tuple(sorted((g for g in governing if g is not None), key=_by_id))
        self.events.append(
            SignedQuotesApplied(
                self.command.ts_ms, self.command.account, self.command.mmp_group, legs
            )
        )
        return self.events

    def _place(self, leg: SignedOrder, digest: bytes) -> None:
        intent = leg.intent
        slot = (intent.instrument, intent.side)
        existing = self.live.get(slot)
        if self._end(leg) <= self.command.ts_ms:
            # The instrument expires within the settlement window (the sequencer checked the
            # signature's end): a fill could not settle, so this side is pulled, not quoted.
            message = f"{intent.instrument} expires within the settlement window"
            code = ExchangeReason.EXPIRES_BEFORE_SETTLEMENT
            self.events.append(_rejected(self.command, existing, code, message))
            self.plan[slot] = PULL
            return
        if intent.is_replacement:
            problem = self._misfit(leg, existing)
            if problem is not None:
                code, message = problem
                self.events.append(_rejected(self.command, existing, code, message))
                self.plan[slot] = PULL
                return
            assert existing is not None  # noqa: S101 - narrowing: _misfit refuses a missing one
            remaining = intent.quantity - existing.filled
            if remaining <= 0:
                self.plan[slot] = PULL  # the new total is filled already: nothing rests
                return
            # The replacement governs the quote now: it rests until that signature's trading end.
            self.plan[slot] = (existing.price, remaining, self._end(leg))
            self.kept.append((existing, leg, digest))
        elif (
            existing is not None
            and existing.price == intent.price
            and intent.quantity <= existing.remaining
        ):
            self.plan[slot] = PULL  # the market would keep it: pull it, place after
            self.later.append((existing, leg, digest))
        else:
            self.plan[slot] = self._size(leg)
            self.fresh[slot] = digest

    def _end(self, leg: SignedOrder) -> int:
        return trading_end_ms(leg, self.instrument_expiry(leg.intent.instrument))

    def _size(self, leg: SignedOrder) -> Rest:
        # A leg rests no longer than its trading end: a fill after that might not settle.
        return leg.intent.price, leg.intent.quantity, self._end(leg)

    def _misfit(
        self, leg: SignedOrder, existing: Order | None
    ) -> tuple[ExchangeReason, str] | None:
        intent = leg.intent
        if existing is None or self.signed.governing.get(existing.order_id) != intent.replaces:
            return (
                ExchangeReason.REPLACED_ORDER_UNKNOWN,
                f"no live quote on {intent.instrument} {intent.side} is governed by the leg "
                "this one replaces",
            )
        previous = self.signed.by_hash[intent.replaces]
        try:
            check_replacement(previous, leg)
        except OptexError as exc:
            return ExchangeReason.INVALID_REPLACEMENT, exc.message
        if intent.price != existing.price or intent.quantity - existing.filled > existing.remaining:
            return (
                ExchangeReason.INVALID_REPLACEMENT,
                "a requote that moves the price or raises the size opens a new order id: "
                "sign a new leg (revision 0), not a replacement",
            )
        return None

    def _kept(self, order: Order, leg: SignedOrder, digest: bytes) -> GoverningLeg | None:
        # The engine kept the quote when it is live with the leg's price and total; a first
        # MassQuote refused as a whole left it as it was (the same only if nothing changed).
        live = self.engine.order(order.order_id)
        if live is None or live.price != leg.intent.price or live.quantity != leg.intent.quantity:
            return None
        self.signed.govern(order.order_id, digest)
        return GoverningLeg(order.order_id, digest)

    def _opened(self, slots: dict[Slot, bytes], events: list[Event]) -> list[GoverningLeg | None]:
        opened: list[GoverningLeg | None] = []
        account = self.command.account
        for event in events:
            if isinstance(event, OrderAccepted) and event.account == account:
                digest = slots.get((event.instrument, event.side))
                if digest is not None and self.engine.order(event.order_id) is not None:
                    self.signed.govern(event.order_id, digest)
                    opened.append(GoverningLeg(event.order_id, digest))
        return opened

    def _mass_quote(self, plan: dict[Slot, Rest]) -> MassQuote:
        # The market's Quote holds both sides of an instrument: a side the plan does not name
        # is restated as it is now (same price and remaining: the market leaves it alone).
        quotes = []
        for name in sorted({instrument for instrument, _ in plan}):
            sides = []
            for side in (Side.BUY, Side.SELL):
                if (name, side) in plan:
                    sides.append(plan[name, side])
                else:
                    live = self.engine_quote(name, side)
                    sides.append(
                        PULL if live is None else (live.price, live.remaining, live.expire_ts_ms)
                    )
            (bid, bid_qty, bid_expiry), (ask, ask_qty, ask_expiry) = sides
            quotes.append(Quote(name, bid, bid_qty, ask, ask_qty, bid_expiry, ask_expiry))
        return MassQuote(
            self.command.ts_ms,
            self.command.account,
            self.command.mmp_group,
            tuple(quotes),
            post_only=PostOnly.REJECT,
        )

    def engine_quote(self, instrument: str, side: Side) -> Order | None:
        """The live quote on one side now (after the first ``MassQuote`` for the second)."""
        order = self.live.get((instrument, side))
        if order is None or self.engine.order(order.order_id) is None:
            for candidate in self.engine.open_orders(self.command.account):
                if (
                    candidate.quote
                    and candidate.mmp_group == self.command.mmp_group
                    and candidate.instrument == instrument
                    and candidate.side is side
                    and _rests_at(candidate, self.command.ts_ms)
                ):
                    return candidate
            return None
        return order


def _rests_at(order: Order, ts_ms: int) -> bool:
    """Whether ``order`` is still resting once the engine has moved its clock to ``ts_ms``."""
    return order.expire_ts_ms is None or order.expire_ts_ms > ts_ms


def _by_id(leg: GoverningLeg) -> int:
    return leg.order_id


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(ExchangeReason.INVALID_QUOTE, message)


def _rejected(
    command: SignedMassQuote, existing: Order | None, code: ExchangeReason, message: str
) -> OrderRejected:
    order_id = None if existing is None else existing.order_id
    return OrderRejected(
        command.ts_ms, command.account, None, order_id, int(code), code.reason, message
    )
