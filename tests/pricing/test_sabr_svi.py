"""SABR and SVI against published values and their defining properties."""

import numpy as np
import pytest

from optex.core import InvalidInput
from optex.pricing import (
    SviParams,
    SviSurface,
    fit_svi,
    fit_svi_surface,
    sabr_vol,
    svi_butterfly_arbitrage,
    svi_density_factor,
    svi_total_variance,
)


def test_sabr_matches_quantlib_hagan_reference():
    # QuantLib-SWIG test/test_sabr.py testHagenFormula: 9 Jan 2019 + 6M, Actual/365 (181 days),
    # alpha=0.35, beta=0.85, nu=0.75, rho=0.85, F=100, K=110: 0.205953.
    v = sabr_vol(forward=100.0, strike=110.0, t=181 / 365, alpha=0.35, beta=0.85, rho=0.85, nu=0.75)
    assert float(v) == pytest.approx(0.205953, abs=5e-7)


def test_sabr_is_smooth_through_the_money():
    k = 100.0 * (1.0 + np.array([-1e-3, -1e-6, -1e-9, 0.0, 1e-9, 1e-6, 1e-3]))
    v = sabr_vol(forward=100.0, strike=k, t=1.0, alpha=0.3, beta=0.7, rho=-0.4, nu=0.9)
    assert np.all(np.isfinite(v))
    # Symmetric neighbours average to the ATM value: no kink or jump where z/x(z) -> 1.
    assert abs(0.5 * (v[2] + v[4]) - v[3]) < 1e-14
    assert abs(0.5 * (v[1] + v[5]) - v[3]) < 1e-11


def test_sabr_without_vol_of_vol_and_beta_one_is_flat_at_alpha():
    k = np.linspace(50.0, 150.0, 11)
    v = sabr_vol(forward=100.0, strike=k, t=2.0, alpha=0.25, beta=1.0, rho=0.3, nu=0.0)
    np.testing.assert_allclose(v, 0.25, rtol=1e-15)


def test_sabr_rejects_correlation_of_one():
    with pytest.raises(InvalidInput):
        sabr_vol(forward=1.0, strike=1.0, t=1.0, alpha=0.2, beta=0.5, rho=1.0, nu=0.3)


def test_svi_total_variance_is_the_raw_formula():
    # At k = m: w = a + b sigma.
    w = svi_total_variance(np.array([0.1]), a=0.02, b=0.3, rho=-0.4, m=0.1, sigma=0.2)
    assert float(w[0]) == pytest.approx(0.02 + 0.3 * 0.2, rel=1e-15)


def test_vogt_slice_has_butterfly_arbitrage_despite_valid_parameters():
    # Gatheral & Jacquier (2014), Example 3.1 (Axel Vogt): a=-0.0410, b=0.1331, m=0.3586,
    # rho=0.3060, sigma=0.4153, T=1; g(k) < 0 in a region of positive k.
    vogt = SviParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
    bad = svi_butterfly_arbitrage(vogt)
    assert bad.size > 0
    assert 0.0 < bad.min() < bad.max() < 2.0
    assert float(svi_density_factor(np.array([1.0]), vogt)[0]) < 0.0


def test_a_typical_equity_slice_is_free_of_butterfly_arbitrage():
    p = SviParams(a=0.01, b=0.1, rho=-0.5, m=0.0, sigma=0.3)
    assert svi_butterfly_arbitrage(p).size == 0


def test_fit_recovers_an_svi_slice():
    true = SviParams(a=0.02, b=0.15, rho=-0.35, m=0.05, sigma=0.25)
    k = np.linspace(-1.0, 1.0, 21)
    vol = np.sqrt(true.total_variance(k) / 0.5)
    fit = fit_svi(k=k, vol=vol, t=0.5)
    assert fit.rmse < 1e-8
    np.testing.assert_allclose(fit.params.total_variance(k), true.total_variance(k), atol=1e-9)


def test_surface_flags_calendar_arbitrage_when_variance_decreases():
    short = SviParams(a=0.04, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    long_ = SviParams(a=0.02, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    bad = SviSurface(expiries=(0.25, 0.5), slices=(short, long_))
    assert len(bad.calendar_arbitrage()) > 0
    good = SviSurface(expiries=(0.25, 0.5), slices=(long_, short))
    assert good.calendar_arbitrage() == []
    assert good.butterfly_arbitrage() == []
    k = np.array([-0.5, 0.0, 0.5])
    mid = good.total_variance(k, 0.375)
    np.testing.assert_allclose(mid, 0.5 * (long_.total_variance(k) + short.total_variance(k)))


def test_surface_fit_gives_one_slice_per_expiry():
    k = np.tile(np.linspace(-0.8, 0.8, 15), 2)
    t = np.repeat([0.25, 1.0], 15)
    p = SviParams(a=0.01, b=0.12, rho=-0.4, m=0.02, sigma=0.3)
    vol = np.sqrt(p.total_variance(k) * np.where(t > 0.5, 3.0, 1.0) / t)
    surface = fit_svi_surface(k=k, vol=vol, t=t)
    assert surface.expiries == (0.25, 1.0)
    np.testing.assert_allclose(surface.vol(k[:15], 0.25), vol[:15], atol=1e-7)
