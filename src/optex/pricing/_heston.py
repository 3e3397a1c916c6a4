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
``phi`` serves every strike of a smile; the strike-dependent sums over ``cos(k theta)`` and
``sin(k theta)`` are one matrix product by a baby-step giant-step split of ``k`` (see
``_fourier_sums``), never an ``N x strikes`` table of cosines.

Error control (see docs/pricing.md): the range is ``c1 -+ L sqrt(c2 + sqrt(c4))`` with
``L = RANGE_L`` on cumulants taken numerically from ``ln phi``, and the series runs until
``|phi(u_k)|`` falls below ``CF_TOLERANCE``, so the two truncation errors are about
``K * 1e-12``; the tests hold prices to 1e-9 against 50-digit references and adaptive quadrature.
"""

from __future__ import annotations

import math
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
LOG_CF_TOLERANCE = math.log(CF_TOLERANCE)
MIN_TERMS = 64
MAX_TERMS = 1 << 15
# |phi| is probed at u = PROBE / sqrt(var), var = max(v0, theta) T, for the term count: 128 points
# a ratio of 1.095 apart (so the count is at most 9.5 % high) span 64 to 32768 terms for range
# widths from 2 to 400 sqrt(var); outside that span the count can only come out too large.
PROBE = np.geomspace(0.5, 5e4, 128)


def _log_cf(
    u: Any, *, t: float, v0: float, kappa: float, theta: float, xi: float, rho: float
) -> ComplexArray:
    """``ln phi(u) = C + D v0`` of the little-trap form (module docstring); ``u`` may be complex.

    ``ln((1 - g e^(-dT)) / (1 - g))`` is taken as ``ln|.| + i arg(.)``: the same principal value
    as the complex logarithm, at half its cost.
    """
    u = np.asarray(u, dtype=np.complex128)
    iu = 1j * u
    beta = kappa - rho * xi * iu
    d = np.sqrt(beta * beta + xi * xi * (iu + u * u))
    bmd = beta - d
    g = bmd / (beta + d)
    e = np.exp(-d * t)
    one_minus_ge = 1.0 - g * e
    ratio = one_minus_ge / (1.0 - g)
    log_ratio = np.log(np.abs(ratio)) + 1j * np.arctan2(ratio.imag, ratio.real)
    xi2 = xi * xi
    c = (kappa * theta / xi2) * (bmd * t - 2.0 * log_ratio)
    dd = (bmd / xi2) * (1.0 - e) / one_minus_ge
    return np.asarray(c + dd * v0)


def heston_cf(
    u: Any, *, t: float, v0: float, kappa: float, theta: float, xi: float, rho: float
) -> ComplexArray:
    """``E[exp(i u ln(S_T/F_T))]`` under Heston, little-trap form; ``u`` may be complex."""
    return np.exp(_log_cf(u, t=t, v0=v0, kappa=kappa, theta=theta, xi=xi, rho=rho))


def _range_and_terms(params: dict[str, float]) -> tuple[float, float, int]:
    """Truncation range ``[a, b]`` and number of cosine terms, from one evaluation of ``ln phi``.

    Cumulants ``c1, c2, c4`` come from Richardson-combined differences of ``ln phi`` at two small
    ``u``: ``Re ln phi(h) = -c2 h^2/2 + c4 h^4/24 + O(h^6)``, ``Im ln phi(h) = c1 h + O(h^3)``.
    The term count is where ``|phi(k pi / (b - a))|`` has fallen below ``CF_TOLERANCE`` for good:
    the first probe past which every probe stays below it.
    """
    scale = 1.0 / math.sqrt(max(params["v0"], params["theta"], 1e-8) * params["t"])
    h = 0.05 * scale
    lp = _log_cf(np.concatenate(([h, 2.0 * h], PROBE * scale)), **params)
    lp1, lp2 = lp[:2].tolist()
    c4 = abs(24.0 * (lp2.real - 4.0 * lp1.real) / (12.0 * h**4))
    c2 = max(-2.0 * (lp1.real - c4 * h**4 / 24.0) / h**2, 1e-300)
    c1 = (8.0 * lp1.imag - lp2.imag) / (6.0 * h)
    half = RANGE_L * math.sqrt(c2 + math.sqrt(c4))
    above = np.flatnonzero(~(lp[2:].real < LOG_CF_TOLERANCE))
    if above.size == 0:
        n = MIN_TERMS
    elif above[-1] + 1 < PROBE.size:
        u_stop = float(PROBE[above[-1] + 1]) * scale
        n = min(max(math.ceil(u_stop * 2.0 * half / math.pi), MIN_TERMS), MAX_TERMS)
    else:
        n = MAX_TERMS
    return c1 - half, c1 + half, n


def _fourier_sums(weights: FloatArray, theta: FloatArray) -> ComplexArray:
    """``sum_k w_(j,k) e^(i k theta_m)`` for each row ``j`` of real weights and each angle.

    Baby-step giant-step: with ``k = p B + q``, ``e^(i k theta) = (e^(i B theta))^p e^(i q theta)``,
    so the ``N x M`` phases are never formed: ``B ~ sqrt(N)`` baby and ``N / B`` giant powers and
    one real matrix product (against the baby powers' real and imaginary parts) do the work.
    """
    rows, n = weights.shape
    baby = int(np.ceil(np.sqrt(n)))
    giant = -(-n // baby)
    padded = np.zeros((rows, giant * baby))
    padded[:, :n] = weights
    z = np.exp(1j * theta)
    baby_powers = _powers(z, baby)
    giant_powers = _powers(baby_powers[-1] * z, giant)
    inner = (padded.reshape(rows * giant, baby) @ baby_powers.view(np.float64)).view(np.complex128)
    inner = inner.reshape(rows, giant, theta.size)
    inner *= giant_powers
    return np.asarray(inner.sum(axis=1))


def _powers(z: ComplexArray, n: int) -> ComplexArray:
    """``z^j`` for ``j < n`` as rows, by doubling: ``z^(m+j) = z^m z^j``, ``log2 n`` products."""
    out = np.empty((n, z.size), dtype=np.complex128)
    out[0] = 1.0
    m = 1
    while m < n:
        step = min(m, n - m)
        np.multiply(out[:step], out[m - 1] * z, out=out[m : m + step])
        m += step
    return out


def _cos_put_undiscounted(x: FloatArray, params: dict[str, float]) -> FloatArray:
    """``E[(1 - e^(x+Y))^+]``: the undiscounted put divided by K, for each ``x = ln(F/K)``.

    With ``d = min(-x, b)`` and ``theta = u_1 (d - a)`` the put's cosine coefficients are
    ``psi_k = sin(k theta)/u_k`` (``d - a`` for ``k = 0``) and
    ``chi_k = [e^d (cos(k theta) + u_k sin(k theta)) - e^a] / (1 + u_k^2)``, so three Fourier
    sums in ``theta`` (weights ``A_k / u_k``, ``A_k / (1 + u_k^2)`` and ``A_k u_k / (1 + u_k^2)``)
    give every strike at once.
    """
    a, b, n = _range_and_terms(params)
    width = b - a
    u = np.arange(n, dtype=np.float64) * (np.pi / width)
    lp = _log_cf(u, **params)
    # A_k = 2/(b-a) Re[phi(u_k) e^(-i u_k a)], from ln phi in real arithmetic.
    coef = np.exp(lp.real)
    coef *= np.cos(lp.imag - u * a)
    coef *= 2.0 / width
    coef[0] *= 0.5  # the primed sum halves the first term

    d = np.minimum(-x, b)
    live = d > a
    theta = (np.pi / width) * (np.where(live, d, a) - a)
    weights = np.zeros((3, n))
    np.divide(coef[1:], u[1:], out=weights[0, 1:])
    damp = np.divide(coef, 1.0 + u * u, out=weights[1])
    np.multiply(damp, u, out=weights[2])
    sums = _fourier_sums(weights, theta)
    psi = sums[0].imag + coef[0] * (d - a)
    chi = np.exp(d) * (sums[1].real + sums[2].imag) - math.exp(a) * damp.sum()
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
    slice_keys = (T, *model.values())
    shape = np.broadcast_shapes(
        S.shape, K.shape, r.shape, q.shape, np.shape(c), *(a.shape for a in slice_keys)
    )
    F = S * np.exp((r - q) * T)
    x = np.broadcast_to(np.log(F / K), shape).ravel()
    names = ("t", *model)
    if all(a.size == 1 for a in slice_keys):
        # One maturity and parameter set, as for a smile: every strike shares one pass.
        put = _cos_put_undiscounted(
            x, {k: a.item() for k, a in zip(names, slice_keys, strict=True)}
        )
    else:
        put = np.empty(x.shape)
        keys = np.stack([np.broadcast_to(a, shape).ravel() for a in slice_keys], axis=1)
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        for g, row in enumerate(uniq):
            idx = np.flatnonzero(group.ravel() == g)
            put[idx] = _cos_put_undiscounted(x[idx], dict(zip(names, row.tolist(), strict=True)))
    df = np.exp(-r * T)
    put = df * K * put.reshape(shape)
    if c is False:
        return put
    call_value = put + df * (F - K)
    return call_value if c is True else np.asarray(np.where(c, call_value, put))
