"""The expiry calendar on known dates: month ends, leap years, year ends, the 08:00 cut-off."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from optex.core import (
    daily_expiries,
    expiry_datetime,
    is_monthly,
    is_quarterly,
    last_friday,
    listed_expiries,
    monthly_expiries,
    quarterly_expiries,
    weekly_expiries,
)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2024, 2, date(2024, 2, 23)),  # leap year: the 29th is a Thursday
        (2028, 2, date(2028, 2, 25)),  # leap year: the 29th is a Tuesday
        (2027, 2, date(2027, 2, 26)),  # 28 days
        (2025, 10, date(2025, 10, 31)),  # the month ends on a Friday
        (2026, 12, date(2026, 12, 25)),
        (2027, 1, date(2027, 1, 29)),
        (2100, 2, date(2100, 2, 26)),  # 2100 is not a leap year
    ],
)
def test_last_friday_of_the_month(year: int, month: int, expected: date) -> None:
    assert last_friday(year, month) == expected
    assert expected.weekday() == 4


def test_expiries_are_at_eight_utc() -> None:
    assert expiry_datetime(date(2026, 12, 25)) == at(2026, 12, 25, 8)


def test_todays_expiry_is_listed_until_eight_and_not_at_eight() -> None:
    assert daily_expiries(at(2026, 11, 23, 7, 59), 1) == [date(2026, 11, 23)]
    assert daily_expiries(at(2026, 11, 23, 8, 0), 1) == [date(2026, 11, 24)]


def test_dailies_cross_the_year_end() -> None:
    assert daily_expiries(at(2026, 12, 31, 9), 3) == [
        date(2027, 1, 1),
        date(2027, 1, 2),
        date(2027, 1, 3),
    ]


def test_dailies_cross_a_leap_day() -> None:
    assert daily_expiries(at(2028, 2, 28, 12), 2) == [date(2028, 2, 29), date(2028, 3, 1)]


def test_weeklies_are_fridays_and_a_friday_after_eight_moves_to_the_next() -> None:
    assert weekly_expiries(at(2026, 11, 23), 2) == [date(2026, 11, 27), date(2026, 12, 4)]
    assert weekly_expiries(at(2026, 11, 27, 7), 1) == [date(2026, 11, 27)]
    assert weekly_expiries(at(2026, 11, 27, 8), 1) == [date(2026, 12, 4)]


def test_monthlies_skip_a_month_whose_last_friday_has_passed() -> None:
    assert monthly_expiries(at(2026, 11, 28), 3) == [
        date(2026, 12, 25),
        date(2027, 1, 29),
        date(2027, 2, 26),
    ]
    assert monthly_expiries(at(2026, 11, 27, 7), 1) == [date(2026, 11, 27)]


def test_quarterlies_are_the_last_fridays_of_march_june_september_december() -> None:
    assert quarterly_expiries(at(2026, 11, 23), 5) == [
        date(2026, 12, 25),
        date(2027, 3, 26),
        date(2027, 6, 25),
        date(2027, 9, 24),
        date(2027, 12, 31),
    ]
    assert all(is_quarterly(d) for d in quarterly_expiries(at(2026, 1, 1), 8))


def test_quarterly_rolls_over_the_year_end_after_the_december_expiry() -> None:
    assert quarterly_expiries(at(2026, 12, 25, 8), 1) == [date(2027, 3, 26)]


def test_monthly_and_quarterly_predicates() -> None:
    assert is_monthly(date(2026, 11, 27))
    assert not is_monthly(date(2026, 11, 20))
    assert is_quarterly(date(2026, 12, 25))
    assert not is_quarterly(date(2026, 11, 27))


def test_listed_expiries_merge_cycles_without_duplicates() -> None:
    days = listed_expiries(at(2026, 11, 23, 10))
    assert days == sorted(set(days))
    assert days[0] == date(2026, 11, 24)
    assert date(2026, 11, 27) in days  # a daily, a weekly and a monthly at once
    assert days[-1] == date(2027, 9, 24)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        daily_expiries(datetime(2026, 11, 23), 1)
