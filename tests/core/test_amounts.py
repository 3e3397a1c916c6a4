"""Amounts convert exactly, round only in the direction asked, and never overflow silently."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import (
    BTC,
    INT128_MAX,
    INT128_MIN,
    USDC,
    Amount,
    CoreReason,
    InvalidInput,
    NotFound,
    Rounding,
    asset,
    check_non_negative,
)


def test_assets_have_their_ledger_precision() -> None:
    assert (USDC.decimals, BTC.decimals, asset("ETH").decimals) == (6, 8, 8)


@pytest.mark.parametrize(
    ("text", "units"),
    [("1", 100_000_000), ("0.00000001", 1), ("-2.5", -250_000_000), ("+0.1", 10_000_000)],
)
def test_decimal_text_converts_to_exact_base_units(text: str, units: int) -> None:
    assert BTC.to_units(text) == units


def test_too_many_decimals_is_refused_unless_a_direction_is_named() -> None:
    with pytest.raises(InvalidInput) as info:
        USDC.to_units("1.0000001")
    assert info.value.code is CoreReason.TOO_MANY_DECIMALS
    assert USDC.to_units("1.0000001", Rounding.FLOOR) == 1_000_000
    assert USDC.to_units("1.0000001", Rounding.CEILING) == 1_000_001


def test_rounding_is_towards_the_named_infinity_for_negative_values_too() -> None:
    # A debit of -1.0000001 rounded against the user (CEILING for margin) is -1.000000.
    assert USDC.to_units("-1.0000001", Rounding.FLOOR) == -1_000_001
    assert USDC.to_units("-1.0000001", Rounding.CEILING) == -1_000_000


def test_trailing_zeros_beyond_the_precision_are_exact() -> None:
    assert USDC.to_units("1.50000000000") == 1_500_000


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1",
        "1 ",
        "1e5",
        "1E-2",
        "NaN",
        "inf",
        "-",
        ".",
        "1.",
        "1,000",
        "0x10",
        "１",
        "1..2",
        "--1",
    ],
)
def test_anything_but_a_plain_decimal_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        USDC.to_units(text)
    assert info.value.code is CoreReason.INVALID_AMOUNT


def test_non_finite_decimals_and_booleans_are_refused() -> None:
    for value in (Decimal("NaN"), Decimal("Infinity"), True):
        with pytest.raises(InvalidInput):
            USDC.to_units(value)


def test_values_beyond_a_128_bit_field_are_refused() -> None:
    biggest = USDC.to_decimal(INT128_MAX)
    assert USDC.to_units(biggest) == INT128_MAX
    with pytest.raises(InvalidInput) as info:
        USDC.to_units(Decimal(f"{INT128_MAX + 1}e-6"))
    assert info.value.code is CoreReason.AMOUNT_OUT_OF_RANGE
    with pytest.raises(InvalidInput):
        USDC.to_units("9" * 200)
    with pytest.raises(InvalidInput):
        USDC.to_units(Decimal("1E+500"))
    assert USDC.to_units(Decimal("1E-500"), Rounding.CEILING) == 1


def test_arithmetic_that_would_overflow_is_refused() -> None:
    top = Amount(USDC, INT128_MAX)
    with pytest.raises(InvalidInput) as info:
        top + Amount(USDC, 1)
    assert info.value.code is CoreReason.AMOUNT_OUT_OF_RANGE
    with pytest.raises(InvalidInput):
        -Amount(USDC, INT128_MIN)
    with pytest.raises(InvalidInput):
        Amount(USDC, INT128_MIN) - Amount(USDC, 1)


def test_amounts_in_different_assets_do_not_mix() -> None:
    with pytest.raises(InvalidInput) as info:
        Amount.parse(BTC, "1") + Amount.parse(USDC, "1")
    assert info.value.code is CoreReason.ASSET_MISMATCH


def test_a_balance_that_must_not_go_negative_says_so() -> None:
    with pytest.raises(InvalidInput) as info:
        (Amount.parse(USDC, "1") - Amount.parse(USDC, "2")).non_negative("balance")
    assert info.value.code is CoreReason.NEGATIVE_AMOUNT
    assert "balance" in info.value.message
    assert check_non_negative(0) == 0


def test_amounts_format_with_the_assets_decimals() -> None:
    assert str(Amount.parse(BTC, "0.1") + Amount.parse(BTC, "0.2")) == "0.30000000 BTC"
    assert USDC.format(-1) == "-0.000001"


def test_unknown_asset_is_a_clear_error() -> None:
    with pytest.raises(NotFound, match="unknown asset 'DOGE'"):
        asset("DOGE")


def test_non_integer_units_are_refused() -> None:
    with pytest.raises(InvalidInput):
        Amount(USDC, 1.5)  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=INT128_MIN, max_value=INT128_MAX))
def test_units_round_trip_through_decimal_and_text(units: int) -> None:
    assert BTC.to_units(BTC.to_decimal(units)) == units
    assert BTC.to_units(BTC.format(units)) == units


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=-(10**20), max_value=10**20, allow_nan=False, allow_infinity=False))
def test_floor_and_ceiling_bracket_the_value_within_one_unit(value: Decimal) -> None:
    low = USDC.to_units(value, Rounding.FLOOR)
    high = USDC.to_units(value, Rounding.CEILING)
    assert USDC.to_decimal(low) <= value <= USDC.to_decimal(high)
    assert high - low in (0, 1)
