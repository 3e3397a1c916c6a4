"""Heston (1993) European options by the COS method on a stable characteristic function.

Model: ``dS = (r - q) S dt + sqrt(v) S dW1``, ``dv = kappa (theta - v) dt + xi sqrt(v) dW2``,
``dW1 dW2 = rho dt``.

Characteristic function of ``Y = ln(S_T / F_T)`` in the "little Heston trap" form of
Albrecher, Mayer, Schoutens and Tistaert (Wilmott 2007)::

    beta = kappa - rho xi i u,   d = sqrt(beta^2 + xi^2 (i u + u^2)),   g = (beta - d)/(beta + d)
    C = kappa theta / xi^2 [ (beta - d) T - 2 ln((1 - g e^(-dT)) / (1 - g)) ]
    D = (beta - d) / xi^2 (1 - e^(-dT)) / (1 - g e^(-dT))
    phi(u) = exp(C + D v0)

With the principal square root (Re d >= 0) ``|g e^(-dT)| < 1``, so the logarithm never crosses
its branch cut: the form stays continuous for long maturities and when the Feller condition
``2 kappa theta >= xi^2`` fails.

Pricing (Fang and Oosterlee, SIAM J. Sci. Comput. 31(2), 2008): the density of ``Y`` is expanded
in a cosine series on ``[a, b]`` and the put is integrated against it exactly::

    P = e^(-rT) K sum'_k A_k V_k(x),   A_k = 2/(b-a) Re[phi(u_k) e^(-i u_k a)],   u_k = k pi/(b-a)
    V_k(x) = psi_k(a, d) - e^x chi_k(a, d),   d = min(-x, b),   x = ln(F/K)

and calls follow from put-call parity. ``A_k`` depends on the maturity only, so one evaluation of
``phi`` serves every strike of a smile; the strike-dependent ``cos(k theta)``/``sin(k theta)`` are
built by complex multiplication along ``k``.

Error control (see docs/pricing.md): the range is ``c1 -+ L sqrt(c2 + sqrt(c4))`` with
``L = RANGE_L`` on cumulants taken numerically from ``ln phi``, and the series runs until
``|phi(u_k)|`` falls below ``CF_TOLERANCE``, so the two truncation errors are about
``K * 1e-12``; the tests hold prices to 1e-9 against 50-digit references and adaptive quadrature.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optex.pricing._errors import (
    FloatArray,
    as_call,
    check,
    finite,
    non_negative,
    positive,
)

ComplexArray = np.ndarray[Any, np.dtype[np.complex128]]

# L = 16 on sqrt(c2 + sqrt(c4)) keeps the range error below 1e-10 of the strike in the cases
# of tests/pricing/test_heston.py (Fang-Oosterlee's L = 12 leaves 1e-8 on heavy left tails).
RANGE_L = 16.0
CF_TOLERANCE = 1e-14
MIN_TERMS = 64
MAX_TERMS = 1 << 15


def heston_cf(
    u: Any, *, t: float, v0: float, kappa: float, theta: float, xi: float, rho: float
) -> ComplexArray:
    """``E[exp(i u ln(S_T/F_T))]`` under Heston, little-trap form; ``u`` may be complex."""
    u = np.asarray(u, dtype=np.complex128)
    iu = 1j * u
    beta = kappa - rho * xi * iu
    d = np.sqrt(beta * beta + xi * xi * (iu + u * u))
    bmd = beta - d
    g = bmd / (beta + d)
    e = np.exp(-d * t)
    one_minus_ge = 1.0 - g * e
    xi2 = xi * xi
    c = (kappa * theta / xi2) * (bmd * t - 2.0 * np.log(one_minus_ge / (1.0 - g)))
    dd = (bmd / xi2) * (1.0 - e) / one_minus_ge
    return np.asarray(np.exp(c + dd * v0))


def _cumulants(params: dict[str, float]) -> tuple[float, float, float]:
    """``c1, c2, c4`` of ``Y`` from ``ln phi`` by Richardson-combined differences at small u."""
    var = max(params["v0"], params["theta"], 1e-8) * params["t"]
    h = 0.05 / np.sqrt(var)
    lp = np.log(heston_cf(np.array([h, 2.0 * h]), **params))
    re1, re2 = lp.real
    # Re ln phi(h) = -c2 h^2/2 + c4 h^4/24 + O(h^6); Im ln phi(h) = c1 h + O(h^3).
    c4 = 24.0 * (re2 - 4.0 * re1) / (12.0 * h**4)
    c2 = -2.0 * (re1 - c4 * h**4 / 24.0) / h**2
    c1 = (8.0 * lp[0].imag - lp[1].imag) / (6.0 * h)
    return float(c1), float(max(c2, 1e-300)), float(abs(c4))


def _terms(params: dict[str, float], width: float) -> int:
    """Number of cosine terms: where ``|phi(k pi / width)|`` has fallen below tolerance.

    ``|phi|`` is probed on a geometric grid in one vectorized call; the first probe below the
    tolerance past which every probe stays below it sets the count.
    """
    k = np.geomspace(MIN_TERMS, MAX_TERMS, 48)
    mag = np.abs(heston_cf(k * (np.pi / width), **params))
    above = np.flatnonzero(~(mag < CF_TOLERANCE))
    if above.size == 0:
        return MIN_TERMS
    last = above[-1]
    return int(k[min(last + 1, k.size - 1)])


def _cos_put_undiscounted(x: FloatArray, params: dict[str, float]) -> FloatArray:
    """``E[(1 - e^(x+Y))^+]``: the undiscounted put divided by K, for each ``x = ln(F/K)``."""
    c1, c2, c4 = _cumulants(params)
    half = RANGE_L * np.sqrt(c2 + np.sqrt(c4))
    a, b = c1 - half, c1 + half
    width = b - a
    n = _terms(params, width)
    k = np.arange(n, dtype=np.float64)
    u = k * (np.pi / width)
    coef = (2.0 / width) * (heston_cf(u, **params) * np.exp(-1j * u * a)).real
    coef[0] *= 0.5  # the primed sum halves the first term

    d = np.minimum(-x, b)
    live = d > a
    theta = (np.pi / width) * (np.where(live, d, a) - a)
    # cos(k theta) + i sin(k theta) by running products: one complex exp per strike.
    step = np.exp(1j * theta)
    phase = np.empty((x.size, n), dtype=np.complex128)
    phase[:, 0] = 1.0
    phase[:, 1:] = step[:, None]
    np.cumprod(phase, axis=1, out=phase)
    cos_m, sin_m = phase.real, phase.imag

    inv_u = np.zeros(n)
    inv_u[1:] = 1.0 / u[1:]
    damp = 1.0 / (1.0 + u * u)
    psi = sin_m @ (coef * inv_u) + coef[0] * (d - a)
    ed = np.exp(d)
    chi = ed * (cos_m @ (coef * damp) + sin_m @ (coef * u * damp)) - np.exp(a) * np.sum(coef * damp)
    put = psi - np.exp(x) * chi
    return np.where(live, np.maximum(put, 0.0), 0.0)


def heston_price(
    *,
    spot: Any,
    strike: Any,
    t: Any,
    rate: Any,
    div: Any,
    v0: Any,
    kappa: Any,
    theta: Any,
    xi: Any,
    rho: Any,
    call: Any = True,
) -> FloatArray:
    """Heston value of European options; one characteristic-function pass per distinct maturity
    and parameter set, shared by all strikes. Arguments broadcast; returns an array.
    """
    S = positive(spot, "spot")
    K = positive(strike, "strike")
    T = positive(t, "t")
    r = finite(rate, "rate")
    q = finite(div, "div")
    model = {
        "v0": non_negative(v0, "v0"),
        "kappa": positive(kappa, "kappa"),
        "theta": positive(theta, "theta"),
        "xi": positive(xi, "xi"),
        "rho": finite(rho, "rho"),
    }
    check(bool(np.all(np.abs(model["rho"]) <= 1.0)), "rho", "in [-1, 1]", model=True)
    c = as_call(call)
    arrays = [S, K, T, r, q, *model.values(), np.asarray(c)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    S, K, T, r, q, v0a, ka, tha, xia, rhoa, ca = (np.broadcast_to(a, shape).ravel() for a in arrays)
    F = S * np.exp((r - q) * T)
    x = np.log(F / K)
    out = np.empty(F.shape)
    keys = np.stack([T, v0a, ka, tha, xia, rhoa], axis=1)
    uniq, group = np.unique(keys, axis=0, return_inverse=True)
    for g, (tg, v0g, kg, thg, xig, rhog) in enumerate(uniq):
        idx = np.flatnonzero(group.ravel() == g)
        params = {"t": tg, "v0": v0g, "kappa": kg, "theta": thg, "xi": xig, "rho": rhog}
        out[idx] = _cos_put_undiscounted(x[idx], params)
    df = np.exp(-r * T)
    put = df * K * out
    price = np.where(ca, put + df * (F - K), put)
    return price.reshape(shape)
