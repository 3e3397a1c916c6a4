"""Strike ladders and the day's listing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import (
    InstrumentKind,
    InvalidInput,
    listed_instruments,
    nice_step,
    parse_instrument_name,
    strike_ladder,
)


@pytest.mark.parametrize(
    ("raw", "step"),
    [(0.7, "1"), (1.0, "1"), (1.5, "2"), (2.2, "2.5"), (3, "5"), (730, "1000"), (0.03, "0.05")],
)
def test_nice_step_rounds_up_to_one_two_two_and_a_half_or_five(raw: float, step: str) -> None:
    assert nice_step(raw) == Decimal(step)


def test_a_one_day_btc_ladder_is_dense_and_a_one_year_ladder_is_wide() -> None:
    daily = strike_ladder(95000, years=1 / 365)
    yearly = strike_ladder(95000, years=1.0)
    assert daily[1] - daily[0] == 1000
    assert yearly[1] - yearly[0] == 10000
    assert Decimal(95000) in daily
    assert min(yearly) < 50000 and max(yearly) > 300000


@settings(max_examples=200, deadline=None)
@given(
    spot=st.decimals(min_value=Decimal("0.5"), max_value=Decimal(10**7), places=2),
    years=st.floats(min_value=1 / 365 / 24, max_value=5.0),
)
def test_ladders_bracket_spot_on_an_even_grid(spot: Decimal, years: float) -> None:
    strikes = strike_ladder(spot, years=years)
    assert strikes == sorted(set(strikes))
    assert strikes[0] <= spot <= strikes[-1]
    steps = {b - a for a, b in itertools.pairwise(strikes)}
    assert len(steps) == 1
    assert all(s > 0 for s in strikes)
    assert len(strikes) <= 3 * 12 + 3


def test_a_non_positive_spot_or_time_is_refused() -> None:
    with pytest.raises(InvalidInput):
        strike_ladder(0, years=1.0)
    with pytest.raises(InvalidInput):
        strike_ladder(100, years=0.0)


def test_the_days_listing_has_a_perpetual_futures_and_both_sides_of_every_strike() -> None:
    listed = listed_instruments("BTC", 95000, datetime(2026, 11, 23, 10, tzinfo=UTC))
    names = [i.name for i in listed]
    assert len(names) == len(set(names))
    assert names[0] == "BTC-PERPETUAL"
    assert "BTC-25DEC26" in names
    assert "BTC-24NOV26-95000-C" in names and "BTC-24NOV26-95000-P" in names
    for instrument in listed:
        assert parse_instrument_name(instrument.name).format() == instrument.name
    calls = sum(1 for i in listed if i.kind is InstrumentKind.OPTION and i.name.endswith("-C"))
    puts = sum(1 for i in listed if i.kind is InstrumentKind.OPTION and i.name.endswith("-P"))
    assert calls == puts > 100


def test_an_underlying_without_listing_rules_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no listing rules"):
        listed_instruments("DOGE", 1, datetime(2026, 11, 23, tzinfo=UTC))
