"""Monte Carlo cross-checks: exact GBM and Heston with Andersen's QE scheme.

For validation, not for marks: every call takes the random source as an input (a seed or a
``numpy.random.Generator``), so a run is reproducible, and returns the price with its standard
error so that agreement with an analytic price can be judged in standard errors.

Heston QE (Andersen, "Simple and efficient simulation of the Heston stochastic volatility model",
J. Comput. Finance 11(3), 2008, sections 3.2.3-3.2.4 and 4.2): the variance step matches the
exact conditional mean ``m`` and variance ``s^2``; for ``psi = s^2/m^2 <= 1.5`` it draws
``a (b + Z)^2``, otherwise a point mass at zero mixed with an exponential. Log-spot uses the
central discretisation (``gamma1 = gamma2 = 1/2``) with, optionally, the martingale correction
that makes ``E[S_(t+dt) | S_t] = S_t e^((r-q) dt)`` exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optex.pricing._errors import FloatArray, as_call, check, finite, non_negative, positive

PSI_CRITICAL = 1.5


@dataclass(frozen=True, slots=True)
class McResult:
    """Monte Carlo prices (one per strike) and their standard errors."""

    price: FloatArray
    stderr: FloatArray


def _generator(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    check(isinstance(rng, int) and not isinstance(rng, bool), "rng", "a seed (int) or Generator")
    return np.random.default_rng(rng)


def _payoff_stats(
    log_st: FloatArray, strike: FloatArray, call: Any, discount: float, pairs: int
) -> McResult:
    """Discounted payoffs per strike; antithetic pairs are averaged before the variance."""
    st = np.exp(log_st)[:, None]
    w = np.where(np.broadcast_to(call, strike.shape), 1.0, -1.0)
    pay = discount * np.maximum(w * (st - strike[None, :]), 0.0)
    if pairs:
        pay = 0.5 * (pay[:pairs] + pay[pairs:])
    n = pay.shape[0]
    return McResult(price=pay.mean(axis=0), stderr=pay.std(axis=0, ddof=1) / np.sqrt(n))


def mc_gbm(
    *,
    spot: float,
    strike: Any,
    t: float,
    rate: float,
    vol: float,
    rng: Any,
    div: float = 0.0,
    call: Any = True,
    paths: int = 200_000,
    antithetic: bool = True,
) -> McResult:
    """European options under GBM, sampling ``S_T`` exactly from one normal draw per path."""
    K = np.atleast_1d(positive(strike, "strike"))
    check(spot > 0.0 and t > 0.0 and vol >= 0.0 and paths >= 2, "spot, t, vol, paths", "valid")
    gen = _generator(rng)
    half = paths // 2 if antithetic else paths
    z = gen.standard_normal(half)
    if antithetic:
        z = np.concatenate([z, -z])
    log_st = np.log(spot) + (rate - div - 0.5 * vol * vol) * t + vol * np.sqrt(t) * z
    return _payoff_stats(log_st, K, as_call(call), np.exp(-rate * t), half if antithetic else 0)


def mc_heston(
    *,
    spot: float,
    strike: Any,
    t: float,
    rate: float,
    div: float,
    v0: float,
    kappa: float,
    theta: float,
    xi: float,
    rho: float,
    rng: Any,
    call: Any = True,
    paths: int = 100_000,
    steps: int = 50,
    martingale_correction: bool = True,
) -> McResult:
    """European options under Heston by Andersen's QE scheme with ``steps`` equal time steps."""
    K = np.atleast_1d(positive(strike, "strike"))
    non_negative(v0, "v0")
    positive(np.array([kappa, theta, xi]), "kappa, theta and xi")
    finite(np.array([rate, div]), "rate and div")
    check(abs(rho) <= 1.0, "rho", "in [-1, 1]", model=True)
    check(spot > 0.0 and t > 0.0 and paths >= 2 and steps >= 1, "spot, t, paths, steps", "valid")
    gen = _generator(rng)
    dt = t / steps
    e = np.exp(-kappa * dt)
    k0 = -rho * kappa * theta / xi * dt
    k1 = 0.5 * dt * (kappa * rho / xi - 0.5) - rho / xi
    k2 = 0.5 * dt * (kappa * rho / xi - 0.5) + rho / xi
    k3 = 0.5 * dt * (1.0 - rho * rho)
    a_mart = k2 + 0.5 * k3  # A in Andersen's martingale correction (k4 = k3)
    c1 = xi * xi * e / kappa * (1.0 - e)
    c2 = theta * xi * xi / (2.0 * kappa) * (1.0 - e) ** 2

    v = np.full(paths, float(v0))
    x = np.full(paths, np.log(spot))
    for _ in range(steps):
        m = theta + (v - theta) * e
        s2 = v * c1 + c2
        psi = s2 / (m * m)
        uv = gen.random(paths)
        zv = gen.standard_normal(paths)
        quad = psi <= PSI_CRITICAL
        v_next = np.empty(paths)
        # Quadratic branch: v' = a (b + Z)^2.
        inv = 2.0 / psi[quad]
        b2 = inv - 1.0 + np.sqrt(inv) * np.sqrt(inv - 1.0)
        a = m[quad] / (1.0 + b2)
        v_next[quad] = a * (np.sqrt(b2) + zv[quad]) ** 2
        # Exponential branch: mass p at zero, exponential with rate beta above.
        ex = ~quad
        p = (psi[ex] - 1.0) / (psi[ex] + 1.0)
        beta = (1.0 - p) / m[ex]
        u = uv[ex]
        with np.errstate(divide="ignore"):
            v_next[ex] = np.where(
                u <= p, 0.0, np.log((1.0 - p) / np.maximum(1.0 - u, 1e-300)) / beta
            )
        if martingale_correction:
            # K0* = -ln E[exp(A v')] - (K1 + K3/2) v (Andersen 2008, section 4.2); with the
            # K1 v term of the step added back the drift is -ln E[exp(A v')] - K3 v / 2.
            log_m = np.empty(paths)
            aa = a_mart * a
            log_m[quad] = a_mart * b2 * a / (1.0 - 2.0 * aa) - 0.5 * np.log(1.0 - 2.0 * aa)
            log_m[ex] = np.log(p + beta * (1.0 - p) / (beta - a_mart))
            drift = -log_m - 0.5 * k3 * v
        else:
            drift = k0 + k1 * v
        z = gen.standard_normal(paths)
        x += (rate - div) * dt + drift + k2 * v_next + np.sqrt(k3 * (v + v_next)) * z
        v = v_next
    return _payoff_stats(x, K, as_call(call), float(np.exp(-rate * t)), 0)
