"""SABR implied volatility by Hagan's lognormal expansion.

Hagan, Kumar, Lesniewski and Woodward, "Managing Smile Risk", Wilmott (2002), eq. (2.17a)::

    sigma_B(K) = alpha / ((FK)^((1-beta)/2) [1 + (1-beta)^2/24 l^2 + (1-beta)^4/1920 l^4])
                 * z / x(z)
                 * [1 + ((1-beta)^2/24 alpha^2/(FK)^(1-beta)
                         + rho beta nu alpha / (4 (FK)^((1-beta)/2)) + (2 - 3 rho^2)/24 nu^2) T]

    l = ln(F/K),   z = nu/alpha (FK)^((1-beta)/2) l,
    x(z) = ln[(sqrt(1 - 2 rho z + z^2) + z - rho) / (1 - rho)].

``z/x(z) -> 1`` at the money; near it the series ``1/(1 + rho z/2 + (3rho^2-1) z^2/6 + ...)``
(from ``x'(z) = (1 - 2 rho z + z^2)^(-1/2)``, the Legendre generating function) replaces the ratio,
so the smile is smooth through ``K = F``. For ``z < 0`` the log's argument is rewritten as
``(1 - rho^2) / (sqrt(...) - z + rho)`` to avoid cancellation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optex.pricing._errors import FloatArray, check, finite, non_negative, positive

# Below this |z| the series for z/x(z) to z^3 is accurate to ~z^4 < 1e-16.
SERIES_Z = 1e-4


def _z_over_x(z: FloatArray, rho: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(1.0 - 2.0 * rho * z + z * z)
        arg = np.where(
            z >= 0.0,
            (root + z - rho) / (1.0 - rho),
            (1.0 + rho) / (root - z + rho),
        )
        ratio = z / np.log(arg)
    p2 = 0.5 * (3.0 * rho * rho - 1.0)
    p3 = 0.5 * (5.0 * rho**3 - 3.0 * rho)
    series = 1.0 / (1.0 + z * (0.5 * rho + z * (p2 / 3.0 + z * p3 / 4.0)))
    return np.where(np.abs(z) < SERIES_Z, series, ratio)


def sabr_vol(
    *, forward: Any, strike: Any, t: Any, alpha: Any, beta: Any, rho: Any, nu: Any
) -> FloatArray:
    """Hagan's (2002) lognormal SABR volatility; arguments broadcast, returns an array."""
    F = positive(forward, "forward")
    K = positive(strike, "strike")
    T = non_negative(t, "t")
    a = positive(alpha, "alpha")
    b = finite(beta, "beta")
    r = finite(rho, "rho")
    n = non_negative(nu, "nu")
    check(bool(np.all((b >= 0.0) & (b <= 1.0))), "beta", "in [0, 1]", model=True)
    check(bool(np.all(np.abs(r) < 1.0)), "rho", "in (-1, 1)", model=True)
    omb = 1.0 - b
    log_fk = np.log(F / K)
    fk_b = np.exp(0.5 * omb * (np.log(F) + np.log(K)))  # (FK)^((1-beta)/2)
    l2 = log_fk * log_fk
    omb2 = omb * omb
    denom = fk_b * (1.0 + omb2 / 24.0 * l2 + omb2 * omb2 / 1920.0 * l2 * l2)
    z = n / a * fk_b * log_fk
    correction = (
        1.0
        + (
            omb2 / 24.0 * a * a / (fk_b * fk_b)
            + 0.25 * r * b * n * a / fk_b
            + (2.0 - 3.0 * r * r) / 24.0 * n * n
        )
        * T
    )
    return np.asarray(a / denom * _z_over_x(z, r) * correction)
