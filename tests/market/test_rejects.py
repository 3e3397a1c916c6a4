"""Every reject reason: a clear code and message, and nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from optex.core import InvalidInput, registered_reason_tables
from optex.market import (
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    MarketReason,
    MassQuote,
    MatchingEngine,
    OrderRejected,
    OrderType,
    PostOnly,
    Quote,
    SetMmpConfig,
    SetPosition,
    TimeInForce,
    UpdatePrice,
)
from tests.market.kit import CALL, LOT, NAME, PERP, TICK, accepted_id, buy, engine, sell

T = 100  # every case's rejected command runs at the time of its last setup command


def with_resting() -> tuple[MatchingEngine, int]:
    e = engine()
    order_id = accepted_id(e.process(buy(T, "a", 2, 99, client_order_id="c1")))
    return e, order_id


def with_mmp(frozen: bool = False) -> MatchingEngine:
    e = engine()
    e.process(SetMmpConfig(T, "mm", "g", 1_000, 0, LOT, 10**6))
    if frozen:
        e.process(MassQuote(T, "mm", "g", (Quote(NAME, 99 * TICK, LOT, None, 0),)))
        e.process(sell(T, "t", 1, 99))
    return e


def case_unknown_instrument() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, 99, instrument="ETH-PERPETUAL")


def case_instrument_expired() -> tuple[MatchingEngine, Any]:
    assert CALL.expiry_ms is not None
    return engine(CALL), buy(CALL.expiry_ms, "a", 1, 9, instrument=CALL.name)


def case_not_an_integer() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, 99).__replace__(quantity=1.5)  # type: ignore[attr-defined]


def case_not_positive() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 0, 99)


def case_price_off_tick() -> tuple[MatchingEngine, Any]:
    return engine(), msgspec.structs.replace(buy(T, "a", 1, 99), price=99 * TICK + 1)


def case_quantity_off_lot() -> tuple[MatchingEngine, Any]:
    return engine(), msgspec.structs.replace(buy(T, "a", 1, 99), quantity=LOT + 1)


def case_below_min_size() -> tuple[MatchingEngine, Any]:
    return MatchingEngine([msgspec.structs.replace(PERP, min_lots=2)]), buy(T, "a", 1, 99)


def case_above_max_size() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", PERP.max_lots + 1, 99)


def case_price_outside_band() -> tuple[MatchingEngine, Any]:
    e = MatchingEngine()
    e.add_instrument(PERP, band_bps=500)  # 5%
    e.process(UpdatePrice(T, NAME, "mark", 100 * TICK))
    return e, buy(T, "a", 1, 106)


def case_price_required() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, None)


def case_trigger_price_required() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, 99, order_type=OrderType.STOP_LIMIT)


def case_trigger_already_reached() -> tuple[MatchingEngine, Any]:
    e = engine()
    e.process(UpdatePrice(T, NAME, "mark", 100 * TICK))
    return e, buy(T, "a", 1, 99, order_type=OrderType.STOP_LIMIT, trigger_price=99 * TICK)


def case_expiry_time_required() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, 99, tif=TimeInForce.GTD)


def case_expiry_time_passed() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, 99, tif=TimeInForce.GTD, expire_ts_ms=T)


def case_invalid_display_quantity() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, 99, display_quantity=2 * LOT)


def case_invalid_combination() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "a", 1, 99, tif=TimeInForce.IOC, post_only=PostOnly.REJECT)


def case_invalid_field() -> tuple[MatchingEngine, Any]:
    return engine(), msgspec.structs.replace(buy(T, "a", 1, 99), side="bye")


def case_stale_timestamp() -> tuple[MatchingEngine, Any]:
    e, _ = with_resting()
    return e, buy(T - 1, "a", 1, 98)


def case_duplicate_client_order_id() -> tuple[MatchingEngine, Any]:
    e, _ = with_resting()
    return e, buy(T, "a", 1, 98, client_order_id="c1")


def case_unknown_order() -> tuple[MatchingEngine, Any]:
    e, order_id = with_resting()
    return e, CancelOrder(T, "a", order_id=order_id + 1)


def case_nothing_to_amend() -> tuple[MatchingEngine, Any]:
    e, order_id = with_resting()
    return e, AmendOrder(T, "a", order_id=order_id, price=99 * TICK)


def case_amend_below_filled() -> tuple[MatchingEngine, Any]:
    e, order_id = with_resting()
    e.process(sell(T, "b", 1, 99))
    return e, AmendOrder(T, "a", order_id=order_id, quantity=LOT)


def case_post_only_would_cross() -> tuple[MatchingEngine, Any]:
    e, _ = with_resting()
    return e, sell(T, "b", 1, 99, post_only=PostOnly.REJECT)


def case_reduce_only_would_increase() -> tuple[MatchingEngine, Any]:
    e = engine()
    e.process(SetPosition(T, "a", NAME, LOT))
    return e, buy(T, "a", 1, 99, reduce_only=True)


def case_mmp_frozen() -> tuple[MatchingEngine, Any]:
    return with_mmp(frozen=True), buy(T, "mm", 1, 90, mmp_group="g")


def case_mmp_group_unknown() -> tuple[MatchingEngine, Any]:
    return engine(), buy(T, "mm", 1, 90, mmp_group="g")


def case_invalid_mass_quote() -> tuple[MatchingEngine, Any]:
    quotes = (Quote(NAME, 99 * TICK, LOT, 98 * TICK, LOT),)
    return with_mmp(), MassQuote(T, "mm", "g", quotes)


def case_duplicate_instrument() -> tuple[MatchingEngine, Any]:
    from optex.market import AddInstrument

    return engine(), AddInstrument(T, PERP)


def case_invalid_mmp_config() -> tuple[MatchingEngine, Any]:
    return engine(), SetMmpConfig(T, "mm", "g", 1_000, -1, LOT, 1)


CASES: dict[MarketReason, Callable[[], tuple[MatchingEngine, Any]]] = {
    reason: globals()[f"case_{reason.name.lower()}"] for reason in MarketReason
}


def test_every_market_reason_has_a_case_and_a_message_in_its_own_range() -> None:
    assert set(CASES) == set(MarketReason)
    for reason in MarketReason:
        assert 2000 <= reason < 3000 and len(reason.message) > 10
    assert registered_reason_tables()["MarketReason"][1] is MarketReason


@pytest.mark.parametrize("reason", list(MarketReason), ids=lambda r: r.reason)
def test_each_reject_reason_is_reported_and_changes_nothing(reason: MarketReason) -> None:
    e, command = CASES[reason]()
    if command.ts_ms > e.now_ms:
        # Time passing is not a change the command makes: let it pass first.
        e.process(AdvanceTime(command.ts_ms))
    before = e.state_hash()
    try:
        events = e.process(command)
    except InvalidInput as error:
        assert error.code is reason
        assert error.message
    else:
        assert len(events) == 1, events
        (event,) = events
        assert isinstance(event, OrderRejected)
        assert (event.code, event.reason) == (int(reason), reason.reason)
        assert event.message
    assert e.state_hash() == before
