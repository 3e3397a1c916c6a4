"""Heston prices against 50-digit published references and independent adaptive quadrature."""

import warnings

import numpy as np
import pytest
from scipy.integrate import quad

from optex.core import InvalidInput
from optex.pricing import heston_cf, heston_price

# Alan Lewis's reference prices, https://financepress.com/2019/02/15/heston-model-reference-prices/
# as used in QuantLib's test-suite (hestonmodel.cpp, "Testing Heston engines against Alan Lewis's
# reference values"): S=100, r=0.01, q=0.02, T=1, v0=0.04, kappa=4, theta=0.25, xi=1, rho=-0.5.
LEWIS = dict(
    spot=100.0, t=1.0, rate=0.01, div=0.02, v0=0.04, kappa=4.0, theta=0.25, xi=1.0, rho=-0.5
)
LEWIS_STRIKES = np.array([80.0, 90.0, 100.0, 110.0, 120.0])
LEWIS_CALLS = np.array(
    [
        26.774758743998854221382195325726949201687074848341,
        20.933349000596710388139445766564068085476194042256,
        16.070154917028834278213466703938231827658768230714,
        12.132211516709844867860534767549426052805766831181,
        9.024913483457835636553375454092357136489051667150,
    ]
)
LEWIS_PUTS = np.array(
    [
        7.958878113256768285213263077598987193482161301733,
        12.017966707346304987709573290236471654992071308187,
        17.055270961270109413522653999411000974895436309183,
        23.017825898442800538908781834822560777763225722188,
        29.811026202682471843340682293165857439167301370697,
    ]
)
# Fang & Oosterlee (2008), SIAM J. Sci. Comput. 31(2), section 5.2, Feller violated.
FANG_OOSTERLEE = dict(
    spot=100.0, rate=0.0, div=0.0, v0=0.0175, kappa=1.5768, theta=0.0398, xi=0.5751, rho=-0.5711
)
# Andersen (2008), J. Comput. Finance 11(3), case I (long maturity, xi = 1, rho = -0.9): 13.0847.
ANDERSEN_I = dict(
    spot=100.0, t=10.0, rate=0.0, div=0.0, v0=0.04, kappa=0.5, theta=0.04, xi=1.0, rho=-0.9
)


def lewis_quadrature(spot, strike, *, t, rate, div, v0, kappa, theta, xi, rho):
    """Independent reference: Lewis (2000) eq. (2.10) by adaptive quadrature at tight tolerance."""
    forward = spot * np.exp((rate - div) * t)
    k = np.log(forward / strike)
    p = dict(t=t, v0=v0, kappa=kappa, theta=theta, xi=xi, rho=rho)

    def integrand(u):
        return (np.exp(1j * u * k) * heston_cf(np.array([u - 0.5j]), **p)[0]).real / (u * u + 0.25)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        integral, _ = quad(integrand, 0.0, np.inf, epsabs=1e-15, epsrel=1e-14, limit=5000)
    return np.exp(-rate * t) * (forward - np.sqrt(forward * strike) / np.pi * integral)


def test_calls_match_lewis_reference_to_1e_10():
    got = heston_price(strike=LEWIS_STRIKES, **LEWIS)
    np.testing.assert_allclose(got, LEWIS_CALLS, rtol=0, atol=1e-10)


def test_puts_match_lewis_reference_to_1e_10():
    got = heston_price(strike=LEWIS_STRIKES, call=False, **LEWIS)
    np.testing.assert_allclose(got, LEWIS_PUTS, rtol=0, atol=1e-10)


def test_fang_oosterlee_one_year_matches_to_the_references_precision():
    # The published 5.785155450 is a Carr-Madan figure good to ~2e-8; quadrature fixes 1e-9.
    got = float(heston_price(strike=100.0, t=1.0, **FANG_OOSTERLEE))
    assert got == pytest.approx(5.785155450, abs=2e-8)
    assert got == pytest.approx(lewis_quadrature(strike=100.0, t=1.0, **FANG_OOSTERLEE), abs=1e-9)


def test_fang_oosterlee_ten_years_matches_reference():
    # Fang & Oosterlee (2008), same parameters, T = 10: 22.318945791.
    got = float(heston_price(strike=100.0, t=10.0, **FANG_OOSTERLEE))
    assert got == pytest.approx(22.318945791, abs=1e-9)


def test_andersen_long_maturity_feller_violating_case():
    got = float(heston_price(strike=100.0, **ANDERSEN_I))
    assert got == pytest.approx(13.0847, abs=5e-5)
    assert got == pytest.approx(lewis_quadrature(strike=100.0, **ANDERSEN_I), abs=1e-9)


@pytest.mark.parametrize(
    "model",
    [
        dict(t=1 / 52, rate=0.03, div=0.0, v0=0.25, kappa=2.0, theta=0.3, xi=2.0, rho=-0.3),
        dict(t=1 / 365, rate=0.0, div=0.0, v0=0.6, kappa=3.0, theta=0.5, xi=3.0, rho=0.2),
        dict(t=5.0, rate=0.05, div=0.01, v0=0.01, kappa=0.2, theta=0.09, xi=0.8, rho=-0.95),
        dict(t=0.25, rate=0.0, div=0.0, v0=0.04, kappa=1.0, theta=0.04, xi=0.1, rho=0.0),
    ],
)
def test_smile_agrees_with_adaptive_quadrature_to_1e_9(model):
    sd = np.sqrt(max(model["v0"], model["theta"]) * model["t"])
    strikes = 100.0 * np.exp(np.array([-3.0, -1.5, 0.0, 1.5, 3.0]) * sd)
    got = heston_price(spot=100.0, strike=strikes, **model)
    ref = [lewis_quadrature(100.0, k, **model) for k in strikes]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def test_characteristic_function_is_a_martingale():
    p = dict(t=3.0, v0=0.05, kappa=0.7, theta=0.06, xi=1.2, rho=-0.8)
    assert abs(heston_cf(np.array([0.0, -1j]), **p) - 1.0).max() < 1e-14


def test_a_chain_with_two_maturities_prices_each_slice():
    strikes = np.array([90.0, 100.0, 90.0, 100.0])
    t = np.array([0.5, 0.5, 2.0, 2.0])
    together = heston_price(strike=strikes, t=t, **{k: v for k, v in LEWIS.items() if k != "t"})
    for i in range(4):
        single = heston_price(
            strike=strikes[i], t=t[i], **{k: v for k, v in LEWIS.items() if k != "t"}
        )
        assert together[i] == pytest.approx(float(single), abs=1e-13)


def test_correlation_outside_the_unit_interval_is_rejected():
    with pytest.raises(InvalidInput) as err:
        heston_price(strike=100.0, **{**LEWIS, "rho": -1.5})
    assert err.value.reason == "invalid_model_parameter"
