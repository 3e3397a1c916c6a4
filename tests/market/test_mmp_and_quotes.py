"""Market maker protection and mass quotes."""

from __future__ import annotations

import pytest

from optex.core import InvalidInput
from optex.market import (
    AdvanceTime,
    CancelReason,
    MassCancel,
    MassQuote,
    MmpTriggered,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    Quote,
    ResetMmp,
    SetMmpConfig,
    UpdatePrice,
)
from tests.market.kit import CALL, LOT, NAME, PERP, TICK, buy, depth, engine, fills, of, sell


def mmp(ts: int, quantity_lots: int = 3, frozen_ms: int = 100) -> SetMmpConfig:
    """Limits of ``quantity_lots`` filled, or 1,000 lots of delta, in one second."""
    return SetMmpConfig(ts, "mm", "g", 1_000, frozen_ms, quantity_lots * LOT, 1_000 * LOT)


def quote(ts: int, *quotes: Quote) -> MassQuote:
    return MassQuote(ts, "mm", "g", quotes)


def two_sided(name: str, bid: int, ask: int, lots: int = 2) -> Quote:
    return Quote(name, bid * TICK, lots * LOT, ask * TICK, lots * LOT)


def test_mass_quote_places_two_sided_quotes_on_many_instruments() -> None:
    e = engine(PERP, CALL)
    e.process(mmp(1))
    events = e.process(quote(2, two_sided(NAME, 99, 101), two_sided(CALL.name, 9, 11)))
    assert len(of(events, OrderAccepted)) == 4
    assert depth(e) == ([(99, 2)], [(101, 2)])
    assert depth(e, CALL.name) == ([(9, 2)], [(11, 2)])


def test_mass_quote_replacement_moves_quotes_and_withdraws_missing_sides() -> None:
    e = engine(PERP)
    e.process(mmp(1))
    e.process(quote(2, two_sided(NAME, 99, 101)))
    events = e.process(quote(3, Quote(NAME, 98 * TICK, 2 * LOT, None, 0)))
    assert [c.reason for c in of(events, OrderCancelled)] == [CancelReason.QUOTE_REPLACED] * 2
    assert depth(e) == ([(98, 2)], [])


def test_mass_quote_same_price_smaller_size_keeps_priority() -> None:
    e = engine(PERP)
    e.process(mmp(1, quantity_lots=100))
    e.process(quote(2, two_sided(NAME, 99, 101, lots=3)))
    e.process(buy(3, "other", 1, 99))
    events = e.process(quote(4, two_sided(NAME, 99, 101, lots=2)))
    assert all(a.kept_priority for a in of(events, OrderAmended))
    assert not of(events, OrderCancelled)
    assert fills(e.process(sell(5, "x", 1, 99)))[0][0] == 1


def test_mass_quote_that_crosses_itself_is_rejected_whole() -> None:
    e = engine(PERP)
    e.process(mmp(1))
    events = e.process(quote(2, two_sided(NAME, 101, 101), two_sided(NAME, 90, 91)))
    assert [r.reason for r in of(events, OrderRejected)] == ["invalid_mass_quote"]
    assert depth(e) == ([], [])


def test_mass_quote_needs_a_protection_group() -> None:
    e = engine(PERP)
    events = e.process(quote(1, two_sided(NAME, 99, 101)))
    assert of(events, OrderRejected)[0].reason == "mmp_group_unknown"


def test_mmp_freeze_cancels_the_groups_orders_when_the_quantity_limit_is_hit() -> None:
    e = engine(PERP, CALL)
    e.process(mmp(1, quantity_lots=3))
    e.process(quote(2, two_sided(NAME, 99, 101), two_sided(CALL.name, 9, 11)))
    assert not of(e.process(buy(3, "taker", 2, 101)), MmpTriggered)
    events = e.process(sell(4, "taker", 1, 99))
    (tripped,) = of(events, MmpTriggered)
    assert tripped.frozen_until_ms == 104
    assert {c.reason for c in of(events, OrderCancelled)} == {CancelReason.MMP_TRIGGERED}
    assert depth(e) == ([], []) and depth(e, CALL.name) == ([], [])
    assert e.mmp_frozen("mm", "g")


def test_mmp_freeze_refuses_quotes_until_it_ends() -> None:
    e = engine(PERP)
    e.process(mmp(1, quantity_lots=1, frozen_ms=100))
    e.process(quote(2, two_sided(NAME, 99, 101)))
    e.process(buy(3, "taker", 1, 101))
    events = e.process(quote(50, two_sided(NAME, 99, 101)))
    assert of(events, OrderRejected)[0].reason == "mmp_frozen"
    rejected = e.process(buy(51, "mm", 1, 90, mmp_group="g"))
    assert of(rejected, OrderRejected)[0].reason == "mmp_frozen"
    assert of(e.process(quote(103, two_sided(NAME, 99, 101))), OrderAccepted)


def test_mmp_reset_unfreezes_a_group_frozen_until_reset() -> None:
    e = engine(PERP)
    e.process(mmp(1, quantity_lots=1, frozen_ms=0))
    e.process(quote(2, two_sided(NAME, 99, 101)))
    e.process(buy(3, "taker", 1, 101))
    e.process(AdvanceTime(10_000))
    assert e.mmp_frozen("mm", "g")
    e.process(ResetMmp(10_001, "mm", "g"))
    assert of(e.process(quote(10_002, two_sided(NAME, 99, 101))), OrderAccepted)


def test_mmp_delta_limit_uses_the_delta_from_the_mark_update() -> None:
    e = engine(CALL)
    e.process(SetMmpConfig(1, "mm", "g", 1_000, 100, 1_000 * LOT, LOT))  # 0.01 BTC of delta
    e.process(UpdatePrice(2, CALL.name, "mark", 10 * TICK, delta_ppm=500_000))
    e.process(quote(3, two_sided(CALL.name, 9, 11, lots=5)))
    # One lot at delta 0.5 is half the limit; two lots reach it.
    assert not of(e.process(buy(4, "t", 1, 11, instrument=CALL.name)), MmpTriggered)
    assert of(e.process(buy(5, "t", 1, 11, instrument=CALL.name)), MmpTriggered)


def test_mmp_window_forgets_fills_older_than_the_interval() -> None:
    e = engine(PERP)
    e.process(mmp(1, quantity_lots=2))
    e.process(quote(2, two_sided(NAME, 99, 101, lots=5)))
    e.process(buy(3, "t", 1, 101))
    assert not of(e.process(buy(1_500, "t", 1, 101)), MmpTriggered)


def test_mmp_config_must_be_positive() -> None:
    e = engine(PERP)
    with pytest.raises(InvalidInput) as info:
        e.process(SetMmpConfig(1, "mm", "g", 0, 100, LOT, 1))
    assert info.value.reason == "invalid_mmp_config"


def test_mass_cancel_cancels_only_the_accounts_orders_on_that_instrument() -> None:
    e = engine(PERP, CALL)
    e.process(buy(1, "a", 1, 99))
    e.process(buy(2, "a", 1, 9, instrument=CALL.name))
    e.process(buy(3, "b", 1, 98))
    events = e.process(MassCancel(4, "a", instrument=NAME))
    assert len(of(events, OrderCancelled)) == 1
    assert depth(e) == ([(98, 1)], []) and depth(e, CALL.name) == ([(9, 1)], [])


def expiring(name: str, bid: int, ask: int, bid_until: int | None, ask_until: int | None) -> Quote:
    return Quote(name, bid * TICK, 2 * LOT, ask * TICK, 2 * LOT, bid_until, ask_until)


def test_a_quote_side_rests_until_its_expiry() -> None:
    e = engine(PERP)
    e.process(mmp(1))
    e.process(quote(2, expiring(NAME, 99, 101, bid_until=10, ask_until=None)))
    assert not of(e.process(AdvanceTime(9)), OrderExpired)
    expired = of(e.process(AdvanceTime(10)), OrderExpired)
    assert [x.quantity for x in expired] == [2 * LOT]
    assert depth(e) == ([], [(101, 2)])
    # The side is free again: a new bid opens a new quote.
    assert len(of(e.process(quote(11, two_sided(NAME, 99, 101))), OrderAccepted)) == 1


def test_a_quote_kept_in_place_takes_the_new_expiry() -> None:
    e = engine(PERP)
    e.process(mmp(1))
    first = e.process(quote(2, expiring(NAME, 99, 101, bid_until=10, ask_until=10)))
    ids = sorted(a.order_id for a in of(first, OrderAccepted))
    # Same prices and sizes: the quotes stay (same ids, priority kept), now until 50 and never.
    kept = e.process(quote(3, expiring(NAME, 99, 101, bid_until=50, ask_until=None)))
    assert not of(kept, OrderAccepted) and not of(kept, OrderCancelled)
    assert not of(e.process(AdvanceTime(20)), OrderExpired)
    assert sorted(o.order_id for o in e.open_orders("mm")) == ids
    # The new end is part of the state: an engine restored from a snapshot keeps it too.
    restored = type(e).restore(e.snapshot())
    for engine_ in (e, restored):
        expired = of(engine_.process(AdvanceTime(50)), OrderExpired)
        assert [x.order_id for x in expired] == [ids[0]]
        assert depth(engine_) == ([], [(101, 2)])
    assert restored.state_hash() == e.state_hash()


@pytest.mark.parametrize("until", [5, 4])
def test_a_quote_expiring_before_it_arrives_is_rejected_whole(until: int) -> None:
    e = engine(PERP)
    e.process(mmp(1))
    e.process(AdvanceTime(5))
    before = e.state_hash()
    events = e.process(quote(5, expiring(NAME, 99, 101, bid_until=None, ask_until=until)))
    assert [r.reason for r in of(events, OrderRejected)] == ["expiry_time_passed"]
    assert e.state_hash() == before


def test_a_quote_expiry_that_is_not_an_integer_is_rejected() -> None:
    e = engine(PERP)
    e.process(mmp(1))
    e.process(AdvanceTime(5))
    before = e.state_hash()
    bad = Quote(NAME, 99 * TICK, 2 * LOT, None, 0, "soon", None)  # type: ignore[arg-type]
    events = e.process(quote(5, bad))
    assert [r.reason for r in of(events, OrderRejected)] == ["not_an_integer"]
    assert e.state_hash() == before
