"""Instrument names parse and format round-trip exactly, and bad names say what is wrong."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import (
    CoreReason,
    InstrumentKind,
    InstrumentName,
    InvalidInput,
    OptionType,
    expiry_ms,
    instrument_from_name,
    parse_instrument_name,
)

underlyings = st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True).filter(
    lambda u: u != "PERPETUAL"
)
expiries = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
strikes = st.one_of(
    st.integers(min_value=1, max_value=10**9).map(Decimal),
    st.decimals(
        min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4, allow_nan=False
    ).filter(lambda d: d > 0),
)


@settings(max_examples=300, deadline=None)
@given(underlying=underlyings, expiry=expiries, strike=strikes, put=st.booleans())
def test_option_names_round_trip(underlying: str, expiry: date, strike: Decimal, put: bool) -> None:
    option_type = OptionType.PUT if put else OptionType.CALL
    parsed = InstrumentName(underlying, InstrumentKind.OPTION, expiry, strike, option_type)
    name = parsed.format()
    again = parse_instrument_name(name)
    assert again.format() == name
    assert again.expiry == expiry
    assert again.strike == strike
    assert again.option_type is option_type


@settings(max_examples=200, deadline=None)
@given(underlying=underlyings, expiry=expiries)
def test_future_names_round_trip(underlying: str, expiry: date) -> None:
    name = InstrumentName(underlying, InstrumentKind.FUTURE, expiry).format()
    assert parse_instrument_name(name) == InstrumentName(underlying, InstrumentKind.FUTURE, expiry)


@settings(max_examples=100, deadline=None)
@given(underlying=underlyings)
def test_perpetual_names_round_trip(underlying: str) -> None:
    name = f"{underlying}-PERPETUAL"
    parsed = parse_instrument_name(name)
    assert parsed.kind is InstrumentKind.PERPETUAL
    assert parsed.format() == name


@pytest.mark.parametrize(
    ("name", "kind", "expiry", "strike", "option_type"),
    [
        ("BTC-27DEC26-100000-C", InstrumentKind.OPTION, date(2026, 12, 27), Decimal(100000), "C"),
        ("ETH-29JAN27-3500-P", InstrumentKind.OPTION, date(2027, 1, 29), Decimal(3500), "P"),
        ("SOL-3JAN27-152d5-C", InstrumentKind.OPTION, date(2027, 1, 3), Decimal("152.5"), "C"),
        ("BTC-27DEC26", InstrumentKind.FUTURE, date(2026, 12, 27), None, None),
        ("BTC-PERPETUAL", InstrumentKind.PERPETUAL, None, None, None),
    ],
)
def test_the_names_users_know_from_deribit_parse(
    name: str,
    kind: InstrumentKind,
    expiry: date | None,
    strike: Decimal | None,
    option_type: str | None,
) -> None:
    parsed = parse_instrument_name(name)
    assert parsed.kind is kind
    assert parsed.expiry == expiry
    assert parsed.strike == strike
    if option_type is not None:
        assert parsed.option_type is (OptionType.CALL if option_type == "C" else OptionType.PUT)
    assert parsed.format() == name


@pytest.mark.parametrize(
    ("name", "code", "says"),
    [
        ("btc-perpetual", CoreReason.INVALID_INSTRUMENT_NAME, "upper case"),
        ("BTC-03JAN27", CoreReason.INVALID_INSTRUMENT_NAME, "leading zero"),
        ("BTC-31FEB27", CoreReason.INVALID_EXPIRY, "not a calendar date"),
        ("BTC-27XYZ26", CoreReason.INVALID_INSTRUMENT_NAME, "not a month"),
        ("BTC-27DEC26-100000-X", CoreReason.INVALID_INSTRUMENT_NAME, "must be C or P"),
        ("BTC-27DEC26-0100-C", CoreReason.INVALID_STRIKE, "not canonical"),
        ("BTC-27DEC26-100d50-C", CoreReason.INVALID_STRIKE, "not canonical"),
        ("BTC-27DEC26-0-C", CoreReason.INVALID_STRIKE, "not canonical"),
        ("BTC-27DEC26-100000", CoreReason.INVALID_INSTRUMENT_NAME, "3 parts"),
        ("BTC", CoreReason.INVALID_INSTRUMENT_NAME, "expected"),
        ("", CoreReason.INVALID_INSTRUMENT_NAME, "expected"),
        ("BTC-27DEC26-100000-C ", CoreReason.INVALID_INSTRUMENT_NAME, "expected"),
        ("ВTC-PERPETUAL", CoreReason.INVALID_INSTRUMENT_NAME, "non-ASCII"),
        ("BTC-27DEC26-１00-C", CoreReason.INVALID_INSTRUMENT_NAME, "non-ASCII"),
        ("B" * 80, CoreReason.INVALID_INSTRUMENT_NAME, "too long"),
    ],
)
def test_a_bad_name_gets_an_error_that_says_what_is_wrong(
    name: str, code: CoreReason, says: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_instrument_name(name)
    assert info.value.code is code
    assert says in info.value.message


def test_an_option_from_its_name_carries_strike_expiry_and_the_default_grid() -> None:
    option = instrument_from_name("BTC-27DEC26-100000-C")
    assert option.kind is InstrumentKind.OPTION
    assert option.strike == 100_000 * 10**6
    assert option.expiry_ms == expiry_ms(date(2026, 12, 27))
    assert option.settlement == "USDC"
    # 5 USDC tick on a 0.01 BTC lot moves 0.05 USDC = 50_000 base units.
    assert option.tick_value == 50_000


def test_an_instrument_whose_tick_on_a_lot_is_not_whole_units_is_refused() -> None:
    from optex.core import Instrument

    with pytest.raises(InvalidInput, match="whole number"):
        Instrument(
            name="BTC-PERPETUAL",
            kind=InstrumentKind.PERPETUAL,
            underlying="BTC",
            settlement="USDC",
            tick_size=1,
            lot_size=1,
            min_lots=1,
            max_lots=10,
        )


def test_prices_and_quantities_convert_to_ticks_and_lots_exactly_or_fail() -> None:
    future = instrument_from_name("BTC-PERPETUAL")
    assert future.price_to_ticks("95000.5") == 190_001
    assert future.ticks_to_price(190_001) == Decimal("95000.5")
    with pytest.raises(InvalidInput, match="multiple of the tick"):
        future.price_to_ticks("95000.25")
    assert future.quantity_to_lots("0.0003") == 3
    with pytest.raises(InvalidInput, match="multiple of the lot"):
        future.quantity_to_lots("0.00015")


def test_an_instrument_expires_at_its_expiry_moment_exactly() -> None:
    future = instrument_from_name("BTC-27DEC26")
    assert future.expiry_ms is not None
    assert not future.is_expired(future.expiry_ms - 1)
    assert future.is_expired(future.expiry_ms)
    assert not instrument_from_name("BTC-PERPETUAL").is_expired(2**62)
