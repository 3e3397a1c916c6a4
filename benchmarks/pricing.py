"""Benchmark optex.pricing against the libraries a user would pick instead, in one process.

Cases (data as in shared/reference/peers.md: F = 100, K = F e^U(-0.3, 0.3), T ~ U(0.05, 2),
sigma ~ U(0.1, 1), r = 3%, seeded):

* ``black76_price`` and ``black76_greeks`` for 1e6 options against a bare NumPy evaluation of the
  same formulas with ``scipy.special.ndtr``, QuantLib's ``blackFormula``, vollib and
  py_vollib_vectorized;
* implied volatility for 1e6 options against py_vollib_vectorized, QuantLib's
  ``blackFormulaImpliedStdDev`` and vollib (the scalar peers on a subset);
* Heston for a 100-strike smile against QuantLib's ``AnalyticHestonEngine``.

Each line is one JSON object: time per option (best of 3 runs, of 30 for the Heston smile) and
the maximum error against a high-precision reference (mpmath at 40 digits for Black-76; adaptive
quadrature of the Lewis formula for Heston). Peers that do not import are reported as
unavailable. ``--quick`` runs small sizes for a smoke test.

Run with a Python that has the peers, e.g. ``/work/benchvenv/pricing/bin/python``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.integrate import quad
from scipy.special import ndtr

from optex.pricing import (
    black76_greeks,
    black76_price,
    heston_cf,
    heston_price,
    implied_vol,
)

RATE = 0.03


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def data(n: int, seed: int = 42) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    forward = 100.0
    strike = forward * np.exp(rng.uniform(-0.3, 0.3, n))
    t = rng.uniform(0.05, 2.0, n)
    vol = rng.uniform(0.1, 1.0, n)
    return forward, strike, t, vol


def bare_price(F: float, K: np.ndarray, T: np.ndarray, r: float, v: np.ndarray) -> np.ndarray:  # noqa: N803
    sd = v * np.sqrt(T)
    d1 = (np.log(F / K) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    return np.exp(-r * T) * (F * ndtr(d1) - K * ndtr(d2))


def bare_greeks(F: float, K: np.ndarray, T: np.ndarray, r: float, v: np.ndarray) -> tuple:  # noqa: N803
    sqrt_t = np.sqrt(T)
    sd = v * sqrt_t
    d1 = (np.log(F / K) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    df = np.exp(-r * T)
    n1 = np.exp(-0.5 * d1 * d1) / np.sqrt(2 * np.pi)
    nd1, nd2 = ndtr(d1), ndtr(d2)
    value = df * (F * nd1 - K * nd2)
    vega = df * F * n1 * sqrt_t
    return (
        df * nd1,
        df * n1 / (F * sd),
        vega,
        r * value - df * F * n1 * v / (2 * sqrt_t),
        -T * value,
        -df * n1 * d2 / v,
        vega * d1 * d2 / v,
    )


def mp_reference(F: float, K: np.ndarray, T: np.ndarray, v: np.ndarray) -> np.ndarray | None:  # noqa: N803
    try:
        import mpmath as mp
    except ImportError:
        return None
    mp.mp.dps = 40
    out = []
    for k, t, s in zip(K, T, v, strict=True):
        f, k_, t_, s_ = mp.mpf(F), mp.mpf(float(k)), mp.mpf(float(t)), mp.mpf(float(s))
        sd = s_ * mp.sqrt(t_)
        d1 = mp.log(f / k_) / sd + sd / 2
        out.append(float(mp.exp(-RATE * t_) * (f * mp.ncdf(d1) - k_ * mp.ncdf(d1 - sd))))
    return np.array(out)


def bench_black(n: int, n_scalar: int, repeat: int) -> None:
    F, K, T, v = data(n)
    sample = np.arange(0, n, max(n // 2000, 1))
    ref = mp_reference(F, K[sample], T[sample], v[sample])

    def err(prices: np.ndarray, idx: np.ndarray = sample) -> float | None:
        if ref is None:
            return None
        pos = np.searchsorted(sample, idx)
        return float(np.max(np.abs(prices - ref[pos])))

    t_bare = best_time(lambda: bare_price(F, K, T, RATE, v), repeat)
    emit(
        case="black76_price",
        impl="numpy_bare",
        n=n,
        us_per_option=t_bare / n * 1e6,
        max_abs_err=err(bare_price(F, K, T, RATE, v)[sample]),
    )
    t_ox = best_time(lambda: black76_price(forward=F, strike=K, t=T, rate=RATE, vol=v), repeat)
    emit(
        case="black76_price",
        impl="optex",
        n=n,
        us_per_option=t_ox / n * 1e6,
        ratio_to_bare=t_ox / t_bare,
        max_abs_err=err(black76_price(forward=F, strike=K, t=T, rate=RATE, vol=v)[sample]),
    )

    t_bg = best_time(lambda: bare_greeks(F, K, T, RATE, v), repeat)
    t_og = best_time(lambda: black76_greeks(forward=F, strike=K, t=T, rate=RATE, vol=v), repeat)
    emit(case="black76_greeks", impl="numpy_bare", n=n, us_per_option=t_bg / n * 1e6)
    emit(
        case="black76_greeks",
        impl="optex",
        n=n,
        us_per_option=t_og / n * 1e6,
        ratio_to_bare=t_og / t_bg,
    )

    sub = sample[:n_scalar]
    try:
        import QuantLib as ql  # noqa: N813

        def ql_loop() -> np.ndarray:
            return np.array(
                [
                    ql.blackFormula(
                        ql.Option.Call,
                        float(K[i]),
                        F,
                        float(v[i] * np.sqrt(T[i])),
                        float(np.exp(-RATE * T[i])),
                    )
                    for i in sub
                ]
            )

        t = best_time(ql_loop, repeat)
        emit(
            case="black76_price",
            impl="quantlib",
            n=sub.size,
            us_per_option=t / sub.size * 1e6,
            max_abs_err=err(ql_loop(), sub),
        )
    except ImportError:
        emit(case="black76_price", impl="quantlib", status="unavailable")
    try:
        from vollib.black import black as vl_black

        def vl_loop() -> np.ndarray:
            return np.array(
                [vl_black("c", F, float(K[i]), float(T[i]), RATE, float(v[i])) for i in sub]
            )

        t = best_time(vl_loop, repeat)
        emit(
            case="black76_price",
            impl="vollib",
            n=sub.size,
            us_per_option=t / sub.size * 1e6,
            max_abs_err=err(vl_loop(), sub),
        )
    except ImportError:
        emit(case="black76_price", impl="vollib", status="unavailable")
    try:
        import py_vollib_vectorized as pvv

        flags = np.full(n, "c")
        pvv.vectorized_black(flags[:10], F, K[:10], T[:10], RATE, v[:10], return_as="numpy")
        t = best_time(
            lambda: pvv.vectorized_black(flags, F, K, T, RATE, v, return_as="numpy"), repeat
        )
        out = pvv.vectorized_black(flags, F, K, T, RATE, v, return_as="numpy")
        emit(
            case="black76_price",
            impl="py_vollib_vectorized",
            n=n,
            us_per_option=t / n * 1e6,
            max_abs_err=err(np.asarray(out)[sample]),
        )
    except Exception as exc:  # a peer that fails to import or JIT is reported
        emit(
            case="black76_price",
            impl="py_vollib_vectorized",
            status="unavailable",
            error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
        )


def bench_implied(n: int, n_scalar: int, repeat: int) -> None:
    F, K, T, v = data(n, seed=7)
    price = black76_price(forward=F, strike=K, t=T, rate=RATE, vol=v)
    vega = black76_greeks(forward=F, strike=K, t=T, rate=RATE, vol=v).vega
    responsive = vega * v / price > 1e-3

    def score(vols: np.ndarray, idx: np.ndarray) -> dict[str, float]:
        vols = np.asarray(vols, dtype=np.float64)
        rel = np.abs(vols / v[idx] - 1.0)
        resp = responsive[idx]
        repriced = black76_price(
            forward=F, strike=K[idx], t=T[idx], rate=RATE, vol=np.nan_to_num(vols)
        )
        return {
            "max_rel_vol_err": float(np.nanmax(rel[resp])) if resp.any() else 0.0,
            "failed": int(np.sum(~np.isfinite(vols))),
            "max_reprice_err_over_F": float(np.max(np.abs(repriced - price[idx])) / F),
        }

    everything = np.arange(n)
    t = best_time(lambda: implied_vol(price=price, forward=F, strike=K, t=T, rate=RATE), repeat)
    emit(
        case="implied_vol",
        impl="optex",
        n=n,
        us_per_option=t / n * 1e6,
        **score(implied_vol(price=price, forward=F, strike=K, t=T, rate=RATE), everything),
    )
    try:
        import py_vollib_vectorized as pvv

        flags = np.full(n, "c")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pvv.vectorized_implied_volatility_black(
                price[:10], F, K[:10], RATE, T[:10], flags[:10], return_as="numpy"
            )

            def run() -> np.ndarray:
                return np.asarray(
                    pvv.vectorized_implied_volatility_black(
                        price, F, K, RATE, T, flags, return_as="numpy", on_error="ignore"
                    )
                )

            t_p = best_time(run, repeat)
            emit(
                case="implied_vol",
                impl="py_vollib_vectorized",
                n=n,
                us_per_option=t_p / n * 1e6,
                optex_speedup=t_p / t,
                **score(run(), everything),
            )
    except Exception as exc:  # a peer that fails to import or JIT is reported
        emit(
            case="implied_vol",
            impl="py_vollib_vectorized",
            status="unavailable",
            error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
        )
    sub = np.arange(0, n, max(n // n_scalar, 1))[:n_scalar]
    try:
        import QuantLib as ql  # noqa: N813

        def ql_loop() -> np.ndarray:
            out = []
            for i in sub:
                df = float(np.exp(-RATE * T[i]))
                try:
                    sd = ql.blackFormulaImpliedStdDev(
                        ql.Option.Call, float(K[i]), F, float(price[i]), df
                    )
                    out.append(sd / np.sqrt(T[i]))
                except RuntimeError:
                    out.append(np.nan)
            return np.array(out)

        t_q = best_time(ql_loop, repeat)
        emit(
            case="implied_vol",
            impl="quantlib",
            n=sub.size,
            us_per_option=t_q / sub.size * 1e6,
            **score(ql_loop(), sub),
        )
    except ImportError:
        emit(case="implied_vol", impl="quantlib", status="unavailable")
    try:
        from vollib.black.implied_volatility import implied_volatility as vl_iv

        def vl_loop() -> np.ndarray:
            return np.array(
                [vl_iv(float(price[i]), F, float(K[i]), RATE, float(T[i]), "c") for i in sub]
            )

        t_v = best_time(vl_loop, repeat)
        emit(
            case="implied_vol",
            impl="vollib",
            n=sub.size,
            us_per_option=t_v / sub.size * 1e6,
            **score(vl_loop(), sub),
        )
    except ImportError:
        emit(case="implied_vol", impl="vollib", status="unavailable")


HESTON = dict(t=1.0, v0=0.0175, kappa=1.5768, theta=0.0398, xi=0.5751, rho=-0.5711)


def heston_reference(strikes: np.ndarray, spot: float, rate: float, div: float) -> np.ndarray:
    t = HESTON["t"]
    forward = spot * np.exp((rate - div) * t)
    out = []
    for k in strikes:
        x = np.log(forward / k)

        def integrand(u: float, x: float = x) -> float:
            return float(
                (np.exp(1j * u * x) * heston_cf(np.array([u - 0.5j]), **HESTON)[0]).real
                / (u * u + 0.25)
            )

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            integral, _ = quad(integrand, 0.0, np.inf, epsabs=1e-15, epsrel=1e-14, limit=5000)
        out.append(np.exp(-rate * t) * (forward - np.sqrt(forward * k) / np.pi * integral))
    return np.array(out)


def bench_heston(repeat: int) -> None:
    spot, rate, div = 100.0, 0.03, 0.0
    strikes = spot * np.exp(np.linspace(-0.3, 0.3, 100))
    ref = heston_reference(strikes, spot, rate, div)
    kw = dict(spot=spot, rate=rate, div=div, **HESTON)

    def run() -> np.ndarray:
        return heston_price(strike=strikes, **kw)

    t = best_time(run, repeat)
    emit(
        case="heston_smile_100",
        impl="optex",
        n=100,
        us_per_option=t / 100 * 1e6,
        max_abs_err=float(np.max(np.abs(run() - ref))),
    )
    try:
        import QuantLib as ql  # noqa: N813

        today = ql.Date(2, 1, 2026)
        ql.Settings.instance().evaluationDate = today
        dc = ql.Actual365Fixed()
        maturity = today + 365
        process = ql.HestonProcess(
            ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, div, dc)),
            ql.QuoteHandle(ql.SimpleQuote(spot)),
            HESTON["v0"],
            HESTON["kappa"],
            HESTON["theta"],
            HESTON["xi"],
            HESTON["rho"],
        )
        engine = ql.AnalyticHestonEngine(ql.HestonModel(process))
        options = []
        for k in strikes:
            opt = ql.VanillaOption(
                ql.PlainVanillaPayoff(ql.Option.Call, float(k)), ql.EuropeanExercise(maturity)
            )
            opt.setPricingEngine(engine)
            options.append(opt)

        def ql_run() -> np.ndarray:
            for o in options:
                o.recalculate()
            return np.array([o.NPV() for o in options])

        t_q = best_time(ql_run, repeat)
        emit(
            case="heston_smile_100",
            impl="quantlib_analytic",
            n=100,
            us_per_option=t_q / 100 * 1e6,
            optex_speedup=t_q / t,
            max_abs_err=float(np.max(np.abs(ql_run() - ref))),
        )
    except ImportError:
        emit(case="heston_smile_100", impl="quantlib_analytic", status="unavailable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args()
    n, n_scalar, repeat = (10_000, 200, 1) if args.quick else (1_000_000, 20_000, 3)
    bench_black(n, n_scalar, repeat)
    bench_implied(n, n_scalar, repeat)
    # A smile prices in well under a millisecond: more runs keep one scheduler hiccup on a busy
    # machine out of the best time, for optex and QuantLib alike.
    bench_heston(1 if args.quick else 10 * repeat)


if __name__ == "__main__":
    main()
