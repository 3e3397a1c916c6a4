"""Fields of the wrong type in commands built in Python are refused with a clear reason, and
change nothing.

msgspec checks types only when it decodes, so a command constructed in Python can carry a float
in an ``int`` field, ``True`` for a number, or a number for an account. The engine used to store
some of these (an account of ``1``), and its events and state hash then failed to encode. These
tests pin the outcome of each kind of bad value (found while compiling the engine with mypyc, an
experiment that is not shipped).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from optex.core import InvalidInput
from optex.market import (
    AddInstrument,
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    MarketReason,
    MassQuote,
    MatchingEngine,
    OrderRejected,
    Quote,
    SetMmpConfig,
    SetPosition,
    SetSelfTradePrevention,
    StpMode,
    UpdatePrice,
)
from optex.market import PriceSource as Src
from tests.market.kit import LOT, NAME, PERP, TICK, accepted_id, buy, engine

T = 100
NOT_INTS = (True, False, 1.5, 2.0, "7", b"7", [], 2**70 + 0.5)
NOT_STRS = (1, 1.5, None, b"a", ("a",), True)


def resting() -> tuple[MatchingEngine, int]:
    e = engine()
    e.process(SetMmpConfig(T, "mm", "g", 1_000, 0, 10 * LOT, 10))
    return e, accepted_id(e.process(buy(T, "a", 2, 99, client_order_id="c1")))


def rejected(e: MatchingEngine, command: Any) -> OrderRejected:
    before = e.state_hash()
    events = e.process(command)
    assert len(events) == 1, events
    assert isinstance(events[0], OrderRejected)
    assert e.state_hash() == before
    return events[0]


def refused(e: MatchingEngine, command: Any) -> InvalidInput:
    before = e.state_hash()
    with pytest.raises(InvalidInput) as info:
        e.process(command)
    assert e.state_hash() == before
    return info.value


@pytest.mark.parametrize("value", NOT_INTS, ids=repr)
@pytest.mark.parametrize("field", ["quantity", "price", "display_quantity", "trigger_price"])
def test_a_new_order_with_a_non_integer_number_is_rejected(field: str, value: object) -> None:
    e, _ = resting()
    command = msgspec.structs.replace(buy(T, "b", 1, 98), **{field: value})
    assert rejected(e, command).code in {
        MarketReason.NOT_AN_INTEGER,
        MarketReason.INVALID_COMBINATION,  # a trigger price on a plain limit order
        MarketReason.INVALID_DISPLAY_QUANTITY,
    }


@pytest.mark.parametrize("value", NOT_INTS, ids=repr)
def test_a_command_time_that_is_not_an_integer_is_refused(value: object) -> None:
    e, order_id = resting()
    rejected(e, msgspec.structs.replace(buy(T, "b", 1, 98), ts_ms=value))
    rejected(e, AmendOrder(T, "a", order_id=order_id, price=97 * TICK).__replace__(ts_ms=value))
    refused(e, AdvanceTime(T).__replace__(ts_ms=value))


@pytest.mark.parametrize("value", NOT_INTS, ids=repr)
@pytest.mark.parametrize("field", ["price", "quantity"])
def test_an_amendment_with_a_non_integer_number_is_rejected(field: str, value: object) -> None:
    e, order_id = resting()
    command = AmendOrder(T, "a", order_id=order_id, **{field: value})
    assert rejected(e, command).code == MarketReason.NOT_AN_INTEGER


@pytest.mark.parametrize("value", NOT_INTS, ids=repr)
def test_admin_numbers_that_are_not_integers_are_refused(value: object) -> None:
    e, _ = resting()
    refused(e, UpdatePrice(T, NAME, Src.MARK, 100 * TICK).__replace__(price=value))
    refused(e, UpdatePrice(T, NAME, Src.MARK, 100 * TICK, delta_ppm=1).__replace__(delta_ppm=value))
    refused(e, SetPosition(T, "a", NAME, 0).__replace__(position=value))
    refused(e, SetMmpConfig(T, "mm", "g", 1_000, 0, LOT, 1).__replace__(frozen_ms=value))
    other = msgspec.structs.replace(PERP, name="ETH-PERPETUAL")
    refused(e, AddInstrument(T, other).__replace__(band_min=value))


@pytest.mark.parametrize("value", NOT_STRS, ids=repr)
@pytest.mark.parametrize("field", ["account", "instrument", "client_order_id", "mmp_group"])
def test_a_new_order_with_a_name_that_is_not_a_string_is_rejected(
    field: str, value: object
) -> None:
    if value is None and field in ("client_order_id", "mmp_group"):
        return  # optional: None is the default
    e, _ = resting()
    command = msgspec.structs.replace(buy(T, "b", 1, 98), **{field: value})
    assert rejected(e, command).code in {MarketReason.INVALID_FIELD, MarketReason.UNKNOWN_ORDER}


@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_reduce_only_must_be_a_bool(value: object) -> None:
    e, _ = resting()
    command = msgspec.structs.replace(buy(T, "b", 1, 98), reduce_only=value)
    assert rejected(e, command).code == MarketReason.INVALID_FIELD


@pytest.mark.parametrize("value", NOT_STRS, ids=repr)
def test_cancels_and_amendments_naming_no_open_order_are_rejected(value: object) -> None:
    if isinstance(value, bytes | tuple) or value is None:
        return  # hashable lookalikes only: an unhashable id is a programming error, as before
    e, order_id = resting()
    assert rejected(e, CancelOrder(T, "a", order_id=order_id).__replace__(account=value)).code == (
        MarketReason.UNKNOWN_ORDER
    )
    assert rejected(e, CancelOrder(T, "a", client_order_id=value)).code == (  # type: ignore[arg-type]
        MarketReason.UNKNOWN_ORDER
    )


@pytest.mark.parametrize("value", NOT_STRS, ids=repr)
def test_admin_names_that_are_not_strings_are_refused(value: object) -> None:
    e, _ = resting()
    assert refused(e, SetPosition(T, "a", NAME, LOT).__replace__(account=value)).code == (
        MarketReason.INVALID_FIELD
    )
    refused(e, SetSelfTradePrevention(T, "a", StpMode.ALLOW).__replace__(account=value))
    refused(e, SetMmpConfig(T, "mm", "g", 1_000, 0, LOT, 1).__replace__(mmp_group=value))


def test_a_withdrawn_quote_side_ignores_its_price_whatever_it_is() -> None:
    e, _ = resting()
    events = e.process(MassQuote(T, "mm", "g", (Quote(NAME, "junk", 0, 101 * TICK, LOT),)))  # type: ignore[arg-type]
    assert not any(isinstance(ev, OrderRejected) for ev in events)
    assert e.book(NAME).best_ask() == 101 * TICK
