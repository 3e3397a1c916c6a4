"""Seeded index price paths: geometric Brownian motion, Heston and Merton jump-diffusion.

Each model is a frozen msgspec Struct (so a scenario file can name it) and :func:`simulate_path`
draws one path of ``steps`` steps of ``dt`` years from an injected ``numpy.random.Generator``:
the same generator state gives the same path on every machine. Paths are floats: they are a
model's output, and become money only when the simulation rounds them onto the tick grid.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

from optex.core import CoreReason, InvalidInput


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise InvalidInput(CoreReason.INVALID_ARGUMENT, f"price model: {what}")


class Gbm(msgspec.Struct, frozen=True, tag="gbm", tag_field="kind", forbid_unknown_fields=True):
    """dS/S = mu dt + sigma dW, sampled exactly: ln S moves by (mu - sigma^2/2) dt + sigma dW."""

    mu: float = 0.0
    sigma: float = 0.5

    def __post_init__(self) -> None:
        _require(self.sigma >= 0 and math.isfinite(self.sigma), "gbm.sigma must be >= 0")
        _require(math.isfinite(self.mu), "gbm.mu must be finite")

    @property
    def vol(self) -> float:
        """The instantaneous volatility at the start (the market maker's first guess)."""
        return self.sigma


class Heston(
    msgspec.Struct, frozen=True, tag="heston", tag_field="kind", forbid_unknown_fields=True
):
    """Heston (1993): dS/S = mu dt + sqrt(v) dW1, dv = kappa (theta - v) dt + xi sqrt(v) dW2,
    corr(dW1, dW2) = rho. Sampled by full-truncation Euler (Lord, Koekkoek and van Dijk 2010),
    which keeps the variance process usable when the Feller condition fails."""

    mu: float = 0.0
    v0: float = 0.25
    kappa: float = 2.0
    theta: float = 0.25
    xi: float = 0.8
    rho: float = -0.6

    def __post_init__(self) -> None:
        _require(self.v0 >= 0 and self.theta >= 0, "heston.v0 and heston.theta must be >= 0")
        _require(self.kappa > 0 and self.xi >= 0, "heston.kappa must be > 0 and xi >= 0")
        _require(-1 <= self.rho <= 1, "heston.rho must be in [-1, 1]")

    @property
    def vol(self) -> float:
        """The instantaneous volatility at the start (the market maker's first guess)."""
        return math.sqrt(self.v0)


class Merton(
    msgspec.Struct, frozen=True, tag="merton", tag_field="kind", forbid_unknown_fields=True
):
    """Merton (1976) jump-diffusion: GBM plus Poisson(``lam``) jumps with ln(1 + J) ~
    N(``jump_mean``, ``jump_std``^2), drift-compensated so that E[S_t] = S_0 e^(mu t)."""

    mu: float = 0.0
    sigma: float = 0.4
    lam: float = 5.0
    jump_mean: float = -0.02
    jump_std: float = 0.05

    def __post_init__(self) -> None:
        _require(self.sigma >= 0 and self.lam >= 0, "merton.sigma and merton.lam must be >= 0")
        _require(self.jump_std >= 0, "merton.jump_std must be >= 0")

    @property
    def vol(self) -> float:
        """Total volatility, diffusion plus jumps: what an option desk would quote at."""
        jump_var = self.lam * (self.jump_mean**2 + self.jump_std**2)
        return math.sqrt(self.sigma**2 + jump_var)


PriceModel = Gbm | Heston | Merton
ModelKind = Literal["gbm", "heston", "merton"]


def simulate_path(
    model: PriceModel, s0: float, dt: float, steps: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """``steps + 1`` prices starting at ``s0``, ``dt`` years apart, drawn from ``rng``."""
    _require(s0 > 0 and math.isfinite(s0), "the starting price must be positive")
    _require(dt > 0 and math.isfinite(dt), "the time step must be positive")
    _require(isinstance(steps, int) and steps >= 0, "steps must be a non-negative int")
    if isinstance(model, Gbm):
        log_steps = gbm_log_returns(model, dt, steps, rng)
    elif isinstance(model, Heston):
        log_steps = heston_log_returns(model, dt, steps, rng)[0]
    else:
        log_steps = merton_log_returns(model, dt, steps, rng)
    path = np.empty(steps + 1)
    path[0] = s0
    path[1:] = s0 * np.exp(np.cumsum(log_steps))
    return path


def gbm_log_returns(
    model: Gbm, dt: float, steps: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Exact GBM log returns: (mu - sigma^2/2) dt + sigma sqrt(dt) Z."""
    z = rng.standard_normal(steps)
    return (model.mu - 0.5 * model.sigma**2) * dt + model.sigma * math.sqrt(dt) * z


def heston_log_returns(
    model: Heston, dt: float, steps: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Heston log returns and the variance path (``steps + 1`` values), full-truncation Euler."""
    z1 = rng.standard_normal(steps)
    z2 = model.rho * z1 + math.sqrt(1.0 - model.rho**2) * rng.standard_normal(steps)
    out = np.empty(steps)
    variance = np.empty(steps + 1)
    v = variance[0] = model.v0
    root_dt = math.sqrt(dt)
    for i in range(steps):
        vp = v if v > 0.0 else 0.0
        out[i] = (model.mu - 0.5 * vp) * dt + math.sqrt(vp) * root_dt * z1[i]
        v = v + model.kappa * (model.theta - vp) * dt + model.xi * math.sqrt(vp) * root_dt * z2[i]
        variance[i + 1] = v if v > 0.0 else 0.0
    return out, variance


def merton_log_returns(
    model: Merton, dt: float, steps: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Merton log returns: compensated GBM plus a compound Poisson sum of normal log jumps."""
    k = math.exp(model.jump_mean + 0.5 * model.jump_std**2) - 1.0
    drift = (model.mu - 0.5 * model.sigma**2 - model.lam * k) * dt
    z = rng.standard_normal(steps)
    jumps = rng.poisson(model.lam * dt, steps)
    jump_noise = rng.standard_normal(steps)
    jump_sum = jumps * model.jump_mean + np.sqrt(jumps) * model.jump_std * jump_noise
    return drift + model.sigma * math.sqrt(dt) * z + jump_sum
