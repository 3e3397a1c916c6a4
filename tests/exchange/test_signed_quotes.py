"""Signed mass quotes: every leg a market maker's signed order, and which leg governs which quote.

The pipeline is driven directly for what it decides (same order id -> signed replacement, new
order id -> new signed order); a real sequencer for what it refuses before journaling.
"""

from __future__ import annotations

import msgspec
import pytest

from optex.core import ManualClock, OptexError, Unauthorized
from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    SecurityReason,
    Side,
    SignedOrder,
    TimeInForce,
    TradingScope,
    replacement,
    sign_order,
)
from optex.exchange import (
    SETTLEMENT_WINDOW_MS,
    Command,
    CommandFailed,
    ExchangeReason,
    Pipeline,
    PlaceSignedOrder,
    QuoteSlot,
    Sequencer,
    SignedMassQuote,
    SignedQuotesApplied,
    trading_end_ms,
)
from optex.journal import MemoryJournal
from optex.market import (
    AdvanceTime,
    Fill,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    SetMmpConfig,
)
from tests.exchange.kit import CALL, PERP, T0, setup_commands

CHAIN = "optex-devnet"
LOT = 1_000_000
PRICE = 100_000_000_000
TICK = 500_000_000
MM = "alice"
KEYS = {name: PrivateKey.generate() for name in ("alice", "bob", "mallory")}
SECOND_KEY = PrivateKey.generate()
"""Another key alice authorized: it may quote, but not replace what her first key signed."""


class Run:
    """A pipeline fed commands one millisecond apart, and a market maker signing legs."""

    def __init__(self) -> None:
        self.pipeline = Pipeline()
        self.ts = T0
        self.nonce = 0
        for command in setup_commands(T0):
            self.apply(command)
        self.apply(SetMmpConfig(0, MM, "mm", 1_000, 1_000, 10**15, 10**15))

    def apply(self, command: Command) -> list[object]:
        self.ts += 1
        stamped = msgspec.structs.replace(command, ts_ms=self.ts)
        return list(self.pipeline.apply(self.pipeline.last_seq + 1, stamped))

    def leg(
        self,
        side: Side,
        quantity: int,
        price: int = PRICE,
        *,
        account: str = MM,
        key: PrivateKey | None = None,
        **changes: object,
    ) -> SignedOrder:
        self.nonce += 1
        intent = OrderIntent(
            chain_id=CHAIN,
            account=account,
            instrument=PERP,
            side=side,
            order_type=OrderType.LIMIT,
            price=price,
            quantity=quantity,
            post_only=True,
            nonce=self.nonce,
            expiry_ms=self.ts + 3_600_000,
        )
        intent = msgspec.structs.replace(intent, **changes)
        return sign_order(key or KEYS[account], intent)

    def requote(
        self, previous: SignedOrder, *, key: PrivateKey | None = None, **changes: int
    ) -> SignedOrder:
        self.nonce += 1
        intent = replacement(previous, nonce=self.nonce, expiry_ms=self.ts + 3_600_000, **changes)
        return sign_order(key or KEYS[MM], intent)

    def quote(self, *legs: SignedOrder, pulls: tuple[QuoteSlot, ...] = ()) -> list[object]:
        return self.apply(SignedMassQuote(0, MM, "mm", legs, pulls))

    def governed(self, events: list[object]) -> dict[int, SignedOrder]:
        applied = next(e for e in events if isinstance(e, SignedQuotesApplied))
        return {
            g.order_id: self.pipeline.governing_order(g.order_id)  # type: ignore[misc]
            for g in applied.governing
        }

    def live(self, side: Side) -> list[tuple[int, int | None, int]]:
        return [
            (o.order_id, o.price, o.remaining)
            for o in self.pipeline.engine.open_orders(MM)
            if o.side is side
        ]


def rejections(events: list[object]) -> list[OrderRejected]:
    return [e for e in events if isinstance(e, OrderRejected)]


def test_a_signed_quote_rests_post_only_and_each_leg_governs_its_order() -> None:
    run = Run()
    bid, ask = run.leg(Side.BUY, 2 * LOT, PRICE - TICK), run.leg(Side.SELL, 3 * LOT, PRICE + TICK)
    events = run.quote(bid, ask)
    accepted = {e.side: e.order_id for e in events if isinstance(e, OrderAccepted)}
    assert run.governed(events) == {accepted[Side.BUY]: bid, accepted[Side.SELL]: ask}
    assert run.live(Side.SELL) == [(accepted[Side.SELL], PRICE + TICK, 3 * LOT)]


def test_a_requote_that_only_shrinks_is_a_replacement_that_keeps_the_order_and_its_fills() -> None:
    run = Run()
    first = run.leg(Side.SELL, 5 * LOT)
    order_id = next(e.order_id for e in run.quote(first) if isinstance(e, OrderAccepted))
    run.apply(NewOrder(0, "bob", PERP, Side.BUY, 2 * LOT, PRICE))  # 2 of 5 filled
    # The maker now wants 2 lots resting: the total is 2 filled + 2 = 4.
    smaller = run.requote(first, quantity=4 * LOT)
    events = run.quote(smaller)
    amended = next(e for e in events if isinstance(e, OrderAmended))
    assert (amended.order_id, amended.remaining, amended.kept_priority) == (order_id, 2 * LOT, True)
    assert run.governed(events) == {order_id: smaller}
    fills = run.apply(NewOrder(0, "bob", PERP, Side.BUY, 5 * LOT, PRICE))
    assert sum(f.quantity for f in fills if isinstance(f, Fill)) == 2 * LOT  # never beyond 4


def test_a_replacement_leg_that_moves_the_price_is_refused_and_pulls_its_side() -> None:
    run = Run()
    first = run.leg(Side.SELL, 2 * LOT)
    run.quote(first)
    events = run.quote(run.requote(first, price=PRICE + TICK))
    assert [r.reason for r in rejections(events)] == ["invalid_replacement"]
    assert run.live(Side.SELL) == []
    assert run.governed(events) == {}


def test_a_replacement_signed_by_another_key_of_the_account_is_refused() -> None:
    run = Run()
    first = run.leg(Side.SELL, 2 * LOT)
    run.quote(first)
    events = run.quote(run.requote(first, quantity=LOT, key=SECOND_KEY))
    assert [r.reason for r in rejections(events)] == ["invalid_replacement"]
    assert run.live(Side.SELL) == []


def test_a_new_leg_where_the_market_would_keep_the_quote_opens_a_new_order_id() -> None:
    run = Run()
    first = run.leg(Side.SELL, 3 * LOT)
    old_id = next(e.order_id for e in run.quote(first) if isinstance(e, OrderAccepted))
    fresh = run.leg(Side.SELL, 2 * LOT)  # same price, smaller: an original, not a replacement
    events = run.quote(fresh)
    assert any(isinstance(e, OrderCancelled) and e.order_id == old_id for e in events)
    (new_id, leg), *_ = run.governed(events).items()
    assert new_id != old_id and leg == fresh
    assert run.live(Side.SELL) == [(new_id, PRICE, 2 * LOT)]
    assert run.pipeline.governing_order(old_id) is None


def test_a_replacement_of_a_quote_filled_away_is_refused_as_unknown() -> None:
    run = Run()
    first = run.leg(Side.SELL, LOT)
    run.quote(first)
    run.apply(NewOrder(0, "bob", PERP, Side.BUY, LOT, PRICE))
    events = run.quote(run.requote(first, quantity=LOT))
    assert [r.reason for r in rejections(events)] == ["replaced_order_unknown"]


def test_a_replacement_whose_total_is_filled_already_pulls_the_side() -> None:
    run = Run()
    first = run.leg(Side.SELL, 3 * LOT)
    run.quote(first)
    run.apply(NewOrder(0, "bob", PERP, Side.BUY, 2 * LOT, PRICE))
    events = run.quote(run.requote(first, quantity=2 * LOT))
    assert rejections(events) == [] and run.governed(events) == {}
    assert run.live(Side.SELL) == []


def test_pulls_withdraw_a_side_and_sides_not_named_stay_as_they_are() -> None:
    run = Run()
    bid, ask = run.leg(Side.BUY, LOT, PRICE - TICK), run.leg(Side.SELL, LOT, PRICE + TICK)
    run.quote(bid, ask)
    ask_before = run.live(Side.SELL)
    moved = run.leg(Side.BUY, LOT, PRICE - 2 * TICK)
    events = run.quote(moved)
    assert run.live(Side.SELL) == ask_before  # untouched: no new signature needed
    assert [p for _, p, _ in run.live(Side.BUY)] == [PRICE - 2 * TICK]
    assert list(run.governed(events).values()) == [moved]
    run.quote(pulls=(QuoteSlot(PERP, Side.SELL),))
    assert run.live(Side.SELL) == []


def test_a_quote_the_market_refuses_as_a_whole_changes_nothing_and_governs_nothing() -> None:
    run = Run()
    first = run.leg(Side.SELL, 3 * LOT)
    run.quote(first)
    before = run.live(Side.SELL)
    smaller = run.requote(first, quantity=2 * LOT)
    stray = run.leg(Side.BUY, LOT, PRICE - 7)  # off the tick grid: the whole quote is refused
    events = run.quote(smaller, stray)
    assert run.governed(events) == {}
    assert run.live(Side.SELL) == before and run.live(Side.BUY) == []
    order_id = run.live(Side.SELL)[0][0]
    assert run.pipeline.governing_order(order_id) == first


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"account": "bob"}, "invalid_quote"),
        ({"post_only": False}, "invalid_quote"),
        ({"client_order_id": "q1"}, "invalid_quote"),
        ({"time_in_force": TimeInForce.GTD}, "invalid_quote"),
    ],
)
def test_a_leg_that_is_not_a_post_only_limit_order_of_the_quoter_fails_whole(
    change: dict[str, object], reason: str
) -> None:
    run = Run()
    good = run.leg(Side.BUY, LOT, PRICE - TICK)
    changes = dict(change)
    account = str(changes.pop("account", MM))
    bad = run.leg(Side.SELL, LOT, PRICE + TICK, account=account, **changes)
    (failed,) = run.quote(good, bad)
    assert isinstance(failed, CommandFailed) and failed.reason == reason
    assert run.live(Side.BUY) == run.live(Side.SELL) == []


def test_two_legs_for_one_side_or_a_leg_and_a_pull_fail_whole() -> None:
    run = Run()
    one, two = run.leg(Side.SELL, LOT), run.leg(Side.SELL, 2 * LOT)
    (failed,) = run.quote(one, two)
    assert isinstance(failed, CommandFailed) and failed.reason == "invalid_quote"
    (failed,) = run.quote(run.leg(Side.SELL, LOT), pulls=(QuoteSlot(PERP, Side.SELL),))
    assert isinstance(failed, CommandFailed) and failed.reason == "invalid_quote"
    (failed,) = run.quote()
    assert isinstance(failed, CommandFailed)


def test_a_journaled_replay_of_a_leg_fails_and_changes_nothing() -> None:
    run = Run()
    leg = run.leg(Side.SELL, LOT)
    run.quote(leg)
    before = run.live(Side.SELL)
    (failed,) = run.quote(leg)
    assert isinstance(failed, CommandFailed) and failed.reason == "order_replayed"
    assert run.live(Side.SELL) == before


def test_a_snapshot_keeps_which_leg_governs_so_a_later_requote_applies() -> None:
    run = Run()
    first = run.leg(Side.SELL, 3 * LOT)
    order_id = next(e.order_id for e in run.quote(first) if isinstance(e, OrderAccepted))
    restored = Pipeline.restore(run.pipeline.snapshot())
    assert restored.state_hash() == run.pipeline.state_hash()
    run.pipeline = restored
    events = run.quote(run.requote(first, quantity=LOT))
    assert list(run.governed(events)) == [order_id]


def test_quotes_on_another_instrument_leave_the_first_instruments_quotes_alone() -> None:
    run = Run()
    perp = run.leg(Side.SELL, LOT)
    run.quote(perp)
    call = run.leg(Side.SELL, LOT, 5_100_000_000, instrument=CALL)
    events = run.quote(call)
    assert list(run.governed(events).values()) == [call]
    assert len(run.live(Side.SELL)) == 2


# The sequencer: what never reaches the journal -------------------------------------------------


class Authority:
    """alice may trade with both her keys, bob with his; nobody else."""

    def check(self, account: str, public_key: bytes, scope: TradingScope, now_ms: int) -> None:
        allowed = {
            "alice": {KEYS["alice"].public_key.raw, SECOND_KEY.public_key.raw},
            "bob": {KEYS["bob"].public_key.raw},
        }
        if public_key not in allowed.get(account, set()):
            raise Unauthorized(SecurityReason.DELEGATION_NOT_FOUND, account=account)


async def sequencer(run: Run) -> Sequencer:
    """A sequencer on a fresh journal and pipeline (``run``'s from now on), set up like it."""
    run.pipeline = Pipeline()
    seq = Sequencer(
        MemoryJournal(),
        run.pipeline.apply,
        clock=ManualClock(run.ts + 1),
        chain_id=CHAIN,
        authority=Authority(),
    )
    for command in setup_commands(T0):
        await seq.submit(command)
    await seq.submit(SetMmpConfig(0, MM, "mm", 1_000, 1_000, 10**15, 10**15))
    return seq


async def refused(seq: Sequencer, command: Command) -> OptexError:
    journaled = seq.journal.last_seq
    with pytest.raises(OptexError) as caught:
        await seq.submit(command)
    assert seq.journal.last_seq == journaled
    return caught.value


async def test_the_sequencer_refuses_a_leg_signed_by_a_key_not_authorized_for_the_account() -> None:
    run = Run()
    seq = await sequencer(run)
    forged = run.leg(Side.SELL, LOT, key=KEYS["mallory"])
    good = run.leg(Side.BUY, LOT, PRICE - TICK)
    error = await refused(seq, SignedMassQuote(0, MM, "mm", (good, forged)))
    assert error.reason == "delegation_not_found"
    # Nothing of the refused quote was remembered: its good leg can still be used.
    receipt = await seq.submit(SignedMassQuote(0, MM, "mm", (good,)))
    assert any(isinstance(e, SignedQuotesApplied) for e in receipt.events)
    await seq.close()


async def test_the_sequencer_refuses_a_leg_for_another_account() -> None:
    run = Run()
    seq = await sequencer(run)
    bobs = run.leg(Side.SELL, LOT, account="bob")  # bob's own genuine signature
    error = await refused(seq, SignedMassQuote(0, MM, "mm", (bobs,)))
    assert error.code is ExchangeReason.INVALID_QUOTE
    await seq.close()


async def test_the_sequencer_refuses_a_replayed_quote_and_a_leg_used_before() -> None:
    run = Run()
    seq = await sequencer(run)
    leg = run.leg(Side.SELL, LOT)
    quote = SignedMassQuote(0, MM, "mm", (leg,))
    await seq.submit(quote)
    assert (await refused(seq, quote)).code is SecurityReason.ORDER_REPLAYED
    other = run.leg(Side.BUY, LOT, PRICE - TICK)
    again = SignedMassQuote(0, MM, "mm", (other, leg))
    assert (await refused(seq, again)).code is SecurityReason.ORDER_REPLAYED
    assert (await refused(seq, PlaceSignedOrder(0, leg))).code is SecurityReason.ORDER_REPLAYED
    await seq.close()


async def test_the_sequencer_refuses_signed_quotes_without_a_key_authority() -> None:
    run = Run()
    seq = Sequencer(MemoryJournal(), run.pipeline.apply, clock=ManualClock(run.ts + 1))
    error = await refused(seq, SignedMassQuote(0, MM, "mm", (run.leg(Side.SELL, LOT),)))
    assert error.code is ExchangeReason.SIGNED_ORDERS_DISABLED
    await seq.close()


async def test_the_sequencer_refuses_a_quote_with_a_leg_ending_within_the_settlement_window() -> (
    None
):
    run = Run()
    seq = await sequencer(run)
    now = run.ts + 1  # the sequencer's clock
    late = run.leg(Side.SELL, LOT, expiry_ms=now + SETTLEMENT_WINDOW_MS)
    good = run.leg(Side.BUY, LOT, PRICE - TICK)
    error = await refused(seq, SignedMassQuote(0, MM, "mm", (good, late)))
    assert error.code is ExchangeReason.EXPIRES_BEFORE_SETTLEMENT
    assert run.live(Side.BUY) == []  # the whole quote was refused
    await seq.submit(SignedMassQuote(0, MM, "mm", (good,)))  # its other leg was not used up
    assert len(run.live(Side.BUY)) == 1
    await seq.close()


def test_a_leg_stops_resting_the_settlement_window_before_its_signature_ends() -> None:
    run = Run()
    short = run.leg(Side.SELL, 2 * LOT, expiry_ms=run.ts + SETTLEMENT_WINDOW_MS + 50)
    bid = run.leg(Side.BUY, 2 * LOT, PRICE - TICK)
    accepted = {e.side: e.order_id for e in run.quote(short, bid) if isinstance(e, OrderAccepted)}
    assert run.live(Side.SELL)[0][0] == accepted[Side.SELL]
    # Time passes to the settlement window before the ask's expiry: a fill after that might
    # reach the chain after the signature's end and never settle, so the ask is gone.
    run.ts += 60
    assert run.ts > trading_end_ms(short) and run.ts < short.intent.expiry_ms
    events = run.apply(AdvanceTime(0))
    assert [e.order_id for e in events if isinstance(e, OrderExpired)] == [accepted[Side.SELL]]
    assert run.live(Side.SELL) == []
    assert [o for o, _, _ in run.live(Side.BUY)] == [accepted[Side.BUY]]
    taker = run.apply(NewOrder(0, "bob", PERP, Side.BUY, 2 * LOT, PRICE))
    assert not [e for e in taker if isinstance(e, Fill)]


def test_a_replacement_that_keeps_the_quote_moves_its_end_to_the_new_signatures() -> None:
    run = Run()
    first = run.leg(Side.SELL, 4 * LOT, expiry_ms=run.ts + SETTLEMENT_WINDOW_MS + 50)
    order_id = next(e.order_id for e in run.quote(first) if isinstance(e, OrderAccepted))
    # Same price, smaller total: the quote keeps its id, and now lasts as long as the new leg.
    later = run.requote(first, quantity=3 * LOT)
    run.quote(later)
    run.ts += 60
    assert not [e for e in run.apply(AdvanceTime(0)) if isinstance(e, OrderExpired)]
    assert run.live(Side.SELL) == [(order_id, PRICE, 3 * LOT)]
    run.ts = trading_end_ms(later)
    expired = [e for e in run.apply(AdvanceTime(0)) if isinstance(e, OrderExpired)]
    assert [e.order_id for e in expired] == [order_id]


def test_a_quote_on_one_side_applies_when_the_other_sides_end_came_before_it() -> None:
    run = Run()
    bid = run.leg(Side.BUY, 2 * LOT, PRICE - TICK, expiry_ms=run.ts + SETTLEMENT_WINDOW_MS + 50)
    run.quote(bid, run.leg(Side.SELL, 2 * LOT, PRICE + TICK))
    # No command reaches the engine until after the bid's end; then the maker moves the ask only.
    run.ts += 60
    ask = run.leg(Side.SELL, 2 * LOT, PRICE + 2 * TICK)
    events = run.quote(ask)
    assert not rejections(events)
    assert len([e for e in events if isinstance(e, OrderExpired)]) == 1
    assert run.live(Side.BUY) == []
    assert list(run.governed(events).values()) == [ask]


def test_a_replacement_of_a_quote_whose_end_came_is_refused_and_nothing_rests_ungoverned() -> None:
    run = Run()
    first = run.leg(Side.SELL, 4 * LOT, expiry_ms=run.ts + SETTLEMENT_WINDOW_MS + 50)
    run.quote(first)
    run.ts += 60
    events = run.quote(run.requote(first, quantity=3 * LOT))
    assert [r.reason for r in rejections(events)] == ["replaced_order_unknown"]
    assert run.live(Side.SELL) == []
    assert run.governed(events) == {}


def test_a_leg_on_an_instrument_in_its_last_window_is_refused_and_the_others_quote() -> None:
    run = Run()
    expiry = run.pipeline.instrument_expiry(CALL)
    assert expiry is not None
    run.ts = expiry - 1_800_000
    call_price = 5_000_000_000

    def call_leg() -> SignedOrder:
        return run.leg(Side.SELL, LOT, call_price, instrument=CALL)

    early = run.quote(call_leg())
    [governed] = run.governed(early)
    quote = run.pipeline.engine.order(governed)
    assert quote is not None and quote.expire_ts_ms == expiry - SETTLEMENT_WINDOW_MS
    # In the window before expiry, the call's leg is refused (its side pulled); the
    # perpetual's quotes as usual.
    run.ts = expiry - SETTLEMENT_WINDOW_MS
    events = run.quote(call_leg(), run.leg(Side.BUY, LOT, PRICE - TICK))
    [refused] = rejections(events)
    assert refused.reason == ExchangeReason.EXPIRES_BEFORE_SETTLEMENT.reason
    assert [i for i, _ in run.governed(events).items()] == [o for o, _, _ in run.live(Side.BUY)]
    assert [o.instrument for o in run.pipeline.engine.open_orders(MM)] == [PERP]
