"""Raw SVI smiles, their fit to one expiry, surfaces across expiries and arbitrage checks.

Raw SVI (Gatheral 2004) gives total implied variance ``w = sigma_BS^2 T`` at log-moneyness
``k = ln(K/F)``::

    w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2)).

Butterfly arbitrage is absent exactly when Gatheral's density factor (Gatheral and Jacquier,
"Arbitrage-free SVI volatility surfaces", Quantitative Finance 14(1), 2014, eq. 2.1)::

    g(k) = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2

is non-negative for every k (with ``w > 0``); the parameter bounds alone do not ensure it.
Calendar arbitrage is absent when ``w(k, T)`` is non-decreasing in T at each k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from optex.core import InvalidInput
from optex.pricing._errors import FloatArray, PricingReason, check, finite, positive


@dataclass(frozen=True, slots=True)
class SviParams:
    """Raw SVI parameters of one expiry ``t`` (years)."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def total_variance(self, k: Any) -> FloatArray:
        """``w(k)`` at log-moneyness ``k = ln(K/F)``."""
        return svi_total_variance(k, a=self.a, b=self.b, rho=self.rho, m=self.m, sigma=self.sigma)


def svi_total_variance(k: Any, *, a: Any, b: Any, rho: Any, m: Any, sigma: Any) -> FloatArray:
    """Raw SVI total variance ``a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2))``."""
    kk = finite(k, "k")
    d = kk - m
    return np.asarray(a + b * (rho * d + np.sqrt(d * d + sigma * sigma)))


def _derivatives(k: FloatArray, p: SviParams) -> tuple[FloatArray, FloatArray, FloatArray]:
    d = k - p.m
    root = np.sqrt(d * d + p.sigma * p.sigma)
    w = p.a + p.b * (p.rho * d + root)
    w1 = p.b * (p.rho + d / root)
    w2 = p.b * p.sigma * p.sigma / root**3
    return w, w1, w2


def svi_density_factor(k: Any, params: SviParams) -> FloatArray:
    """Gatheral's ``g(k)``; the risk-neutral density is ``g(k)/sqrt(2 pi w) exp(-d2^2/2)``."""
    kk = finite(k, "k")
    w, w1, w2 = _derivatives(kk, params)
    return np.asarray(
        (1.0 - kk * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2
    )


def svi_butterfly_arbitrage(params: SviParams, k: Any = None) -> FloatArray:
    """Log-moneyness points (of ``k``, default a dense grid on [-3, 3]) where ``g(k) < 0`` or
    ``w(k) <= 0``: empty when the slice is free of butterfly arbitrage there.
    """
    grid = np.linspace(-3.0, 3.0, 2001) if k is None else finite(k, "k")
    w, _, _ = _derivatives(grid, params)
    bad = (svi_density_factor(grid, params) < 0.0) | (w <= 0.0)
    return np.asarray(grid[bad])


def _check_raw(p: SviParams) -> None:
    check(p.b >= 0.0, "b", ">= 0", model=True)
    check(abs(p.rho) < 1.0, "rho", "in (-1, 1)", model=True)
    check(p.sigma > 0.0, "sigma", "> 0", model=True)


@dataclass(frozen=True, slots=True)
class SviFit:
    """A fitted slice: parameters and the root-mean-square error in implied vol."""

    params: SviParams
    rmse: float


def fit_svi(*, k: Any, vol: Any, t: float, weights: Any = None) -> SviFit:
    """Fit raw SVI to one expiry's implied vols by least squares in total variance.

    Bounds keep ``b >= 0``, ``|rho| < 1``, ``sigma > 0`` and the minimum of ``w``,
    ``a + b sigma sqrt(1 - rho^2)``, non-negative (through ``a``'s parametrisation).
    """
    kk = finite(k, "k")
    v = positive(vol, "vol")
    check(
        kk.shape == v.shape and kk.ndim == 1 and kk.size >= 5, "k and vol", "1-d, same size, >= 5"
    )
    check(t > 0.0, "t", "> 0")
    wt = np.ones_like(kk) if weights is None else positive(weights, "weights")
    w_mkt = v * v * t
    atm = float(np.interp(0.0, kk, w_mkt)) if kk.min() <= 0.0 <= kk.max() else float(w_mkt.min())

    def params_of(z: FloatArray) -> SviParams:
        # z = (floor, b, rho, m, sigma): a is set so that min w = floor >= 0.
        floor, b, rho, m, sigma = z
        return SviParams(
            a=floor - b * sigma * np.sqrt(1.0 - rho * rho), b=b, rho=rho, m=m, sigma=sigma
        )

    def residuals(z: FloatArray) -> FloatArray:
        return wt * (params_of(z).total_variance(kk) - w_mkt)

    span = float(kk.max() - kk.min())
    x0 = np.array([0.5 * atm, 0.1 * max(atm, 1e-4) / max(span, 0.1) * 4.0, -0.3, 0.0, 0.1])
    lower = [0.0, 0.0, -0.999, kk.min() - span, 1e-4]
    upper = [max(2.0 * w_mkt.max(), 1e-8), np.inf, 0.999, kk.max() + span, 5.0 * max(span, 0.1)]
    x0 = np.clip(x0, np.array(lower) + 1e-12, np.array(upper) - 1e-12)
    try:
        sol = least_squares(
            residuals,
            x0,
            bounds=(lower, upper),
            x_scale="jac",
            xtol=1e-14,
            ftol=1e-14,
            gtol=1e-14,
            max_nfev=4000,
        )
    except ValueError as exc:
        raise InvalidInput(PricingReason.CALIBRATION_FAILED, str(exc)) from exc
    params = params_of(sol.x)
    fitted = np.sqrt(np.maximum(params.total_variance(kk), 0.0) / t)
    return SviFit(params=params, rmse=float(np.sqrt(np.mean((fitted - v) ** 2))))


@dataclass(frozen=True, slots=True)
class SviSurface:
    """SVI slices at increasing expiries; total variance interpolates linearly in ``t`` at fixed
    ``k`` (flat-forward in variance beyond the last slice, proportional to ``t`` before the first),
    which preserves calendar-arbitrage freedom of the slices.
    """

    expiries: tuple[float, ...]
    slices: tuple[SviParams, ...]

    def __post_init__(self) -> None:
        check(len(self.expiries) == len(self.slices) >= 1, "slices", "one per expiry")
        check(
            all(np.diff(self.expiries) > 0.0) and self.expiries[0] > 0.0,
            "expiries",
            "positive and increasing",
        )
        for p in self.slices:
            _check_raw(p)

    def total_variance(self, k: Any, t: float) -> FloatArray:
        """``w(k, t)``, interpolated linearly in ``t`` between slices."""
        check(t > 0.0, "t", "> 0")
        ts = self.expiries
        ws = [p.total_variance(k) for p in self.slices]
        if t <= ts[0]:
            return np.asarray(ws[0] * (t / ts[0]))
        if t >= ts[-1]:
            return np.asarray(ws[-1] * (t / ts[-1]))
        i = int(np.searchsorted(ts, t)) - 1
        lam = (t - ts[i]) / (ts[i + 1] - ts[i])
        return np.asarray((1.0 - lam) * ws[i] + lam * ws[i + 1])

    def vol(self, k: Any, t: float) -> FloatArray:
        """Implied volatility ``sqrt(w(k, t)/t)``."""
        return np.asarray(np.sqrt(np.maximum(self.total_variance(k, t), 0.0) / t))

    def calendar_arbitrage(self, k: Any = None) -> list[tuple[float, float]]:
        """``(t, k)`` pairs where ``w(k, t_i) > w(k, t_(i+1))``: total variance decreases."""
        grid = np.linspace(-3.0, 3.0, 601) if k is None else finite(k, "k")
        out: list[tuple[float, float]] = []
        for t0, p0, p1 in zip(self.expiries, self.slices, self.slices[1:], strict=False):
            bad = p0.total_variance(grid) > p1.total_variance(grid)
            out.extend((t0, float(kk)) for kk in grid[bad])
        return out

    def butterfly_arbitrage(self, k: Any = None) -> list[tuple[float, float]]:
        """``(t, k)`` pairs where a slice's density factor ``g(k)`` is negative."""
        return [
            (t, float(kk))
            for t, p in zip(self.expiries, self.slices, strict=True)
            for kk in svi_butterfly_arbitrage(p, k)
        ]


def fit_svi_surface(*, k: Any, vol: Any, t: Any) -> SviSurface:
    """Fit one raw SVI slice per distinct expiry in ``t`` (arrays of quotes of equal size)."""
    kk = finite(k, "k")
    v = positive(vol, "vol")
    tt = positive(t, "t")
    check(kk.shape == v.shape == tt.shape and kk.ndim == 1, "k, vol and t", "1-d of one size")
    expiries = np.unique(tt)
    slices = []
    for te in expiries:
        sel = tt == te
        order = np.argsort(kk[sel])
        slices.append(fit_svi(k=kk[sel][order], vol=v[sel][order], t=float(te)).params)
    return SviSurface(expiries=tuple(float(e) for e in expiries), slices=tuple(slices))
