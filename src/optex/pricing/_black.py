"""Black-Scholes-Merton and Black-76 prices and greeks, vectorized over whole chains.

Both models share one kernel: Black-Scholes-Merton on a spot ``S`` with dividend yield ``q`` is
Black-76 on the forward ``F = S e^((r-q)T)`` discounted at ``e^(-rT)``::

    V = e^(-rT) [ w F N(w d1) - w K N(w d2) ],   d1 = ln(F/K)/s + s/2,   d2 = d1 - s,

with ``s = sigma sqrt(T)`` and ``w = +1`` for a call, ``-1`` for a put (Black 1976; Hull,
"Options, Futures and Other Derivatives", ch. 15 and 18). ``N`` is ``scipy.special.ndtr``, which
keeps full relative accuracy in the lower tail, unlike ``0.5 * erfc``-free formulations.

Units: ``t`` in years, ``rate``/``div``/``vol`` per year as decimals (0.05 is 5%). Greeks are
derivatives in those units: vega per 1.00 of vol (divide by 100 for a vol point), theta per year
of calendar time (``-dV/dT``, divide by 365 for a day), rho per 1.00 of rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from optex.pricing._errors import (
    FloatArray,
    as_call,
    finite,
    non_negative,
    positive,
)
from optex.pricing._normalized import normalised_black

# 1/sqrt(2 pi): the standard normal density's constant.
INV_SQRT_2PI = 0.398942280401432677939946059934381868

CallFlag = bool | npt.NDArray[np.bool_]

# Below this total volatility the OTM formula's two normal terms cancel by more than ~|x|/s^2
# (150x at three standard deviations), costing more than 1e-13 of the time value; the
# normalised Black function takes over there.
SMALL_S = 0.02


@dataclass(frozen=True, slots=True)
class Greeks:
    """First and second order sensitivities of an option value, each an array.

    ``delta``/``gamma`` are with respect to the underlying of the model (spot for
    :func:`bs_greeks`, forward for :func:`black76_greeks`); ``vega``, ``vanna`` (d delta / d vol)
    and ``volga`` (d vega / d vol) are per 1.00 of vol; ``theta`` is ``-dV/dT`` per year;
    ``rho`` is ``dV/dr`` per 1.00 of rate (for Black-76 the forward is held fixed, so
    ``rho = -T V``).
    """

    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    vanna: FloatArray
    volga: FloatArray


def _full(x: Any, shape: tuple[int, ...]) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    return a if a.shape == shape else np.broadcast_to(a, shape).copy()


def _greeks(shape: tuple[int, ...], *fields: Any) -> Greeks:
    return Greeks(*(_full(f, shape) for f in fields))


def _sign(call: CallFlag) -> float | FloatArray:
    if isinstance(call, bool):
        return 1.0 if call else -1.0
    return np.where(call, 1.0, -1.0)


def _black_undiscounted(F: FloatArray, K: FloatArray, s: FloatArray, call: CallFlag) -> FloatArray:
    """``w F N(w d1) - w K N(w d2)`` with full relative accuracy in the time value.

    Every option is valued as its out-of-the-money counterpart plus the intrinsic value of the
    forward (put-call parity), so a deep in-the-money price does not carry the rounding of
    ``F N(d1) ~ F``. With ``lo = min(F, K)``, ``hi = max(F, K)`` and ``h = |ln(F/K)|/s`` the
    out-of-the-money option (the call when ``F < K``, the put otherwise) is in both cases::

        lo N(s/2 - h) - hi N(-h - s/2),

    and the intrinsic value is ``F - lo`` for a call, ``K - lo`` for a put. Where ``s`` is small
    the two normal terms nearly cancel (by ``|x|/s^2``); below ``SMALL_S`` the normalised Black
    function of ``_normalized`` is used.

    ``s`` must be a fresh array of the result's (at least 1-d) shape: it is overwritten. The
    kernel works in four arrays of that shape, because on a million options a new array costs as
    much in page faults as the arithmetic done in it.
    """
    shape = s.shape
    small = s < SMALL_S if s.size and s.min() < SMALL_S else None
    if small is not None:
        xs, ss, fs, ks = (np.broadcast_to(a, shape)[small] for a in (np.log(F / K), s, F, K))
        tv = np.zeros_like(ss)
        live = ss > 0.0
        tv[live] = normalised_black(-np.abs(xs[live]), ss[live])
        small_tv = np.sqrt(fs * ks) * tv

    h = np.divide(F, K, out=np.empty(shape))
    np.log(h, out=h)
    np.abs(h, out=h)
    with np.errstate(divide="ignore", invalid="ignore"):
        h /= s
    half_s = np.multiply(s, 0.5, out=s)
    out = np.subtract(half_s, h)
    ndtr(out, out=out)
    lo = np.minimum(F, K, out=np.empty(shape))
    out *= lo
    h += half_s
    np.negative(h, out=h)
    ndtr(h, out=h)
    h *= np.maximum(F, K, out=half_s)
    out -= h
    # F - lo is max(F - K, 0) exactly; it is added last so the time value keeps its digits.
    strike_side = F if call is True else K if call is False else np.where(call, F, K)
    intrinsic = np.subtract(strike_side, lo, out=lo)
    out += intrinsic
    if small is not None:
        out[small] = small_tv + intrinsic[small]
    return out


def _total_vol(T: FloatArray, v: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """``s = sigma sqrt(T)`` as a fresh array of the result's shape (at least 1-d)."""
    s = np.sqrt(T, out=np.empty(shape or (1,)))
    s *= v
    return s


def _discount(r: FloatArray, T: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """``e^(-rT)``, computed in one array when there is an array of options."""
    if r.ndim == 0 and T.shape == shape and T.ndim > 0:
        df = np.multiply(T, -r)
        return np.exp(df, out=df)
    return np.exp(-r * T)


def _inputs(
    strike: Any, t: Any, rate: Any, vol: Any
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    return (
        positive(strike, "strike"),
        non_negative(t, "t"),
        finite(rate, "rate"),
        non_negative(vol, "vol"),
    )


def black76_price(
    *, forward: Any, strike: Any, t: Any, rate: Any, vol: Any, call: Any = True
) -> FloatArray:
    """Black-76 value of a European option on a forward or future (Black 1976).

    ``V = e^(-rT) [w F N(w d1) - w K N(w d2)]``; arguments broadcast, ``call`` is a bool or bool
    array. Returns an array (0-d for scalar inputs).
    """
    F = positive(forward, "forward")
    K, T, r, v = _inputs(strike, t, rate, vol)
    c = as_call(call)
    shape = np.broadcast_shapes(F.shape, K.shape, T.shape, r.shape, v.shape, np.shape(c))
    out = _black_undiscounted(F, K, _total_vol(T, v, shape), c)
    out *= _discount(r, T, shape)
    return out.reshape(shape)


def bs_price(
    *,
    spot: Any,
    strike: Any,
    t: Any,
    rate: Any,
    vol: Any,
    div: Any = 0.0,
    call: Any = True,
) -> FloatArray:
    """Black-Scholes-Merton value of a European option on a spot paying a continuous yield.

    ``V = S e^(-qT) w N(w d1) - K e^(-rT) w N(w d2)`` (Merton 1973; Haug, "The Complete Guide to
    Option Pricing Formulas", 2nd ed., 1.1.6). Returns an array (0-d for scalar inputs).
    """
    S = positive(spot, "spot")
    K, T, r, v = _inputs(strike, t, rate, vol)
    q = finite(div, "div")
    c = as_call(call)
    shape = np.broadcast_shapes(S.shape, K.shape, T.shape, r.shape, v.shape, q.shape, np.shape(c))
    F = S * np.exp((r - q) * T)
    out = _black_undiscounted(F, K, _total_vol(T, v, shape), c)
    out *= _discount(r, T, shape)
    return out.reshape(shape)


Live = npt.NDArray[np.bool_] | None


def _live(s: FloatArray) -> Live:
    """``s > 0`` as a mask, or None when every option has time value (the usual chain)."""
    return None if s.size == 0 or s.min() > 0.0 else s > 0.0


def _on_live(a: Any, live: Live) -> Any:
    """``a`` where ``s > 0`` and 0 elsewhere; untouched, with no pass over it, if all are live."""
    return a if live is None else np.where(live, a, 0.0)


def _signed(call: CallFlag, a: FloatArray) -> FloatArray:
    """``w a`` with ``w = +1`` for calls and ``-1`` for puts."""
    if call is True:
        return a
    if call is False:
        return np.negative(a)
    return np.asarray(np.where(call, a, np.negative(a)))


def _greeks_core(
    F: FloatArray, K: FloatArray, T: FloatArray, v: FloatArray, call: CallFlag
) -> tuple[
    FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, Live
]:
    """Undiscounted pieces shared by both models:
    ``d1, d2, n(d1), N(w d1), N(w d2), sqrtT, s`` and the ``s > 0`` mask."""
    sqrt_t = np.sqrt(T)
    s = sqrt_t * v
    live = _live(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.log(F / K) / s + 0.5 * s
    if live is not None:
        d1 = np.where(live, d1, np.where(F == K, 0.0, d1))
    d2 = d1 - s
    n1 = INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    nd1, nd2 = ndtr(_signed(call, d1)), ndtr(_signed(call, d2))
    return d1, d2, n1, nd1, nd2, sqrt_t, s, live


def _second_order(
    *,
    scale: FloatArray,
    d1: FloatArray,
    d2: FloatArray,
    n1: FloatArray,
    sqrt_t: FloatArray,
    v: FloatArray,
    s: FloatArray,
    underlying: FloatArray,
    live: Live,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``gamma, vega, vanna, volga`` of ``scale * Black(underlying)``; zero where ``s = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        vega = scale * underlying * n1 * sqrt_t
        gamma = _on_live(scale * n1 / (underlying * s), live)
        vanna = _on_live(-scale * n1 * d2 / v, live)
        volga = _on_live(vega * d1 * d2 / v, live)
    return gamma, _on_live(vega, live), vanna, volga


def black76_greeks(
    *, forward: Any, strike: Any, t: Any, rate: Any, vol: Any, call: Any = True
) -> Greeks:
    """Analytic Black-76 greeks; delta and gamma are with respect to the forward.

    ``delta = w e^(-rT) N(w d1)``, ``gamma = e^(-rT) n(d1) / (F s)``,
    ``vega = e^(-rT) F n(d1) sqrt(T)``, ``theta = -e^(-rT) F n(d1) sigma / (2 sqrt(T)) + r V``,
    ``rho = -T V``, ``vanna = -e^(-rT) n(d1) d2 / sigma``, ``volga = vega d1 d2 / sigma``.
    """
    F = positive(forward, "forward")
    K, T, r, v = _inputs(strike, t, rate, vol)
    c = as_call(call)
    d1, d2, n1, nd1, nd2, sqrt_t, s, live = _greeks_core(F, K, T, v, c)
    df = np.exp(-r * T)
    value = _signed(c, df * (F * nd1 - K * nd2))
    gamma, vega, vanna, volga = _second_order(
        scale=df, d1=d1, d2=d2, n1=n1, sqrt_t=sqrt_t, v=v, s=s, underlying=F, live=live
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = _on_live(df * F * n1 * v / (2.0 * sqrt_t), live)
    shape = np.broadcast_shapes(F.shape, K.shape, T.shape, r.shape, v.shape, np.shape(c))
    delta = _signed(c, df * nd1)
    return _greeks(shape, delta, gamma, vega, r * value - decay, -T * value, vanna, volga)


def bs_greeks(
    *,
    spot: Any,
    strike: Any,
    t: Any,
    rate: Any,
    vol: Any,
    div: Any = 0.0,
    call: Any = True,
) -> Greeks:
    """Analytic Black-Scholes-Merton greeks; delta and gamma are with respect to spot.

    ``delta = w e^(-qT) N(w d1)``, ``gamma = e^(-qT) n(d1) / (S s)``,
    ``vega = S e^(-qT) n(d1) sqrt(T)``,
    ``theta = -S e^(-qT) n(d1) sigma / (2 sqrt(T)) - w r K e^(-rT) N(w d2)
    + w q S e^(-qT) N(w d1)``,
    ``rho = w K T e^(-rT) N(w d2)``, ``vanna = -e^(-qT) n(d1) d2 / sigma``,
    ``volga = vega d1 d2 / sigma`` (Haug 2007, ch. 2).
    """
    S = positive(spot, "spot")
    K, T, r, v = _inputs(strike, t, rate, vol)
    q = finite(div, "div")
    c = as_call(call)
    w = _sign(c)
    F = S * np.exp((r - q) * T)
    d1, d2, n1, nd1, nd2, sqrt_t, s, live = _greeks_core(F, K, T, v, c)
    dq = np.exp(-q * T)
    dr = np.exp(-r * T)
    gamma, vega, vanna, volga = _second_order(
        scale=dq, d1=d1, d2=d2, n1=n1, sqrt_t=sqrt_t, v=v, s=s, underlying=S, live=live
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = _on_live(S * dq * n1 * v / (2.0 * sqrt_t), live)
    shape = np.broadcast_shapes(S.shape, K.shape, T.shape, r.shape, v.shape, q.shape, np.shape(c))
    theta = -decay - w * r * K * dr * nd2 + w * q * S * dq * nd1
    return _greeks(shape, w * dq * nd1, gamma, vega, theta, w * K * T * dr * nd2, vanna, volga)
