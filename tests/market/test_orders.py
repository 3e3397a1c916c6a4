"""Order types, priority, amendments, time in force and self-trade prevention."""

from __future__ import annotations

import pytest

from optex.market import (
    AdvanceTime,
    AmendOrder,
    BookDelta,
    CancelOrder,
    CancelReason,
    Fill,
    NewOrder,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderType,
    PostOnly,
    SetPosition,
    SetSelfTradePrevention,
    Side,
    StpMode,
    TimeInForce,
)
from tests.market.kit import (
    LOT,
    NAME,
    TICK,
    accepted_id,
    buy,
    cancel,
    depth,
    engine,
    fills,
    of,
    rejected,
    sell,
)


def test_a_limit_order_rests_and_shows_in_depth() -> None:
    e = engine()
    e.process(buy(1, "a", 2, 100))
    e.process(sell(2, "b", 3, 102))
    assert depth(e) == ([(100, 2)], [(102, 3)])


def test_orders_at_one_price_fill_in_time_priority() -> None:
    e = engine()
    first = accepted_id(e.process(sell(1, "a", 1, 100)))
    second = accepted_id(e.process(sell(2, "b", 1, 100)))
    events = e.process(buy(3, "c", 1, 100))
    assert fills(events) == [(first, 3, 100, 1)]
    assert e.order(second) is not None


def test_a_better_price_fills_before_an_earlier_worse_one() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 101))
    better = accepted_id(e.process(sell(2, "b", 1, 100)))
    events = e.process(buy(3, "c", 1, 105))
    assert fills(events) == [(better, 3, 100, 1)]


def test_a_crossing_order_trades_at_the_makers_prices_up_to_its_limit() -> None:
    e = engine()
    a = accepted_id(e.process(sell(1, "a", 1, 100)))
    b = accepted_id(e.process(sell(2, "a", 2, 101)))
    e.process(sell(3, "a", 5, 103))
    events = e.process(buy(4, "c", 5, 102))
    assert fills(events) == [(a, 4, 100, 1), (b, 4, 101, 2)]
    assert depth(e) == ([(102, 2)], [(103, 5)])
    (fill,) = of(events, Fill)[:1]
    assert fill.aggressor_side is Side.BUY and fill.taker_account == "c"
    assert fill.maker_account == "a"


def test_book_deltas_report_each_changed_level() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 100))
    e.process(sell(2, "a", 2, 101))
    deltas = of(e.process(buy(3, "c", 2, 101)), BookDelta)
    assert [(d.side, d.price // TICK, d.quantity // LOT) for d in deltas] == [
        (Side.SELL, 100, 0),
        (Side.SELL, 101, 1),
    ]


def test_a_market_order_sweeps_the_book_and_cancels_the_rest() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 100))
    e.process(sell(2, "a", 1, 110))
    events = e.process(buy(3, "c", 5, None, order_type=OrderType.MARKET))
    assert [f[2] for f in fills(events)] == [100, 110]
    (cancelled,) = of(events, OrderCancelled)
    assert cancelled.reason is CancelReason.NO_LIQUIDITY and cancelled.quantity == 3 * LOT


def test_a_market_order_stops_at_its_worst_price_protection_bound() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 100))
    e.process(sell(2, "a", 1, 110))
    events = e.process(buy(3, "c", 2, 105, order_type=OrderType.MARKET))
    assert [f[2] for f in fills(events)] == [100]
    (cancelled,) = of(events, OrderCancelled)
    assert cancelled.reason is CancelReason.PRICE_PROTECTION
    assert depth(e) == ([], [(110, 1)])


def test_amend_that_reduces_size_keeps_priority() -> None:
    e = engine()
    first = accepted_id(e.process(sell(1, "a", 3, 100)))
    e.process(sell(2, "b", 3, 100))
    events = e.process(AmendOrder(3, "a", order_id=first, quantity=2 * LOT))
    (amended,) = of(events, OrderAmended)
    assert amended.kept_priority and amended.remaining == 2 * LOT
    assert fills(e.process(buy(4, "c", 1, 100)))[0][0] == first


def test_amend_that_increases_size_loses_priority() -> None:
    e = engine()
    first = accepted_id(e.process(sell(1, "a", 1, 100)))
    second = accepted_id(e.process(sell(2, "b", 1, 100)))
    events = e.process(AmendOrder(3, "a", order_id=first, quantity=2 * LOT))
    assert not of(events, OrderAmended)[0].kept_priority
    assert fills(e.process(buy(4, "c", 1, 100)))[0][0] == second


def test_amend_that_changes_price_loses_priority_and_can_trade() -> None:
    e = engine()
    resting = accepted_id(e.process(buy(1, "a", 1, 99)))
    maker = accepted_id(e.process(sell(2, "b", 1, 101)))
    events = e.process(AmendOrder(3, "a", order_id=resting, price=101 * TICK))
    assert fills(events) == [(maker, resting, 101, 1)]
    assert depth(e) == ([], [])


def test_amend_by_client_order_id_finds_the_order() -> None:
    e = engine()
    e.process(buy(1, "a", 2, 99, client_order_id="mine"))
    e.process(AmendOrder(2, "a", client_order_id="mine", price=98 * TICK))
    assert depth(e) == ([(98, 2)], [])


def test_cancel_removes_the_order_and_reports_its_open_quantity() -> None:
    e = engine()
    order_id = accepted_id(e.process(buy(1, "a", 2, 99)))
    e.process(sell(2, "b", 1, 99))
    (cancelled,) = of(e.process(cancel(3, "a", order_id)), OrderCancelled)
    assert cancelled.quantity == LOT and cancelled.reason is CancelReason.USER
    assert depth(e) == ([], [])


def test_an_account_cannot_cancel_another_accounts_order() -> None:
    e = engine()
    order_id = accepted_id(e.process(buy(1, "a", 2, 99)))
    assert rejected(e.process(CancelOrder(2, "b", order_id=order_id))) == "unknown_order"
    assert depth(e) == ([(99, 2)], [])


def test_iceberg_shows_only_its_display_quantity() -> None:
    e = engine()
    e.process(sell(1, "a", 10, 100, display_quantity=2 * LOT))
    assert depth(e) == ([], [(100, 2)])


def test_iceberg_replenishes_at_the_back_of_the_queue() -> None:
    e = engine()
    iceberg = accepted_id(e.process(sell(1, "a", 5, 100, display_quantity=2 * LOT)))
    plain = accepted_id(e.process(sell(2, "b", 1, 100)))
    events = e.process(buy(3, "c", 4, 100))
    assert fills(events) == [(iceberg, 3, 100, 2), (plain, 3, 100, 1), (iceberg, 3, 100, 1)]
    assert depth(e) == ([], [(100, 1)])
    assert e.order(iceberg) is not None and e.order(iceberg).remaining == 2 * LOT


def test_post_only_that_would_cross_is_rejected() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 100))
    events = e.process(buy(2, "b", 1, 100, post_only=PostOnly.REJECT))
    assert rejected(events) == "post_only_would_cross"
    assert depth(e) == ([], [(100, 1)])


def test_post_only_reprice_moves_to_one_tick_inside_the_touch() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 100))
    events = e.process(buy(2, "b", 1, 103, post_only=PostOnly.REPRICE))
    assert not fills(events)
    assert depth(e) == ([(99, 1)], [(100, 1)])


def test_reduce_only_is_capped_to_the_position_and_rejected_when_it_would_increase() -> None:
    e = engine()
    e.process(SetPosition(1, "a", NAME, 2 * LOT))
    assert rejected(e.process(buy(2, "a", 1, 99, reduce_only=True))) == (
        "reduce_only_would_increase"
    )
    events = e.process(sell(3, "a", 5, 101, reduce_only=True))
    assert depth(e) == ([], [(101, 2)])
    assert events[0].quantity == 2 * LOT


def test_positions_follow_fills() -> None:
    e = engine()
    e.process(sell(1, "a", 3, 100))
    e.process(buy(2, "b", 2, 100))
    assert e.position("a", NAME) == -2 * LOT and e.position("b", NAME) == 2 * LOT


def test_a_resting_reduce_only_order_is_cancelled_once_the_position_is_flat() -> None:
    e = engine()
    e.process(SetPosition(1, "a", NAME, LOT))
    order_id = accepted_id(e.process(sell(2, "a", 1, 101, reduce_only=True)))
    e.process(SetPosition(3, "a", NAME, 0))
    events = e.process(buy(4, "b", 1, 101))
    assert not fills(events)
    assert of(events, OrderCancelled)[0].order_id == order_id
    assert of(events, OrderCancelled)[0].reason is CancelReason.REDUCE_ONLY


def test_ioc_trades_what_it_can_and_cancels_the_rest() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 100))
    events = e.process(buy(2, "b", 3, 100, tif=TimeInForce.IOC))
    assert len(fills(events)) == 1
    (cancelled,) = of(events, OrderCancelled)
    assert cancelled.reason is CancelReason.IMMEDIATE_OR_CANCEL and cancelled.quantity == 2 * LOT
    assert depth(e) == ([], [])


def test_fok_all_or_nothing_kills_an_order_that_cannot_fill_completely() -> None:
    e = engine()
    e.process(sell(1, "a", 2, 100))
    events = e.process(buy(2, "b", 3, 100, tif=TimeInForce.FOK))
    assert not fills(events)
    assert of(events, OrderCancelled)[0].reason is CancelReason.FILL_OR_KILL
    assert depth(e) == ([], [(100, 2)])


def test_fok_all_or_nothing_fills_an_order_that_can_fill_completely() -> None:
    e = engine()
    e.process(sell(1, "a", 2, 100))
    e.process(sell(2, "a", 2, 101, display_quantity=LOT))
    events = e.process(buy(3, "b", 4, 101, tif=TimeInForce.FOK))
    assert sum(f[3] for f in fills(events)) == 4
    assert depth(e) == ([], [])


def test_gtd_order_expires_at_its_time() -> None:
    e = engine()
    order_id = accepted_id(e.process(buy(1, "a", 1, 99, tif=TimeInForce.GTD, expire_ts_ms=50)))
    assert not e.process(AdvanceTime(49))
    events = e.process(AdvanceTime(50))
    (expired,) = of(events, OrderExpired)
    assert expired.order_id == order_id and expired.ts_ms == 50
    assert depth(e) == ([], [])


def test_gtd_order_expires_before_a_later_command_can_trade_with_it() -> None:
    e = engine()
    e.process(buy(1, "a", 1, 99, tif=TimeInForce.GTD, expire_ts_ms=10))
    events = e.process(sell(20, "b", 1, 99))
    assert of(events, OrderExpired) and not fills(events)


def test_orders_expire_with_their_instrument() -> None:
    from tests.market.kit import CALL

    e = engine(CALL)
    e.process(buy(1, "a", 1, 99, instrument=CALL.name))
    assert CALL.expiry_ms is not None
    events = e.process(AdvanceTime(CALL.expiry_ms))
    assert len(of(events, OrderExpired)) == 1
    assert rejected(e.process(buy(CALL.expiry_ms + 1, "a", 1, 99, instrument=CALL.name))) == (
        "instrument_expired"
    )


def test_stp_cancel_taker_cancels_the_incoming_order() -> None:
    e = engine()
    maker = accepted_id(e.process(sell(1, "a", 1, 100)))
    events = e.process(buy(2, "a", 1, 100, stp=StpMode.CANCEL_TAKER))
    assert not fills(events)
    (cancelled,) = of(events, OrderCancelled)
    assert cancelled.order_id != maker and cancelled.reason is CancelReason.SELF_TRADE
    assert e.order(maker) is not None


def test_stp_cancel_maker_cancels_the_resting_order_and_keeps_matching() -> None:
    e = engine()
    own = accepted_id(e.process(sell(1, "a", 1, 100)))
    other = accepted_id(e.process(sell(2, "b", 1, 100)))
    events = e.process(buy(3, "a", 1, 100, stp=StpMode.CANCEL_MAKER))
    assert [c.order_id for c in of(events, OrderCancelled)] == [own]
    assert fills(events) == [(other, 3, 100, 1)]


def test_stp_cancel_both_cancels_both_orders() -> None:
    e = engine()
    own = accepted_id(e.process(sell(1, "a", 1, 100)))
    events = e.process(buy(2, "a", 2, 100, stp=StpMode.CANCEL_BOTH))
    assert [c.order_id for c in of(events, OrderCancelled)] == [own, 2]
    assert depth(e) == ([], [])


def test_stp_chosen_per_account_applies_unless_the_order_overrides_it() -> None:
    e = engine()
    e.process(SetSelfTradePrevention(1, "a", StpMode.CANCEL_TAKER))
    e.process(sell(2, "a", 1, 100))
    assert not fills(e.process(buy(3, "a", 1, 100)))
    assert fills(e.process(buy(4, "a", 1, 100, stp=StpMode.ALLOW)))


def test_commands_built_with_plain_strings_behave_like_their_enums() -> None:
    e = engine()
    e.process(NewOrder(1, "a", NAME, "sell", LOT, price=100 * TICK, tif="gtd", expire_ts_ms=9))  # type: ignore[arg-type]
    assert depth(e) == ([], [(100, 1)])
    assert of(e.process(AdvanceTime(9)), OrderExpired)


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_fok_counts_a_reduce_only_iceberg_it_self_trades_with_as_matching_fills_it(
    tif: TimeInForce,
) -> None:
    """Found by a long differential stream (seed 487638): a reduce-only maker capped below its
    visible slice keeps the rest of the slice at the head, and a self-trade leaves its position
    (so its cap) unchanged. FOK's dry run dropped the maker after the first capped slice and
    killed an order that matching fills in full, as IOC shows."""
    e = engine()
    e.process(SetPosition(1, "b", NAME, 6 * LOT))
    e.process(sell(2, "b", 6, 100, reduce_only=True, display_quantity=3 * LOT))
    e.process(SetPosition(3, "b", NAME, 2 * LOT))  # now each slice is capped at 2 lots
    e.process(sell(4, "c", 1, 101))
    events = e.process(buy(5, "b", 7, 101, tif=tif))
    assert sum(lots for *_, lots in fills(events)) == 7
    assert not of(events, OrderCancelled)
    assert depth(e) == ([], [])
