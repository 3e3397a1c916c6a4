"""The normalised Black function and its derivatives in total volatility, accurate everywhere.

Following Jäckel ("Let's Be Rational", Wilmott 2015), a Black price is normalised to

    b(x, s) = e^(x/2) N(x/s + s/2) - e^(-x/2) N(x/s - s/2),   x = ln(F/K),  s = sigma sqrt(T),

(the undiscounted call divided by sqrt(F K)). Only out-of-the-money calls (``x <= 0``) are ever
evaluated: in-the-money calls and all puts reduce to them by put-call symmetry. With
``h = x/s`` and ``t = s/2``::

    b = e^(-(h^2+t^2)/2) R(h, t)

and ``R`` is computed three ways so that ``b`` keeps full relative accuracy even when it is
10^-300:

* ``t < SMALL_T``: a Taylor series in ``t`` of ``R = phi(0) [Y(h+t) - Y(h-t)]`` with
  ``Y = N/phi`` (Mills' ratio), whose derivatives obey ``Y' = 1 + hY``. Differencing ``Y`` would
  lose ``|h|/(2t)`` of the significant digits here.
* ``h <= -12`` and ``t < 0.5``: the same series, with ``Y^(n)`` from the asymptotic expansion
  ``Y(h) = -1/h + 1/h^3 - 3/h^5 + ... `` (Abramowitz & Stegun 26.2.12), whose terms there fall
  below 1e-17 of the first within 18 terms.
* ``h + t <= 0.85``: ``R = (erfcx(-(h+t)/sqrt2) - erfcx(-(h-t)/sqrt2)) / 2``, free of underflow.
* otherwise the direct formula with ``N`` (``ndtr``), where no cancellation occurs.

The derivatives in ``s`` are closed form: ``b' = e^(-(h^2+t^2)/2) / sqrt(2 pi)``,
``b''/b' = x^2/s^3 - s/4`` and ``b'''/b' = (x^2/s^3 - s/4)^2 - 3x^2/s^4 - 1/4``.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import polynomial as npoly
from scipy.special import erfcx, ndtr

from optex.pricing._errors import FloatArray

SQRT_HALF = 0.707106781186547524400844362104849039
SQRT_HALF_PI = (
    1.25331413731550025120788264240552263  # sqrt(pi/2): Y(h) = sqrt(pi/2) erfcx(-h/sqrt2)
)
INV_SQRT_2PI = 0.398942280401432677939946059934381868

# Below this t the erfcx difference would cancel more than two digits; with the series up to
# t^9 the first omitted term is below 1e-17 relative there (t^11/11! < 1.3e-22 times |Y^(11)|).
SMALL_T = 0.05
# Beyond |h| = 12 the series' polynomial terms cancel; the erfcx branch is used instead.
SERIES_MAX_ABS_H = 12.0
_SERIES_ORDERS = (1, 3, 5, 7, 9)
# N(z) stays a normal (not subnormal) double for z > -37.5; below this b leaves ndtr's range.
NDTR_MIN_ARGUMENT = 36.0


def _mills_derivative_polynomials() -> list[tuple[FloatArray, FloatArray, float]]:
    """``(p_n, q_n, 1/n!)`` with ``Y^(n)(h) = p_n(h) + q_n(h) Y(h)`` for the odd ``n`` used.

    From ``Y' = 1 + hY``: ``p_(n+1) = p_n' + q_n`` and ``q_(n+1) = q_n' + h q_n``.
    """
    p: FloatArray = np.array([0.0])
    q: FloatArray = np.array([1.0])
    out = []
    factorial = 1.0
    for n in range(1, max(_SERIES_ORDERS) + 1):
        p, q = (
            np.asarray(npoly.polyadd(npoly.polyder(p), q), dtype=np.float64),
            np.asarray(npoly.polyadd(npoly.polyder(q), npoly.polymulx(q)), dtype=np.float64),
        )
        factorial *= n
        if n in _SERIES_ORDERS:
            out.append(
                (np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64), 1.0 / factorial)
            )
    return out


_SERIES = _mills_derivative_polynomials()


def _coefficient_table() -> FloatArray:
    """Rows ``p_1, q_1, p_3, q_3, ...`` padded with leading zeros to one degree, for Horner."""
    rows = [c for p, q, _ in _SERIES for c in (p, q)]
    table = np.zeros((len(rows), max(r.size for r in rows)))
    for i, r in enumerate(rows):
        table[i, : r.size] = r
    return table


_SERIES_TABLE = _coefficient_table()


def _series_r(h: FloatArray, t: FloatArray) -> FloatArray:
    """``R`` for small ``t``: ``2 phi(0) sum_(n odd) Y^(n)(h) t^n / n!``.

    Horner's scheme runs on all ten polynomials at once (the padding zeros change no bit).
    """
    y = SQRT_HALF_PI * erfcx(-h * SQRT_HALF)
    acc = np.empty((_SERIES_TABLE.shape[0], h.size))
    acc[:] = _SERIES_TABLE[:, -1:]
    for j in range(_SERIES_TABLE.shape[1] - 2, -1, -1):
        acc *= h
        acc += _SERIES_TABLE[:, j : j + 1]
    t2 = t * t
    power = t.copy()
    total = np.zeros_like(h)
    for i, (_, _, inv_fact) in enumerate(_SERIES):
        total += (acc[2 * i] + acc[2 * i + 1] * y) * (power * inv_fact)
        power *= t2
    return (2.0 * INV_SQRT_2PI) * total


_ASYMPTOTIC_TERMS = 18
_ASYMPTOTIC_ORDERS = (1, 3, 5, 7, 9, 11, 13)
_ASYMPTOTIC_MAX_T = 0.5


def _asymptotic_coefficients() -> list[tuple[FloatArray, float]]:
    """``(c_(n,k), 1/n!)`` with ``Y^(n)(h) = sum_k c_(n,k) h^-(2k+1+n)`` for large negative h."""
    out = []
    for n in _ASYMPTOTIC_ORDERS:
        coef = np.empty(_ASYMPTOTIC_TERMS)
        for k in range(_ASYMPTOTIC_TERMS):
            a_k = (-1.0) ** (k + 1) * float(np.prod(np.arange(1, 2 * k, 2), dtype=np.float64))
            rising = float(np.prod(np.arange(2 * k + 1, 2 * k + 1 + n), dtype=np.float64))
            coef[k] = a_k * (-1.0) ** n * rising
        out.append((coef, 1.0 / float(np.prod(np.arange(1, n + 1), dtype=np.float64))))
    return out


_ASYMPTOTIC = _asymptotic_coefficients()


def _asymptotic_r(h: FloatArray, t: FloatArray) -> FloatArray:
    """``R`` for ``h <= -12``, small ``t``: the Taylor series in t with asymptotic ``Y^(n)``."""
    u = 1.0 / h
    u2 = u * u
    total = np.zeros_like(h)
    for (coef, inv_fact), n in zip(_ASYMPTOTIC, _ASYMPTOTIC_ORDERS, strict=True):
        acc = np.full_like(h, coef[-1])
        for c in coef[-2::-1]:
            acc = acc * u2 + c
        total += acc * u ** (n + 1) * t**n * inv_fact
    return (2.0 * INV_SQRT_2PI) * total


def reduced_black(x: FloatArray, s: FloatArray) -> FloatArray:
    """``R = b(x, s) e^((h^2+t^2)/2)`` for ``x <= 0``, ``s > 0`` (arrays of one shape)."""
    h = x / s
    t = 0.5 * s
    hpt = h + t
    r = 0.5 * (erfcx(-hpt * SQRT_HALF) - erfcx((t - h) * SQRT_HALF))
    small = (t < SMALL_T) & (h > -SERIES_MAX_ABS_H)
    if np.any(small):
        r[small] = _series_r(h[small], t[small])
    far = (h <= -SERIES_MAX_ABS_H) & (t < _ASYMPTOTIC_MAX_T)
    if np.any(far):
        r[far] = _asymptotic_r(h[far], t[far])
    large = hpt > 0.85
    if np.any(large):
        xl, hl, tl = x[large], h[large], t[large]
        b = np.exp(0.5 * xl) * ndtr(hl + tl) - np.exp(-0.5 * xl) * ndtr(hl - tl)
        r[large] = b * np.exp(0.5 * (hl * hl + tl * tl))
    return np.asarray(r, dtype=np.float64)


def normalised_black(x: FloatArray, s: FloatArray) -> FloatArray:
    """``b(x, s)`` for out-of-the-money calls, ``x <= 0``, ``s > 0``."""
    h = x / s
    t = 0.5 * s
    return reduced_black(x, s) * np.exp(-0.5 * (h * h + t * t))


def normalised_black_direct(x: FloatArray, s: FloatArray) -> FloatArray:
    """``b(x, s)`` for ``x <= 0``, ``s > 0`` by the direct formula with ``ndtr``, at a fifth of
    the cost of ``erfcx``; the series regions, and arguments where ``N(h - t)`` would leave the
    normal range, go through :func:`normalised_black`.

    Where the two terms cancel ``C``-fold (``C ~ (1 + |h|)/(2t)``, at most ~130 outside the series
    regions) the rounding of each ``N(z)``'s argument costs ``z^2`` ulps, so the relative error
    is about ``C z^2`` ulps instead of ``C`` ulps: 4e-14 at ``|h| = 3`` against mpmath. The
    implied-vol iteration uses it because its objective ``ln b - ln beta`` then needs no
    ``(h^2 + t^2)/2`` subtracted, which more than pays back that error (see
    tests/pricing/test_fast_paths.py).
    """
    h = x / s
    t = 0.5 * s
    b = np.exp(0.5 * x) * ndtr(h + t)
    b -= np.exp(-0.5 * x) * ndtr(h - t)
    special = (
        ((t < SMALL_T) & (h > -SERIES_MAX_ABS_H))
        | ((h <= -SERIES_MAX_ABS_H) & (t < _ASYMPTOTIC_MAX_T))
        | (h - t < -NDTR_MIN_ARGUMENT)
    )
    if np.any(special):
        b[special] = normalised_black(x[special], s[special])
    return np.asarray(b)


def normalised_black_complement(x: FloatArray, s: FloatArray) -> FloatArray:
    """``e^(x/2) - b(x, s) = e^(x/2) N(-h-t) + e^(-x/2) N(h-t)``: no cancellation for large s."""
    h = x / s
    t = 0.5 * s
    return np.asarray(np.exp(0.5 * x) * ndtr(-h - t) + np.exp(-0.5 * x) * ndtr(h - t))
