"""Calibration recovers known models; Monte Carlo agrees with closed forms within 3 std errors."""

import numpy as np
import pytest

from optex.pricing import (
    bs_price,
    calibrate_heston,
    calibrate_sabr,
    heston_price,
    implied_vol,
    mc_gbm,
    mc_heston,
    sabr_vol,
)

FO = dict(
    spot=100.0, rate=0.0, div=0.0, v0=0.0175, kappa=1.5768, theta=0.0398, xi=0.5751, rho=-0.5711
)


def test_sabr_calibration_recovers_parameters_of_a_sabr_smile():
    k = np.linspace(70.0, 130.0, 13)
    vol = sabr_vol(forward=100.0, strike=k, t=1.5, alpha=2.0, beta=0.5, rho=-0.3, nu=0.6)
    fit = calibrate_sabr(forward=100.0, strike=k, t=1.5, vol=vol, beta=0.5)
    assert fit.rmse < 1e-10
    assert (fit.alpha, fit.rho, fit.nu) == pytest.approx((2.0, -0.3, 0.6), rel=1e-6)


def test_sabr_calibration_reports_the_fit_error_of_a_noisy_smile():
    k = np.linspace(70.0, 130.0, 13)
    vol = sabr_vol(forward=100.0, strike=k, t=1.0, alpha=0.25, beta=1.0, rho=-0.3, nu=0.6)
    noisy = vol + 0.002 * np.cos(np.arange(13.0) * 2.0)
    fit = calibrate_sabr(forward=100.0, strike=k, t=1.0, vol=noisy, beta=1.0)
    assert 1e-4 < fit.rmse < 0.002


def test_heston_calibration_recovers_a_heston_smile():
    k = np.linspace(80.0, 120.0, 9)
    t = np.repeat([0.5, 1.5], 9)
    strikes = np.tile(k, 2)
    prices = heston_price(strike=strikes, t=t, **FO)
    vol = implied_vol(price=prices, forward=100.0, strike=strikes, t=t)
    fit = calibrate_heston(spot=100.0, strike=strikes, t=t, rate=0.0, div=0.0, vol=vol)
    assert fit.rmse < 1e-8
    assert (fit.v0, fit.kappa, fit.theta, fit.xi, fit.rho) == pytest.approx(
        (0.0175, 1.5768, 0.0398, 0.5751, -0.5711), rel=1e-4
    )


def test_gbm_monte_carlo_agrees_with_black_scholes_within_three_standard_errors():
    k = np.array([80.0, 100.0, 120.0])
    mc = mc_gbm(spot=100.0, strike=k, t=1.0, rate=0.03, div=0.01, vol=0.25, rng=11)
    exact = bs_price(spot=100.0, strike=k, t=1.0, rate=0.03, div=0.01, vol=0.25)
    assert np.all(np.abs(mc.price - exact) < 3.0 * mc.stderr)


def test_monte_carlo_is_reproducible_from_its_seed():
    a = mc_gbm(spot=100.0, strike=100.0, t=1.0, rate=0.0, vol=0.2, rng=5, paths=1000)
    b = mc_gbm(
        spot=100.0, strike=100.0, t=1.0, rate=0.0, vol=0.2, rng=np.random.default_rng(5), paths=1000
    )
    assert a.price[0] == b.price[0]


@pytest.mark.parametrize("correction", [True, False])
def test_heston_qe_agrees_with_the_analytic_price_within_three_standard_errors(correction):
    k = np.array([85.0, 100.0, 115.0])
    mc = mc_heston(
        strike=k, t=1.0, rng=2024, paths=60_000, steps=32, martingale_correction=correction, **FO
    )
    exact = heston_price(strike=k, t=1.0, **FO)
    assert np.all(np.abs(mc.price - exact) < 3.0 * mc.stderr)


def test_heston_qe_handles_the_long_dated_feller_violating_case():
    model = dict(spot=100.0, rate=0.0, div=0.0, v0=0.04, kappa=0.5, theta=0.04, xi=1.0, rho=-0.9)
    mc = mc_heston(strike=100.0, t=10.0, rng=7, paths=60_000, steps=40, **model)
    exact = heston_price(strike=100.0, t=10.0, **model)
    assert abs(mc.price[0] - float(exact)) < 3.0 * mc.stderr[0]
