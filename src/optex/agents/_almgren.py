"""Almgren and Chriss (2000), "Optimal execution of portfolio transactions": the trajectory.

Selling ``X`` units over ``T`` in ``N`` intervals of ``tau = T / N`` with volatility ``sigma``
(price units per sqrt time unit), linear permanent impact ``gamma``, linear temporary impact
``eta`` and risk aversion ``lambda``, the mean-variance optimal holdings are (their eq. 18)::

    x_j = sinh(kappa (T - t_j)) / sinh(kappa T) * X,        t_j = j tau,

where ``kappa`` solves ``2 (cosh(kappa tau) - 1) / tau^2 = kappa_tilde^2`` with
``kappa_tilde^2 = lambda sigma^2 / eta_tilde`` and ``eta_tilde = eta (1 - gamma tau / (2 eta))
= eta - gamma tau / 2``, i.e. ``kappa = arccosh(kappa_tilde^2 tau^2 / 2 + 1) / tau``. As
``lambda -> 0`` the trajectory tends to the straight line of TWAP.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from optex.agents._errors import AgentReason
from optex.core import InvalidInput


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise InvalidInput(AgentReason.INVALID_SCHEDULE, f"Almgren-Chriss: {what}")


def ac_kappa(*, sigma: float, eta: float, gamma: float, risk_aversion: float, tau: float) -> float:
    """The urgency ``kappa`` (per time unit) of the discrete-time optimal trajectory."""
    _require(tau > 0, "tau must be positive")
    _require(sigma >= 0 and gamma >= 0 and risk_aversion >= 0, "parameters must be >= 0")
    eta_tilde = eta - 0.5 * gamma * tau
    _require(eta_tilde > 0, "eta - gamma tau / 2 must be positive")
    kappa_tilde_sq = risk_aversion * sigma * sigma / eta_tilde
    return math.acosh(0.5 * kappa_tilde_sq * tau * tau + 1.0) / tau


def ac_trajectory(
    quantity: float,
    horizon: float,
    intervals: int,
    *,
    sigma: float,
    eta: float,
    gamma: float,
    risk_aversion: float,
) -> npt.NDArray[np.float64]:
    """Holdings ``x_0 = X, ..., x_N = 0`` at ``t_j = j T / N`` (floats, the paper's units)."""
    _require(intervals >= 1, "intervals must be at least 1")
    _require(horizon > 0, "the horizon must be positive")
    tau = horizon / intervals
    kappa = ac_kappa(sigma=sigma, eta=eta, gamma=gamma, risk_aversion=risk_aversion, tau=tau)
    t = np.arange(intervals + 1) * tau
    if kappa * horizon < 1e-8:
        return np.asarray(quantity * (1.0 - t / horizon))
    # sinh ratio written with exponentials scaled by e^(-kappa T), so that it cannot overflow.
    scaled = np.expm1(-2.0 * kappa * (horizon - t)) / np.expm1(-2.0 * kappa * horizon)
    holdings = quantity * np.exp(-kappa * t) * scaled
    holdings[-1] = 0.0
    return np.asarray(holdings)


def ac_trade_list(
    quantity: int,
    intervals: int,
    lot: int,
    *,
    sigma: float,
    eta: float,
    gamma: float,
    risk_aversion: float,
    horizon: float = 1.0,
) -> list[int]:
    """The trajectory as integer child sizes on the lot grid, summing to ``quantity``.

    Cumulative targets are rounded to lots and differenced, so rounding never accumulates.
    """
    _require(quantity > 0 and lot > 0 and quantity % lot == 0, "quantity must be whole lots")
    holdings = ac_trajectory(
        quantity / lot,
        horizon,
        intervals,
        sigma=sigma,
        eta=eta,
        gamma=gamma,
        risk_aversion=risk_aversion,
    )
    done = np.rint(holdings[0] - holdings).astype(np.int64)
    done[-1] = quantity // lot
    return [int(d) * lot for d in np.diff(done)]
