"""What would be listed: strike ladders around spot and the instruments of a trading day.

Strikes cover a band of a few standard deviations of the underlying's move to expiry, on a
"nice" step (1, 2, 2.5 or 5 times a power of ten) so that a short-dated chain is dense near
the money and a long-dated one spans a wide range with fewer strikes, as exchanges list them.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from optex.core._calendar import (
    ExpirySchedule,
    expiry_datetime,
    listed_expiries,
    monthly_expiries,
    quarterly_expiries,
    weekly_expiries,
)
from optex.core._errors import CoreReason, InvalidInput
from optex.core._instruments import (
    DEFAULT_LISTING_RULES,
    Instrument,
    InstrumentKind,
    InstrumentName,
    ListingRules,
    OptionType,
    instrument_from_name,
)

_NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
_SECONDS_PER_YEAR = 365.0 * 24 * 3600


def nice_step(raw: float) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``raw``."""
    if not raw > 0 or not math.isfinite(raw):
        raise InvalidInput(CoreReason.INVALID_ARGUMENT, f"step {raw} must be positive")
    exponent = math.floor(math.log10(raw))
    scale = Decimal(1).scaleb(exponent)
    for mantissa in _NICE_STEPS:
        step = mantissa * scale
        if step >= Decimal(repr(raw)):
            return step.normalize()
    return (Decimal(10) * scale).normalize()  # pragma: no cover - 10 x scale always qualifies


def strike_ladder(
    spot: Decimal | int | str,
    *,
    years: float,
    vol: float = 0.6,
    width_sd: float = 2.5,
    min_width: float = 0.05,
    strikes_per_side: int = 12,
) -> list[Decimal]:
    """Strikes around ``spot`` for an expiry ``years`` away.

    The band is ``spot * exp(±max(width_sd * vol * sqrt(years), min_width))``; the step is the
    nice number that puts about ``strikes_per_side`` strikes below the money, and at most twice
    as many are listed above it.
    """
    spot_d = Decimal(spot) if not isinstance(spot, Decimal) else spot
    if not spot_d.is_finite() or spot_d <= 0:
        raise InvalidInput(CoreReason.INVALID_ARGUMENT, f"spot {spot} must be positive")
    if not years > 0:
        raise InvalidInput(CoreReason.INVALID_ARGUMENT, f"years {years} must be positive")
    if strikes_per_side < 1:
        raise InvalidInput(CoreReason.INVALID_ARGUMENT, "strikes_per_side must be at least 1")
    half_width = max(width_sd * vol * math.sqrt(years), min_width)
    low = float(spot_d) * math.exp(-half_width)
    # The step comes from the downside, the narrower half of a log-symmetric band, so that
    # there are always strikes at and below the money even when the band is wide; the upside
    # is then cut at twice as many steps, as a geometric band would be too long on this grid.
    step = nice_step((float(spot_d) - low) / strikes_per_side)
    upside_cap = float(spot_d) + float(2 * strikes_per_side * step)
    high = min(float(spot_d) * math.exp(half_width), upside_cap)
    first = (Decimal(repr(low)) / step).to_integral_value(rounding=ROUND_CEILING)
    last = (Decimal(repr(high)) / step).to_integral_value(rounding=ROUND_FLOOR)
    return [_plain(i * step) for i in range(max(int(first), 1), int(last) + 1)]


def _plain(value: Decimal) -> Decimal:
    """``value`` without exponent notation: 95000, not 9.5E+4; 152.5, not 152.50."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def listed_instruments(
    underlying: str,
    spot: Decimal | int | str,
    now: datetime,
    *,
    schedule: ExpirySchedule | None = None,
    rules: ListingRules | None = None,
    vol: float = 0.6,
) -> list[Instrument]:
    """The perpetual, futures and option chains that would be listed at ``now``.

    Futures are listed on the weekly, monthly and quarterly cycles; options on every listed
    expiry, with a strike ladder for that expiry's time to maturity.
    """
    rules = rules or DEFAULT_LISTING_RULES.get(underlying)
    if rules is None:
        raise InvalidInput(
            CoreReason.UNKNOWN_INSTRUMENT, f"no listing rules for underlying {underlying!r}"
        )
    schedule = schedule or ExpirySchedule()
    now = now.astimezone(UTC)
    listed = [instrument_from_name(f"{underlying}-PERPETUAL", rules)]
    future_days: set[date] = {
        *weekly_expiries(now, schedule.weekly),
        *monthly_expiries(now, schedule.monthly),
        *quarterly_expiries(now, schedule.quarterly),
    }
    for day in sorted(future_days):
        name = InstrumentName(underlying, InstrumentKind.FUTURE, day).format()
        listed.append(instrument_from_name(name, rules))
    for day in listed_expiries(now, schedule):
        years = (expiry_datetime(day) - now).total_seconds() / _SECONDS_PER_YEAR
        for strike in strike_ladder(spot, years=years, vol=vol):
            for option_type in (OptionType.CALL, OptionType.PUT):
                name = InstrumentName(
                    underlying, InstrumentKind.OPTION, day, strike, option_type
                ).format()
                listed.append(instrument_from_name(name, rules))
    return listed
