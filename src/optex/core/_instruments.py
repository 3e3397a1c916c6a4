"""Instruments and their names.

optex lists USDC-margined, linear European options, dated futures and perpetuals. Names follow
the form traders know from Deribit, and parse and format round-trip exactly:

    BTC-27DEC26-100000-C    option: underlying, expiry day, strike, C or P
    ETH-29JAN27-3500-P
    SOL-3JAN27-152d5-C      a fractional strike writes ``d`` for the decimal point
    BTC-27DEC26             dated future
    BTC-PERPETUAL           perpetual

Only the canonical spelling is accepted (no leading zeros in the day or strike, upper case), so
that one instrument has exactly one name.

Prices are integers of ticks and sizes integers of lots. ``tick_size`` is in base units of the
settlement asset per whole unit of the underlying; ``lot_size`` is in base units of the
underlying. ``tick_value`` (settlement base units that one tick moves on one lot) must be a whole
number, so that cash for a fill, ticks x lots x tick_value, is exact.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Final

import msgspec

from optex.core._amounts import Rounding, asset
from optex.core._calendar import expiry_ms
from optex.core._errors import CoreReason, InvalidInput

MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

_NAME = re.compile(
    r"(?P<underlying>[A-Z][A-Z0-9]{1,9})-"
    r"(?:(?P<perpetual>PERPETUAL)|(?P<day>[1-9][0-9]?)(?P<month>[A-Z]{3})(?P<year>[0-9]{2})"
    r"(?:-(?P<strike>[0-9]+(?:d[0-9]+)?)-(?P<type>[CP]))?)"
)
_STRIKE_TEXT = re.compile(r"(?:0|[1-9][0-9]*)(?:d[0-9]*[1-9])?")


class InstrumentKind(StrEnum):
    """What kind of contract an instrument is."""

    OPTION = "option"
    FUTURE = "future"
    PERPETUAL = "perpetual"


class OptionType(StrEnum):
    """Call or put."""

    CALL = "call"
    PUT = "put"


class InstrumentName(msgspec.Struct, frozen=True):
    """The parts of an instrument name; :meth:`format` gives the canonical name back."""

    underlying: str
    kind: InstrumentKind
    expiry: date | None = None
    strike: Decimal | None = None
    option_type: OptionType | None = None

    def format(self) -> str:
        """The canonical name."""
        if self.kind is InstrumentKind.PERPETUAL:
            return f"{self.underlying}-PERPETUAL"
        if self.expiry is None:
            raise InvalidInput(CoreReason.INVALID_EXPIRY, f"a {self.kind} needs an expiry")
        day = f"{self.expiry.day}{MONTHS[self.expiry.month - 1]}{self.expiry.year % 100:02d}"
        if self.kind is InstrumentKind.FUTURE:
            return f"{self.underlying}-{day}"
        if self.strike is None or self.option_type is None:
            raise InvalidInput(CoreReason.INVALID_STRIKE, "an option needs a strike and a type")
        letter = "C" if self.option_type is OptionType.CALL else "P"
        return f"{self.underlying}-{day}-{format_strike(self.strike)}-{letter}"


def format_strike(strike: Decimal) -> str:
    """A strike as it appears in a name: ``100000``, ``152d5``."""
    if not strike.is_finite() or strike <= 0:
        raise InvalidInput(CoreReason.INVALID_STRIKE, f"strike {strike} must be positive")
    text = format(strike.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}d{fraction}" if fraction else whole


def parse_instrument_name(name: str) -> InstrumentName:
    """Parse a canonical instrument name, or say exactly what is wrong with it."""
    if not isinstance(name, str):
        raise InvalidInput(CoreReason.INVALID_INSTRUMENT_NAME, "an instrument name is a string")
    if len(name) > 64:
        raise InvalidInput(CoreReason.INVALID_INSTRUMENT_NAME, "an instrument name is too long")
    if not name.isascii():
        raise InvalidInput(
            CoreReason.INVALID_INSTRUMENT_NAME,
            f"instrument name {name!r} has non-ASCII characters",
        )
    match = _NAME.fullmatch(name)
    if match is None:
        raise InvalidInput(CoreReason.INVALID_INSTRUMENT_NAME, _explain_bad_name(name), name=name)
    underlying = match["underlying"]
    if match["perpetual"]:
        return InstrumentName(underlying, InstrumentKind.PERPETUAL)
    month_text = match["month"]
    if month_text not in MONTHS:
        raise InvalidInput(
            CoreReason.INVALID_INSTRUMENT_NAME,
            f"{month_text!r} in {name!r} is not a month; write one of {', '.join(MONTHS)}",
        )
    try:
        expiry = date(2000 + int(match["year"]), MONTHS.index(month_text) + 1, int(match["day"]))
    except ValueError:
        raise InvalidInput(
            CoreReason.INVALID_EXPIRY,
            f"{match['day']}{month_text}{match['year']} in {name!r} is not a calendar date",
        ) from None
    if match["strike"] is None:
        return InstrumentName(underlying, InstrumentKind.FUTURE, expiry)
    strike_text = match["strike"]
    if not _STRIKE_TEXT.fullmatch(strike_text) or strike_text == "0":
        raise InvalidInput(
            CoreReason.INVALID_STRIKE,
            f"strike {strike_text!r} in {name!r} is not canonical: a positive number with no "
            "leading or trailing zeros, 'd' for the decimal point",
        )
    strike = Decimal(strike_text.replace("d", "."))
    option_type = OptionType.CALL if match["type"] == "C" else OptionType.PUT
    return InstrumentName(underlying, InstrumentKind.OPTION, expiry, strike, option_type)


def _explain_bad_name(name: str) -> str:
    parts = name.split("-")
    hint = (
        "expected UNDERLYING-PERPETUAL, UNDERLYING-DMMMYY (future) or "
        "UNDERLYING-DMMMYY-STRIKE-C|P (option), e.g. BTC-27DEC26-100000-C"
    )
    if name != name.upper():
        return f"instrument name {name!r} must be upper case; {hint}"
    if len(parts) >= 2 and parts[1][:1] == "0":
        return f"the day in {name!r} has a leading zero; write e.g. 3JAN27; {hint}"
    if len(parts) == 4 and parts[3] not in ("C", "P"):
        return f"option type {parts[3]!r} in {name!r} must be C or P; {hint}"
    if len(parts) not in (2, 4):
        return f"instrument name {name!r} has {len(parts)} parts; {hint}"
    return f"instrument name {name!r} is not valid; {hint}"


class Instrument(msgspec.Struct, frozen=True):
    """A listed contract with its trading grid, in integers.

    ``strike`` is in base units of the settlement asset; ``expiry_ms`` is milliseconds since the
    Unix epoch (``None`` for perpetuals).
    """

    name: str
    kind: InstrumentKind
    underlying: str
    settlement: str
    tick_size: int
    lot_size: int
    min_lots: int
    max_lots: int
    expiry_ms: int | None = None
    strike: int | None = None
    option_type: OptionType | None = None

    def __post_init__(self) -> None:
        for field in ("tick_size", "lot_size", "min_lots", "max_lots"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInput(CoreReason.INVALID_ARGUMENT, f"{field} must be a positive int")
        if self.min_lots > self.max_lots:
            raise InvalidInput(CoreReason.INVALID_ARGUMENT, "min_lots is above max_lots")
        scale = asset(self.underlying).scale
        if (self.tick_size * self.lot_size) % scale:
            raise InvalidInput(
                CoreReason.INVALID_ARGUMENT,
                f"{self.name}: one tick on one lot is not a whole number of {self.settlement} "
                "base units; choose tick and lot sizes whose product is",
            )
        asset(self.settlement)

    @property
    def tick_value(self) -> int:
        """Settlement base units that one tick moves on one lot."""
        return self.tick_size * self.lot_size // asset(self.underlying).scale

    @property
    def is_option(self) -> bool:
        """Whether this is an option."""
        return self.kind is InstrumentKind.OPTION

    def is_expired(self, now_ms: int) -> bool:
        """Whether trading has ended at ``now_ms`` (perpetuals never expire)."""
        return self.expiry_ms is not None and now_ms >= self.expiry_ms

    def price_to_ticks(self, price: Decimal | str, rounding: Rounding = Rounding.EXACT) -> int:
        """A decimal price per whole underlying, as a number of ticks."""
        units = asset(self.settlement).to_units(price, rounding)
        ticks, rest = divmod(units, self.tick_size)
        if rest:
            if rounding is Rounding.EXACT:
                raise InvalidInput(
                    CoreReason.INVALID_ARGUMENT,
                    f"price {price} is not a multiple of the tick "
                    f"{asset(self.settlement).format(self.tick_size)}",
                )
            ticks += 1 if rounding is Rounding.CEILING else 0
        return ticks

    def ticks_to_price(self, ticks: int) -> Decimal:
        """The decimal price of ``ticks``."""
        return asset(self.settlement).to_decimal(ticks * self.tick_size)

    def lots_to_quantity(self, lots: int) -> Decimal:
        """The decimal quantity of the underlying in ``lots``."""
        return asset(self.underlying).to_decimal(lots * self.lot_size)

    def quantity_to_lots(self, quantity: Decimal | str) -> int:
        """A decimal quantity of the underlying as a whole number of lots, exactly."""
        units = asset(self.underlying).to_units(quantity)
        lots, rest = divmod(units, self.lot_size)
        if rest:
            raise InvalidInput(
                CoreReason.INVALID_ARGUMENT,
                f"quantity {quantity} is not a multiple of the lot "
                f"{asset(self.underlying).format(self.lot_size)}",
            )
        return lots


class ListingRules(msgspec.Struct, frozen=True):
    """The trading grid for one underlying's instruments, in integers (see :class:`Instrument`)."""

    option_tick: int
    option_lot: int
    future_tick: int
    future_lot: int
    option_min_lots: int = 1
    option_max_lots: int = 100_000
    future_min_lots: int = 1
    future_max_lots: int = 10_000_000
    settlement: str = "USDC"


DEFAULT_LISTING_RULES: Final[dict[str, ListingRules]] = {
    # BTC options: 5 USDC tick, 0.01 BTC lot; futures: 0.5 USDC tick, 0.0001 BTC lot.
    "BTC": ListingRules(
        option_tick=5_000_000, option_lot=1_000_000, future_tick=500_000, future_lot=10_000
    ),
    # ETH options: 0.5 USDC tick, 0.1 ETH lot; futures: 0.05 USDC tick, 0.001 ETH lot.
    "ETH": ListingRules(
        option_tick=500_000, option_lot=10_000_000, future_tick=50_000, future_lot=100_000
    ),
    # SOL options: 0.01 USDC tick, 1 SOL lot; futures: 0.001 USDC tick, 0.1 SOL lot.
    "SOL": ListingRules(
        option_tick=10_000, option_lot=1_000_000_000, future_tick=1_000, future_lot=100_000_000
    ),
}


def instrument_from_name(name: str, rules: ListingRules | None = None) -> Instrument:
    """The instrument a name denotes, on ``rules`` or the underlying's default grid."""
    parsed = parse_instrument_name(name)
    if rules is None:
        try:
            rules = DEFAULT_LISTING_RULES[parsed.underlying]
        except KeyError:
            raise InvalidInput(
                CoreReason.UNKNOWN_INSTRUMENT,
                f"no listing rules for underlying {parsed.underlying!r} in {name!r}",
            ) from None
    expiry = expiry_ms(parsed.expiry) if parsed.expiry else None
    if parsed.kind is InstrumentKind.OPTION:
        assert parsed.strike is not None  # noqa: S101 - guaranteed by the parser
        strike_units = asset(rules.settlement).to_units(parsed.strike)
        return Instrument(
            name=name,
            kind=parsed.kind,
            underlying=parsed.underlying,
            settlement=rules.settlement,
            tick_size=rules.option_tick,
            lot_size=rules.option_lot,
            min_lots=rules.option_min_lots,
            max_lots=rules.option_max_lots,
            expiry_ms=expiry,
            strike=strike_units,
            option_type=parsed.option_type,
        )
    return Instrument(
        name=name,
        kind=parsed.kind,
        underlying=parsed.underlying,
        settlement=rules.settlement,
        tick_size=rules.future_tick,
        lot_size=rules.future_lot,
        min_lots=rules.future_min_lots,
        max_lots=rules.future_max_lots,
        expiry_ms=expiry,
    )
