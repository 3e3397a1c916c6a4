"""Reason codes are stable, unique, inside their subsystem's range and explained."""

from __future__ import annotations

import pytest

import optex.core
from optex.core import (
    CoreReason,
    InvalidInput,
    ReasonCode,
    register_reasons,
    registered_reason_tables,
)


def test_every_registered_code_is_unique_and_has_a_message() -> None:
    seen: dict[int, str] = {}
    for name, (codes, table) in registered_reason_tables().items():
        for member in table:
            assert int(member) in codes
            assert member.message.strip()
            assert int(member) not in seen, f"{name}.{member.name} repeats {seen[int(member)]}"
            seen[int(member)] = f"{name}.{member.name}"
    assert int(CoreReason.INVALID_AMOUNT) in seen


def test_a_table_whose_range_overlaps_another_is_refused() -> None:
    class Clash(ReasonCode):
        SOMETHING = 1500, "clashes with core"

    with pytest.raises(ValueError, match="overlaps"):
        register_reasons(Clash, range(1500, 1600))


def test_a_code_outside_its_declared_range_is_refused() -> None:
    class Stray(ReasonCode):
        STRAY = 99_999, "outside"

    with pytest.raises(ValueError, match="outside"):
        register_reasons(Stray, range(90_000, 90_010))


def test_an_error_carries_code_reason_message_and_details() -> None:
    error = InvalidInput(CoreReason.TOO_MANY_DECIMALS, "1.0000001 USDC", decimals=6)
    assert error.code == 1002
    assert error.reason == "too_many_decimals"
    assert error.message == "1.0000001 USDC"
    assert error.details == {"decimals": 6}
    assert "1002" in str(error)
    assert isinstance(error, optex.core.OptexError)


def test_an_error_without_a_message_uses_the_codes_message() -> None:
    assert InvalidInput(CoreReason.UNKNOWN_ASSET).message == CoreReason.UNKNOWN_ASSET.message
