"""Pricing's reason codes and the input checks every public function shares.

Bad input raises :class:`optex.core.InvalidInput` with a code from :class:`PricingReason` and
names the offending argument, so that a caller can tell which field to fix. Checks are whole-array
reductions (``np.all``), cheap next to the special functions they guard.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from optex.core import InvalidInput, ReasonCode, register_reasons

FloatArray = npt.NDArray[np.float64]


class PricingReason(ReasonCode):
    """Reason codes of ``optex.pricing`` (6000-6999).

    The ``IV_*`` codes are per-element outcomes of :func:`implied_vol_with_reason`; the others are
    raised as :class:`optex.core.InvalidInput`.
    """

    IV_OK = 6000, "the implied volatility was found"
    IV_BELOW_INTRINSIC = 6001, "the price is below the discounted intrinsic value"
    IV_ABOVE_MAXIMUM = 6002, "the price is at or above the no-arbitrage upper bound"
    IV_EXPIRED = 6003, "the option has no time left, so its volatility is undefined"
    INVALID_PRICING_INPUT = 6010, "a pricing input is not a finite number in its allowed range"
    INVALID_MODEL_PARAMETER = 6011, "a model parameter is outside its allowed range"
    CALIBRATION_FAILED = 6012, "the calibration could not be carried out on these quotes"


register_reasons(PricingReason, range(6000, 7000))


def as_float(value: Any, name: str) -> FloatArray:
    """Return ``value`` as a float64 array, rejecting what cannot be one."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            PricingReason.INVALID_PRICING_INPUT, f"{name} is not a number or array of numbers"
        ) from exc
    return arr


def check(ok: bool | np.bool_, name: str, rule: str, *, model: bool = False) -> None:
    """Raise :class:`InvalidInput` saying ``name must be rule`` when ``ok`` is false."""
    if not ok:
        code = (
            PricingReason.INVALID_MODEL_PARAMETER if model else PricingReason.INVALID_PRICING_INPUT
        )
        raise InvalidInput(code, f"{name} must be {rule}", argument=name)


# The range checks below look at the minimum and maximum only: two reductions that allocate
# nothing, and a NaN anywhere makes both NaN, so every comparison with them is false. A scalar
# is compared as a Python float, which skips the reductions' fixed cost.


def _bounds(arr: FloatArray) -> tuple[float, float]:
    if arr.ndim == 0:
        value = float(arr)
        return value, value
    return float(arr.min()), float(arr.max())


def positive(value: Any, name: str) -> FloatArray:
    """A float array whose every element is finite and > 0."""
    arr = as_float(value, name)
    if arr.size:
        lo, hi = _bounds(arr)
        check(lo > 0.0 and hi < math.inf, name, "finite and > 0")
    return arr


def non_negative(value: Any, name: str) -> FloatArray:
    """A float array whose every element is finite and >= 0."""
    arr = as_float(value, name)
    if arr.size:
        lo, hi = _bounds(arr)
        check(lo >= 0.0 and hi < math.inf, name, "finite and >= 0")
    return arr


def finite(value: Any, name: str) -> FloatArray:
    """A float array whose every element is finite."""
    arr = as_float(value, name)
    if arr.size:
        lo, hi = _bounds(arr)
        check(lo > -math.inf and hi < math.inf, name, "finite")
    return arr


def as_call(value: Any) -> bool | npt.NDArray[np.bool_]:
    """``call`` as a Python bool (the fast path) or a bool array."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    arr = np.asarray(value)
    check(arr.dtype == np.bool_, "call", "a bool or an array of bools")
    return arr
