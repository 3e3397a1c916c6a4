"""The fast paths behind the performance goals agree with the careful ones they stand in for."""

import warnings

import numpy as np
import pytest
from scipy.integrate import quad

from optex.core import InvalidInput
from optex.pricing import (
    black76_greeks,
    black76_price,
    heston_cf,
    heston_price,
    implied_vol_with_reason,
)
from optex.pricing._implied import BLOCK
from optex.pricing._normalized import SMALL_T, normalised_black, normalised_black_direct


def test_black76_small_and_ordinary_total_vols_in_one_array_match_one_by_one():
    # s = vol sqrt(T) from 0 (intrinsic) through the normalised branch (s < 0.02) to 2.
    vol = np.array([0.0, 0.001, 0.01, 0.019, 0.021, 0.3, 2.0, 0.005, 0.5, 0.0])
    strike = np.array([90.0, 99.9, 100.0, 101.0, 80.0, 120.0, 300.0, 100.0, 60.0, 110.0])
    call = np.array([True, False, True, False, True, False, True, True, False, True])
    together = black76_price(forward=100.0, strike=strike, t=1.0, rate=0.02, vol=vol, call=call)
    for i in range(vol.size):
        alone = black76_price(
            forward=100.0, strike=strike[i], t=1.0, rate=0.02, vol=vol[i], call=bool(call[i])
        )
        assert together[i] == float(alone)


def test_black76_price_broadcasts_a_call_array_wider_than_the_other_arguments():
    call = np.array([[True, False], [False, True]])
    v = black76_price(forward=100.0, strike=110.0, t=0.5, rate=0.01, vol=0.25, call=call)
    c = float(black76_price(forward=100.0, strike=110.0, t=0.5, rate=0.01, vol=0.25))
    p = float(black76_price(forward=100.0, strike=110.0, t=0.5, rate=0.01, vol=0.25, call=False))
    np.testing.assert_array_equal(v, [[c, p], [p, c]])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_a_bad_scalar_model_parameter_is_rejected(bad):
    kw = dict(spot=100.0, strike=100.0, t=1.0, rate=0.0, div=0.0, v0=0.04, kappa=1.0)
    with pytest.raises(InvalidInput) as err:
        heston_price(**kw, theta=0.04, xi=bad, rho=0.0)
    assert err.value.details["argument"] == "xi"


def test_a_nan_inside_an_array_is_rejected():
    with pytest.raises(InvalidInput) as err:
        black76_price(forward=100.0, strike=np.array([90.0, np.nan]), t=1.0, rate=0.0, vol=0.2)
    assert err.value.details["argument"] == "strike"


def test_direct_normalised_black_is_within_its_stated_error_over_its_whole_domain():
    # Relative error about C z^2 ulps with C ~ (1 + |h|)/(2t) the cancellation, z = |h| + t.
    rng = np.random.default_rng(5)
    h = rng.uniform(-12.0, 0.0, 5000)
    t = np.exp(rng.uniform(np.log(SMALL_T), np.log(2.0), 5000))
    x, s = 2.0 * h * t, 2.0 * t
    cancellation = (1.0 + np.abs(h)) / (2 * t)
    bound = 8 * np.finfo(float).eps * (1.0 + cancellation) * (1.0 + (np.abs(h) + t) ** 2)
    rel = np.abs(normalised_black_direct(x, s) / normalised_black(x, s) - 1.0)
    assert np.all(rel <= bound)
    # Either side of h = -12, where the asymptotic series takes over below t = 0.5.
    s = np.array([0.3, 0.6, 0.9])
    x_in, x_out = -12.0 * (1 - 1e-12) * s, -12.0 * (1 + 1e-12) * s
    b_in, b_out = normalised_black_direct(x_in, s), normalised_black_direct(x_out, s)
    np.testing.assert_allclose(b_in, b_out, rtol=1e-9)


def test_direct_normalised_black_agrees_with_the_erfcx_evaluation_to_its_stated_error():
    rng = np.random.default_rng(3)
    s = rng.uniform(0.1, 3.0, 2000)
    x = -s * rng.uniform(0.0, 3.0, 2000)  # |h| <= 3: at most ~30x cancellation
    np.testing.assert_allclose(normalised_black_direct(x, s), normalised_black(x, s), rtol=6e-14)
    # Through the fallbacks: series (small t), asymptotic (h <= -12) and underflow (h - t < -36).
    x = np.array([-0.001, -0.5, -5.0, -40.0, -36.0])
    s = np.array([0.01, 0.02, 0.3, 0.8, 1.0])
    np.testing.assert_allclose(normalised_black_direct(x, s), normalised_black(x, s), rtol=1e-15)


def test_implied_vol_across_block_boundaries_matches_each_option_alone():
    rng = np.random.default_rng(11)
    n = BLOCK + 5
    strike = 100.0 * np.exp(rng.uniform(-0.5, 0.5, n))
    t = rng.uniform(0.01, 3.0, n)
    vol = rng.uniform(0.05, 1.5, n)
    call = rng.uniform(size=n) < 0.5
    price = black76_price(forward=100.0, strike=strike, t=t, rate=0.01, vol=vol, call=call)
    price[BLOCK + 1] = 1e6  # above the bound, in the second block
    res = implied_vol_with_reason(
        price=price, forward=100.0, strike=strike, t=t, rate=0.01, call=call
    )
    for i in (0, BLOCK - 1, BLOCK, BLOCK + 1, BLOCK + 4):
        alone = implied_vol_with_reason(
            price=price[i], forward=100.0, strike=strike[i], t=t[i], rate=0.01, call=bool(call[i])
        )
        assert int(res.reason[i]) == int(alone.reason)
        np.testing.assert_equal(res.vol[i], float(alone.vol))
    assert np.isnan(res.vol[BLOCK + 1])


def _lewis(strike, *, spot, t, rate, div, **model):
    forward = spot * np.exp((rate - div) * t)
    k = np.log(forward / strike)

    def integrand(u):
        phi = heston_cf(np.array([u - 0.5j]), t=t, **model)[0]
        return (np.exp(1j * u * k) * phi).real / (u * u + 0.25)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        integral, _ = quad(integrand, 0.0, np.inf, epsabs=1e-15, epsrel=1e-14, limit=5000)
    return np.exp(-rate * t) * (forward - np.sqrt(forward * strike) / np.pi * integral)


def test_a_wide_smile_matches_quadrature_at_every_strike_including_beyond_the_range():
    # Fang & Oosterlee's Feller-violating parameters; strikes from 1e-3 F to 1e3 F put some
    # beyond the truncation range, where the put is zero and the call is the forward's value.
    model = dict(
        spot=100.0, t=1.0, rate=0.03, div=0.0, v0=0.0175, kappa=1.5768, theta=0.0398,
        xi=0.5751, rho=-0.5711,
    )  # fmt: skip
    strikes = 100.0 * np.exp(np.concatenate([np.linspace(-0.3, 0.3, 100), [-7.0, 7.0]]))
    got = heston_price(strike=strikes, **model)
    for i in (0, 37, 50, 63, 99):
        assert got[i] == pytest.approx(_lewis(strikes[i], **model), abs=1e-10)
    forward = 100.0 * np.exp(0.03)
    assert got[-2] == pytest.approx(np.exp(-0.03) * (forward - strikes[-2]), abs=1e-10)
    assert got[-1] == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("call", [True, False, np.array([True, False, False, True])])
def test_greeks_with_some_zero_vols_match_one_by_one_and_vanish_there(call):
    vol = np.array([0.0, 0.2, 0.0, 0.7])
    strike = np.array([100.0, 90.0, 120.0, 130.0])
    g = black76_greeks(forward=100.0, strike=strike, t=0.5, rate=0.03, vol=vol, call=call)
    for i in range(4):
        c = call if isinstance(call, bool) else bool(call[i])
        alone = black76_greeks(
            forward=100.0, strike=strike[i], t=0.5, rate=0.03, vol=vol[i], call=c
        )
        for name in ("delta", "gamma", "vega", "theta", "rho", "vanna", "volga"):
            assert getattr(g, name)[i] == float(getattr(alone, name)), (name, i)
    for name in ("gamma", "vega", "vanna", "volga"):
        assert np.all(getattr(g, name)[vol == 0.0] == 0.0), name


def test_quotes_at_the_inflection_point_come_back_whichever_branch_solves_them():
    # s = sqrt(2|x|) is where the lower and upper branches meet; near the money it is tiny.
    x = np.array([1e-12, 1e-8, 1e-4, 0.1, 1.0, 3.0])
    x = np.concatenate([x, -x])
    t = 0.5
    strike = 100.0 * np.exp(-x)
    s_c = np.sqrt(2.0 * np.abs(x))
    vol = np.concatenate([s_c * (1 - 1e-13), s_c, s_c * (1 + 1e-13)]) / np.sqrt(t)
    strike = np.tile(strike, 3)
    for call in (True, False):
        price = black76_price(forward=100.0, strike=strike, t=t, rate=0.01, vol=vol, call=call)
        res = implied_vol_with_reason(
            price=price, forward=100.0, strike=strike, t=t, rate=0.01, call=call
        )
        assert np.all(res.reason == 6000)
        repriced = black76_price(
            forward=100.0, strike=strike, t=t, rate=0.01, vol=res.vol, call=call
        )
        assert np.max(np.abs(repriced - price) / np.maximum(100.0, strike)) < 1e-14
        vega = black76_greeks(forward=100.0, strike=strike, t=t, rate=0.01, vol=vol, call=call).vega
        responsive = vega * vol / price > 1e-3
        assert np.max(np.abs(res.vol / vol - 1.0)[responsive]) < 1e-12
