"""Calibration of SABR and Heston to one expiry's smile with ``scipy.optimize.least_squares``.

Both fits minimise implied-volatility errors: SABR directly (Hagan's formula is a volatility);
Heston through vega-weighted price errors ``(V_model - V_mkt) / vega_mkt``, a first-order
volatility error that needs no implied-vol inversion inside the loop. The reported ``rmse`` is
exact: it inverts the fitted prices with :func:`implied_vol`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from optex.core import InvalidInput
from optex.pricing._black import bs_greeks, bs_price
from optex.pricing._errors import FloatArray, PricingReason, check, finite, positive
from optex.pricing._heston import heston_price
from optex.pricing._implied import implied_vol
from optex.pricing._sabr import sabr_vol


@dataclass(frozen=True, slots=True)
class SabrFit:
    """Fitted SABR parameters (``beta`` as given) and the RMS implied-vol error."""

    alpha: float
    beta: float
    rho: float
    nu: float
    rmse: float


@dataclass(frozen=True, slots=True)
class HestonFit:
    """Fitted Heston parameters and the RMS implied-vol error of the fitted prices."""

    v0: float
    kappa: float
    theta: float
    xi: float
    rho: float
    rmse: float


def _quotes(strike: Any, vol: Any) -> tuple[FloatArray, FloatArray]:
    K = positive(strike, "strike")
    v = positive(vol, "vol")
    check(K.ndim == 1 and K.shape == v.shape, "strike and vol", "1-d arrays of one size")
    return K, v


def calibrate_sabr(
    *, forward: float, strike: Any, t: float, vol: Any, beta: float = 1.0
) -> SabrFit:
    """Fit ``alpha, rho, nu`` of SABR (fixed ``beta``) to a smile of implied vols."""
    K, v = _quotes(strike, vol)
    check(K.size >= 3, "strike", "at least 3 quotes")
    check(forward > 0.0 and t > 0.0, "forward and t", "> 0")
    check(0.0 <= beta <= 1.0, "beta", "in [0, 1]", model=True)
    atm = float(np.interp(forward, K, v)) if K.min() <= forward <= K.max() else float(v.mean())
    alpha0 = atm * forward ** (1.0 - beta)

    def residuals(z: FloatArray) -> FloatArray:
        return np.asarray(
            sabr_vol(forward=forward, strike=K, t=t, alpha=z[0], beta=beta, rho=z[1], nu=z[2]) - v
        )

    sol = least_squares(
        residuals,
        np.array([alpha0, -0.1, 0.5]),
        bounds=([1e-8, -0.9999, 1e-8], [np.inf, 0.9999, 20.0]),
        x_scale="jac",
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
    )
    return SabrFit(
        alpha=float(sol.x[0]),
        beta=beta,
        rho=float(sol.x[1]),
        nu=float(sol.x[2]),
        rmse=float(np.sqrt(np.mean(sol.fun**2))),
    )


def calibrate_heston(
    *,
    spot: float,
    strike: Any,
    t: Any,
    rate: float,
    div: float,
    vol: Any,
    initial: tuple[float, float, float, float, float] = (0.04, 2.0, 0.04, 0.5, -0.5),
) -> HestonFit:
    """Fit ``v0, kappa, theta, xi, rho`` to Black-Scholes implied vols (one or more expiries).

    ``initial`` is the starting point ``(v0, kappa, theta, xi, rho)``. Out-of-the-money options
    are used (calls above the forward, puts below), whose prices carry the smile's information.
    """
    K, v = _quotes(strike, vol)
    T = np.broadcast_to(positive(t, "t"), K.shape)
    check(K.size >= 5, "strike", "at least 5 quotes")
    finite(np.array([spot, rate, div]), "spot, rate and div")
    F = spot * np.exp((rate - div) * T)
    call = K >= F
    market = bs_price(spot=spot, strike=K, t=T, rate=rate, vol=v, div=div, call=call)
    vega = np.maximum(bs_greeks(spot=spot, strike=K, t=T, rate=rate, vol=v, div=div).vega, 1e-8)

    def model(z: FloatArray) -> FloatArray:
        return heston_price(
            spot=spot,
            strike=K,
            t=T,
            rate=rate,
            div=div,
            v0=z[0],
            kappa=z[1],
            theta=z[2],
            xi=z[3],
            rho=z[4],
            call=call,
        )

    def residuals(z: FloatArray) -> FloatArray:
        return (model(z) - market) / vega

    try:
        sol = least_squares(
            residuals,
            np.array(initial, dtype=np.float64),
            bounds=([1e-6, 1e-3, 1e-6, 1e-3, -0.999], [4.0, 20.0, 4.0, 5.0, 0.999]),
            x_scale="jac",
            xtol=1e-12,
            ftol=1e-12,
            gtol=1e-12,
            max_nfev=400,
        )
    except ValueError as exc:
        raise InvalidInput(PricingReason.CALIBRATION_FAILED, str(exc)) from exc
    fitted = implied_vol(
        price=model(sol.x) * np.exp(rate * T), forward=F, strike=K, t=T, rate=0.0, call=call
    )
    return HestonFit(
        v0=float(sol.x[0]),
        kappa=float(sol.x[1]),
        theta=float(sol.x[2]),
        xi=float(sol.x[3]),
        rho=float(sol.x[4]),
        rmse=float(np.sqrt(np.nanmean((fitted - v) ** 2))),
    )
