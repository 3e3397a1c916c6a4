"""The package's public surface: the pre-trade hook, the lifecycle table and the messages."""

from __future__ import annotations

import pytest

from optex import market
from optex.core import InvariantViolation, decode, encode
from optex.market import (
    AmendOrder,
    EngineView,
    Event,
    MarketReason,
    MatchingEngine,
    OrderAccepted,
    OrderRequest,
    OrderState,
    Rejection,
    Trigger,
    advance,
)
from tests.market.kit import LOT, NAME, PERP, TICK, accepted_id, buy, depth, engine, rejected, sell


class LimitPerAccount:
    """A pre-trade check that refuses any request above two lots, and records what it saw."""

    def __init__(self) -> None:
        self.seen: list[OrderRequest] = []

    def check(self, request: OrderRequest, view: EngineView) -> Rejection | None:
        self.seen.append(request)
        assert view.book(request.instrument).name == NAME
        if request.quantity > 2 * LOT:
            return Rejection(MarketReason.ABOVE_MAX_SIZE, "risk says no")
        return None


def test_the_pre_trade_check_runs_before_matching_and_can_reject() -> None:
    check = LimitPerAccount()
    e = MatchingEngine([PERP], pre_trade=check)
    e.process(sell(1, "a", 1, 100))
    events = e.process(buy(2, "b", 3, 100))
    assert rejected(events) == "above_max_size"
    assert events[0].message == "risk says no"
    assert depth(e) == ([], [(100, 1)])
    assert [r.quantity for r in check.seen] == [LOT, 3 * LOT]


def test_the_pre_trade_check_sees_amendments_that_add_exposure() -> None:
    check = LimitPerAccount()
    e = MatchingEngine([PERP], pre_trade=check)
    order_id = accepted_id(e.process(buy(1, "a", 1, 99)))
    events = e.process(AmendOrder(2, "a", order_id=order_id, quantity=3 * LOT))
    assert rejected(events) == "above_max_size"
    assert check.seen[-1].order_id == order_id
    assert depth(e) == ([(99, 1)], [])


def test_the_lifecycle_table_allows_fills_and_forbids_leaving_a_final_state() -> None:
    assert advance(OrderState.OPEN, Trigger.PARTIAL_FILL) is OrderState.PARTIALLY_FILLED
    assert advance(OrderState.UNTRIGGERED, Trigger.TRIGGER) is OrderState.OPEN
    with pytest.raises(InvariantViolation):
        advance(OrderState.FILLED, Trigger.CANCEL)
    with pytest.raises(InvariantViolation):
        advance(OrderState.OPEN, Trigger.TRIGGER)


def test_live_orders_report_their_state() -> None:
    e = engine()
    order_id = accepted_id(e.process(buy(1, "a", 2, 99)))
    order = e.order(order_id)
    assert order is not None and order.state is OrderState.OPEN
    e.process(sell(2, "b", 1, 99))
    assert order.state is OrderState.PARTIALLY_FILLED
    e.process(sell(3, "b", 1, 99))
    assert order.state is OrderState.FILLED and e.order(order_id) is None


def test_events_round_trip_through_the_canonical_encoding() -> None:
    e = engine()
    e.process(sell(1, "a", 1, 100))
    events = e.process(buy(2, "b", 2, 100))
    assert decode(encode(events), list[Event]) == events
    assert isinstance(events[0], OrderAccepted)
    assert b"OrderAccepted" in encode(events[0])


def test_messages_are_immutable() -> None:
    command = buy(1, "a", 1, 99)
    with pytest.raises(AttributeError):
        command.quantity = 5  # type: ignore[misc]


def test_the_book_reports_best_prices_and_limited_depth() -> None:
    e = engine()
    for i in range(5):
        e.process(buy(1, "a", 1, 90 + i))
        e.process(sell(1, "a", 1, 100 + i))
    book = e.book(NAME)
    assert book.best_bid() == 94 * TICK and book.best_ask() == 100 * TICK
    bids, asks = book.depth(2)
    assert bids == [(94 * TICK, LOT), (93 * TICK, LOT)]
    assert asks == [(100 * TICK, LOT), (101 * TICK, LOT)]


def test_the_public_names_are_exported() -> None:
    for name in (
        "MatchingEngine",
        "NewOrder",
        "CancelOrder",
        "AmendOrder",
        "MassCancel",
        "MassQuote",
        "OrderAccepted",
        "OrderRejected",
        "Fill",
        "OrderCancelled",
        "OrderAmended",
        "OrderExpired",
        "BookDelta",
        "MarketReason",
        "PreTradeCheck",
    ):
        assert name in market.__all__
    assert list(market.__all__) == sorted(market.__all__)
