"""Stop and take-profit orders fire on mark, index and last prices."""

from __future__ import annotations

from optex.market import (
    AmendOrder,
    OrderCancelled,
    OrderTriggered,
    OrderType,
    PriceSource,
    TimeInForce,
    UpdatePrice,
)
from tests.market.kit import NAME, TICK, accepted_id, buy, depth, engine, fills, of, rejected, sell


def mark(ts: int, ticks: int, source: PriceSource = PriceSource.MARK) -> UpdatePrice:
    return UpdatePrice(ts, NAME, source, ticks * TICK)


def test_stop_limit_waits_off_the_book_until_its_trigger() -> None:
    e = engine()
    e.process(mark(1, 100))
    order_id = accepted_id(
        e.process(buy(2, "a", 1, 106, order_type=OrderType.STOP_LIMIT, trigger_price=105 * TICK))
    )
    assert depth(e) == ([], [])
    assert not e.process(mark(3, 104))
    events = e.process(mark(4, 105))
    (triggered,) = of(events, OrderTriggered)
    assert triggered.order_id == order_id and triggered.price == 105 * TICK
    assert depth(e) == ([(106, 1)], [])


def test_sell_stop_market_triggers_when_the_index_falls_and_sweeps() -> None:
    e = engine()
    e.process(buy(1, "b", 1, 90))
    e.process(
        sell(
            2,
            "a",
            1,
            None,
            order_type=OrderType.STOP_MARKET,
            trigger_price=95 * TICK,
            trigger=PriceSource.INDEX,
        )
    )
    assert not fills(e.process(mark(3, 95, PriceSource.MARK)))
    events = e.process(mark(4, 94, PriceSource.INDEX))
    assert [f[2] for f in fills(events)] == [90]


def test_take_profit_buy_triggers_when_the_price_falls_to_it() -> None:
    e = engine()
    e.process(mark(1, 100))
    e.process(buy(2, "a", 1, 96, order_type=OrderType.TAKE_PROFIT_LIMIT, trigger_price=97 * TICK))
    assert not of(e.process(mark(3, 98)), OrderTriggered)
    assert of(e.process(mark(4, 97)), OrderTriggered)
    assert depth(e) == ([(96, 1)], [])


def test_take_profit_sell_market_triggers_when_the_price_rises_to_it() -> None:
    e = engine()
    e.process(buy(1, "b", 1, 100))
    e.process(
        sell(2, "a", 1, None, order_type=OrderType.TAKE_PROFIT_MARKET, trigger_price=110 * TICK)
    )
    assert fills(e.process(mark(3, 111)))


def test_a_trade_moves_the_last_price_and_fires_last_price_stops() -> None:
    e = engine()
    stop = accepted_id(
        e.process(
            buy(
                1,
                "a",
                1,
                102,
                order_type=OrderType.STOP_LIMIT,
                trigger_price=101 * TICK,
                trigger=PriceSource.LAST,
            )
        )
    )
    e.process(sell(2, "b", 1, 101))
    e.process(sell(3, "b", 1, 102))
    events = e.process(buy(4, "c", 1, 101))
    assert fills(events)[0][2] == 101
    (triggered,) = of(events, OrderTriggered)
    assert triggered.order_id == stop
    assert fills(events)[1] == (3, stop, 102, 1)


def test_a_stop_whose_trigger_is_already_reached_is_rejected() -> None:
    e = engine()
    e.process(mark(1, 100))
    events = e.process(
        buy(2, "a", 1, 106, order_type=OrderType.STOP_LIMIT, trigger_price=99 * TICK)
    )
    assert rejected(events) == "trigger_already_reached"


def test_a_waiting_stop_can_move_its_trigger_and_be_cancelled() -> None:
    e = engine()
    e.process(mark(1, 100))
    order_id = accepted_id(
        e.process(buy(2, "a", 1, 106, order_type=OrderType.STOP_LIMIT, trigger_price=105 * TICK))
    )
    e.process(AmendOrder(3, "a", order_id=order_id, trigger_price=110 * TICK))
    assert not e.process(mark(4, 105))
    events = e.process(AmendOrder(5, "a", order_id=order_id, trigger_price=104 * TICK))
    assert rejected(events) == "trigger_already_reached"
    from optex.market import CancelOrder

    assert of(e.process(CancelOrder(6, "a", order_id=order_id)), OrderCancelled)


def test_a_triggered_ioc_stop_cancels_what_it_cannot_fill() -> None:
    e = engine()
    e.process(mark(1, 100))
    e.process(
        buy(
            2,
            "a",
            1,
            106,
            order_type=OrderType.STOP_LIMIT,
            trigger_price=105 * TICK,
            tif=TimeInForce.IOC,
        )
    )
    events = e.process(mark(3, 105))
    assert of(events, OrderCancelled)[0].reason == "immediate_or_cancel"
