"""The expiry calendar: daily, weekly, monthly and quarterly expiries at 08:00 UTC.

Crypto derivatives expire at 08:00 UTC, as on Deribit. Weeklies fall on Fridays, monthlies on
the last Friday of the month and quarterlies on the last Friday of March, June, September and
December. An expiry is listed only while it is still in the future: at 08:00 exactly it has
expired.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

import msgspec

EXPIRY_TIME_UTC: Final = time(8, 0, tzinfo=UTC)
FRIDAY: Final = 4
QUARTER_MONTHS: Final = (3, 6, 9, 12)


def expiry_datetime(day: date) -> datetime:
    """The moment an instrument expiring on ``day`` expires: 08:00 UTC that day."""
    return datetime.combine(day, EXPIRY_TIME_UTC)


def expiry_ms(day: date) -> int:
    """The expiry moment of ``day`` in milliseconds since the Unix epoch."""
    return int(expiry_datetime(day).timestamp()) * 1000


def last_friday(year: int, month: int) -> date:
    """The last Friday of a month."""
    last_day = date(year, month, calendar.monthrange(year, month)[1])
    return last_day - timedelta(days=(last_day.weekday() - FRIDAY) % 7)


def is_monthly(day: date) -> bool:
    """Whether ``day`` is a monthly expiry (the last Friday of its month)."""
    return day == last_friday(day.year, day.month)


def is_quarterly(day: date) -> bool:
    """Whether ``day`` is a quarterly expiry (the last Friday of Mar, Jun, Sep or Dec)."""
    return day.month in QUARTER_MONTHS and is_monthly(day)


def _first_open_day(now: datetime) -> date:
    """The first day whose 08:00 UTC expiry is still after ``now``."""
    _require_aware(now)
    now = now.astimezone(UTC)
    today = now.date()
    return today if now < expiry_datetime(today) else today + timedelta(days=1)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("the calendar needs a timezone-aware datetime (use UTC)")


def daily_expiries(now: datetime, count: int) -> list[date]:
    """The next ``count`` daily expiries after ``now``."""
    first = _first_open_day(now)
    return [first + timedelta(days=i) for i in range(count)]


def weekly_expiries(now: datetime, count: int) -> list[date]:
    """The next ``count`` Friday expiries after ``now``."""
    first = _first_open_day(now)
    friday = first + timedelta(days=(FRIDAY - first.weekday()) % 7)
    return [friday + timedelta(weeks=i) for i in range(count)]


def monthly_expiries(now: datetime, count: int) -> list[date]:
    """The next ``count`` last-Friday-of-the-month expiries after ``now``."""
    return _month_end_expiries(now, count, months=range(1, 13))


def quarterly_expiries(now: datetime, count: int) -> list[date]:
    """The next ``count`` quarterly expiries after ``now``."""
    return _month_end_expiries(now, count, months=QUARTER_MONTHS)


def _month_end_expiries(now: datetime, count: int, months: range | tuple[int, ...]) -> list[date]:
    first = _first_open_day(now)
    found: list[date] = []
    year, month = first.year, first.month
    while len(found) < count:
        if month in months:
            day = last_friday(year, month)
            if day >= first:
                found.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


class ExpirySchedule(msgspec.Struct, frozen=True):
    """How many expiries of each cycle are listed at once."""

    daily: int = 4
    weekly: int = 3
    monthly: int = 3
    quarterly: int = 4


def listed_expiries(now: datetime, schedule: ExpirySchedule | None = None) -> list[date]:
    """Every expiry listed at ``now`` under ``schedule``, sorted, each date once."""
    schedule = schedule or ExpirySchedule()
    days = {
        *daily_expiries(now, schedule.daily),
        *weekly_expiries(now, schedule.weekly),
        *monthly_expiries(now, schedule.monthly),
        *quarterly_expiries(now, schedule.quarterly),
    }
    return sorted(days)
