"""Assets and integer amounts in base units.

A ledger holds balances as integers of an asset's smallest unit (10⁻⁶ USDC, 10⁻⁸ BTC). Decimal
text from users is converted exactly, or rounded in a direction the caller must name: margin is
rounded up and payouts down, against the user, never by accident. Every result is checked against
a signed 128-bit field, the widest the ledger stores, so arithmetic cannot wrap silently.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
)
from enum import Enum
from typing import Final

import msgspec

from optex.core._errors import CoreReason, InvalidInput, NotFound

INT128_MIN: Final = -(2**127)
INT128_MAX: Final = 2**127 - 1

# Decimal's default context keeps 28 digits and rounds silently; a 128-bit amount has 39.
# Every scaling here runs in this context, which has room for any ledger value and traps
# (raises) instead of rounding, so an inexact conversion can never pass unnoticed.
_EXACT = Context(prec=90, Emax=999, Emin=-999, traps=[InvalidOperation, Inexact, Overflow])


class Rounding(Enum):
    """How to turn a value with too many decimals into base units."""

    EXACT = "exact"
    """Refuse values that are not a whole number of base units."""
    FLOOR = "floor"
    """Towards minus infinity: for payouts and credits."""
    CEILING = "ceiling"
    """Towards plus infinity: for margin, fees and debits."""


def check_int128(value: int, what: str = "amount") -> int:
    """Return ``value`` if it fits a signed 128-bit ledger field, else raise."""
    if not INT128_MIN <= value <= INT128_MAX:
        raise InvalidInput(
            CoreReason.AMOUNT_OUT_OF_RANGE,
            f"{what} {value} does not fit a signed 128-bit ledger field",
            value=str(value),
        )
    return value


def check_non_negative(value: int, what: str = "amount") -> int:
    """Return ``value`` if it is zero or more, else raise."""
    if value < 0:
        raise InvalidInput(CoreReason.NEGATIVE_AMOUNT, f"{what} must not be negative, got {value}")
    return value


class Asset(msgspec.Struct, frozen=True):
    """A currency the ledger holds, with the number of decimals of its base unit."""

    symbol: str
    decimals: int

    @property
    def scale(self) -> int:
        """Base units in one whole unit, e.g. 100_000_000 for BTC."""
        return int(10**self.decimals)

    @property
    def unit(self) -> Decimal:
        """The value of one base unit, e.g. ``0.000001`` for USDC."""
        return Decimal(1).scaleb(-self.decimals)

    def to_units(self, value: Decimal | str | int, rounding: Rounding = Rounding.EXACT) -> int:
        """Convert a decimal value of this asset to base units, exactly or in a named direction.

        Strings must be plain decimals (``"1.5"``, ``"-0.25"``); exponents, NaN, infinity,
        blanks and thousands separators are refused rather than guessed at.
        """
        number = _parse_decimal(value, self)
        scaled = number.scaleb(self.decimals, context=_EXACT)
        if scaled != scaled.to_integral_value():
            if rounding is Rounding.EXACT:
                raise InvalidInput(
                    CoreReason.TOO_MANY_DECIMALS,
                    f"{value} {self.symbol} has more than {self.decimals} decimal places",
                    asset=self.symbol,
                    decimals=self.decimals,
                )
            mode = ROUND_FLOOR if rounding is Rounding.FLOOR else ROUND_CEILING
            scaled = scaled.to_integral_value(rounding=mode)
        return check_int128(int(scaled), f"{value} {self.symbol}")

    def to_decimal(self, units: int) -> Decimal:
        """The exact decimal value of ``units`` base units."""
        return Decimal(check_int128(units)).scaleb(-self.decimals, context=_EXACT)

    def format(self, units: int) -> str:
        """``units`` as a decimal string with exactly this asset's number of decimals."""
        text = f"{self.to_decimal(units):.{self.decimals}f}"
        return text


def _parse_decimal(value: Decimal | str | int, asset: Asset) -> Decimal:
    if isinstance(value, bool):
        raise InvalidInput(CoreReason.INVALID_AMOUNT, "a boolean is not an amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if not text or text != value or not _is_plain_decimal(text):
            raise InvalidInput(
                CoreReason.INVALID_AMOUNT,
                f"{value!r} is not a plain decimal number of {asset.symbol}",
            )
        # A 200-digit string is someone probing, not a balance: cap before Decimal does work.
        if len(text) > 80:
            raise InvalidInput(CoreReason.AMOUNT_OUT_OF_RANGE, f"{text[:20]}... is too long")
        return Decimal(text)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInput(CoreReason.INVALID_AMOUNT, f"{value} is not a finite amount")
        if value.adjusted() > 60:
            raise InvalidInput(CoreReason.AMOUNT_OUT_OF_RANGE, f"{value} is too large")
        return value
    raise InvalidInput(CoreReason.INVALID_AMOUNT, f"{type(value).__name__} is not an amount")


def _is_plain_decimal(text: str) -> bool:
    body = text[1:] if text[0] in "+-" else text
    whole, dot, fraction = body.partition(".")
    if not (whole or fraction):
        return False
    return (
        (whole == "" or (whole.isascii() and whole.isdigit()))
        and (fraction == "" or (fraction.isascii() and fraction.isdigit()))
        and (bool(fraction) or not dot)
    )


class Amount(msgspec.Struct, frozen=True, order=True):
    """An integer number of base units of one asset, always within a signed 128-bit field.

    Arithmetic between different assets is refused; results are range-checked.
    """

    asset: Asset
    units: int

    def __post_init__(self) -> None:
        if isinstance(self.units, bool) or not isinstance(self.units, int):
            raise InvalidInput(CoreReason.INVALID_AMOUNT, "units must be an integer")
        check_int128(self.units)

    @classmethod
    def parse(
        cls, asset: Asset, value: Decimal | str | int, rounding: Rounding = Rounding.EXACT
    ) -> Amount:
        """An amount from a decimal value of ``asset`` (``Amount.parse(BTC, "0.5")``)."""
        return cls(asset, asset.to_units(value, rounding))

    @classmethod
    def zero(cls, asset: Asset) -> Amount:
        """Zero of ``asset``."""
        return cls(asset, 0)

    def to_decimal(self) -> Decimal:
        """The exact decimal value."""
        return self.asset.to_decimal(self.units)

    def __str__(self) -> str:
        return f"{self.asset.format(self.units)} {self.asset.symbol}"

    def _same(self, other: Amount) -> None:
        if other.asset != self.asset:
            raise InvalidInput(
                CoreReason.ASSET_MISMATCH,
                f"cannot combine {self.asset.symbol} with {other.asset.symbol}",
            )

    def __add__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.asset, check_int128(self.units + other.units))

    def __sub__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.asset, check_int128(self.units - other.units))

    def __neg__(self) -> Amount:
        return Amount(self.asset, check_int128(-self.units))

    def is_negative(self) -> bool:
        """Whether the amount is below zero."""
        return self.units < 0

    def non_negative(self, what: str = "amount") -> Amount:
        """This amount, or an error if it is negative (for balances that must not go below 0)."""
        check_non_negative(self.units, what)
        return self


USDC: Final = Asset("USDC", 6)
USDT: Final = Asset("USDT", 6)
BTC: Final = Asset("BTC", 8)
ETH: Final = Asset("ETH", 8)
SOL: Final = Asset("SOL", 9)

ASSETS: Final[dict[str, Asset]] = {a.symbol: a for a in (USDC, USDT, BTC, ETH, SOL)}


def asset(symbol: str) -> Asset:
    """The asset with this symbol, or a clear error."""
    try:
        return ASSETS[symbol]
    except KeyError:
        known = ", ".join(sorted(ASSETS))
        raise NotFound(
            CoreReason.UNKNOWN_ASSET, f"unknown asset {symbol!r}; known: {known}"
        ) from None
