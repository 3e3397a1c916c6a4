"""The one place where money is computed: exact integer cash and rounding against the user.

Every amount of money in ``optex.risk`` goes through these functions, so that the off-chain engine
and the chain compute the same integers. Prices are settlement base units (10⁻⁶ USDC) per whole
underlying and quantities underlying base units (10⁻⁸ BTC), so the cash of ``quantity`` at
``price`` is ``price * quantity / 10**underlying_decimals``. On the instrument's tick and lot grid
that division is exact (``Instrument.tick_value`` is whole); off the grid (a mark, an index, a
settlement average) it is rounded in the direction named by the caller:

* a credit to a user (payout, P&L, equity) is rounded down (``Rounding.FLOOR`` of the signed
  value, which is also "a debit rounded up");
* a requirement on a user (margin, fee) is rounded up (``Rounding.CEILING``).

When both sides of a transfer are rounded against their owners, the two roundings leave a few base
units on the table; :func:`dust` hands them to the fee pool so that the total is conserved exactly.
"""

from __future__ import annotations

import math
from typing import Final, overload

import numpy as np
import numpy.typing as npt

from optex.core import InvariantViolation, Rounding

PPM: Final = 1_000_000
"""Rates and fractions are integers in parts per million (0.15 is 150_000)."""


def div_round(numerator: int, denominator: int, rounding: Rounding) -> int:
    """``numerator / denominator`` as an int, exactly or rounded in the named direction.

    ``Rounding.EXACT`` raises :class:`InvariantViolation` when the division leaves a remainder:
    the caller promised it would not (a trade on the tick and lot grid), so a remainder is a bug.
    """
    if denominator <= 0:
        raise InvariantViolation(f"denominator {denominator} must be positive")
    quotient, rest = divmod(numerator, denominator)
    if rest == 0 or rounding is Rounding.FLOOR:
        return quotient
    if rounding is Rounding.CEILING:
        return quotient + 1
    raise InvariantViolation(f"{numerator}/{denominator} is not a whole number of base units")


def cash(price: int, quantity: int, scale: int, rounding: Rounding = Rounding.EXACT) -> int:
    """The settlement cash of a signed ``quantity`` at ``price``: ``price * quantity / scale``.

    ``scale`` is the underlying's base units per whole unit (``asset(underlying).scale``).
    """
    return div_round(price * quantity, scale, rounding)


def ppm_of(amount: int, rate_ppm: int, rounding: Rounding) -> int:
    """``amount * rate_ppm / 1e6``, rounded in the named direction."""
    return div_round(amount * rate_ppm, PPM, rounding)


@overload
def to_units(value: float, rounding: Rounding) -> int: ...
@overload
def to_units(value: npt.NDArray[np.float64], rounding: Rounding) -> npt.NDArray[np.int64]: ...
def to_units(
    value: float | npt.NDArray[np.float64], rounding: Rounding
) -> int | npt.NDArray[np.int64]:
    """A model value (float, in base units) as whole base units, rounded against the user.

    This is the only float-to-money boundary in ``optex.risk``: a requirement (margin) is rounded
    up, a credit down. A value that is not finite is a model failure and raises.
    """
    if rounding is Rounding.EXACT:
        raise InvariantViolation("a model value is never exact; name the rounding direction")
    if isinstance(value, np.ndarray):
        if not np.all(np.isfinite(value)):
            raise InvariantViolation("a model value is not finite")
        rounded = np.ceil(value) if rounding is Rounding.CEILING else np.floor(value)
        return rounded.astype(np.int64)
    if not math.isfinite(value):
        raise InvariantViolation(f"model value {value} is not finite")
    return math.ceil(value) if rounding is Rounding.CEILING else math.floor(value)


def dust(credits: list[int]) -> int:
    """What the fee pool receives when opposite transfers were each rounded against their owner.

    ``credits`` are the rounded amounts credited (positive) or debited (negative) to every party
    of a transfer whose exact amounts sum to zero; each was rounded down, so their sum is at most
    zero and its negation is the dust. A positive sum means a caller rounded in a user's favour.
    """
    total = sum(credits)
    if total > 0:
        raise InvariantViolation(f"transfers created {total} base units from nothing")
    return -total
