"""Black-Scholes-Merton and Black-76 against published values, parity and finite differences."""

import numpy as np
import pytest

from optex.core import InvalidInput
from optex.pricing import black76_greeks, black76_price, bs_greeks, bs_price


def test_bsm_call_matches_haug_example():
    # Haug, "The Complete Guide to Option Pricing Formulas", 2nd ed., 1.1.1: 2.1334.
    v = bs_price(spot=60.0, strike=65.0, t=0.25, rate=0.08, vol=0.30)
    assert float(v) == pytest.approx(2.1334, abs=5e-5)


def test_black76_put_matches_haug_example():
    # Haug 2007, 1.1.2 (Black 1976): F=19, K=19, T=0.75, r=0.10, sigma=0.28, put = 1.7011.
    v = black76_price(forward=19.0, strike=19.0, t=0.75, rate=0.10, vol=0.28, call=False)
    assert float(v) == pytest.approx(1.7011, abs=5e-5)


def test_bsm_matches_hull_example_15_6():
    # Hull, "Options, Futures and Other Derivatives", Example 15.6: call 4.76, put 0.81.
    kw = dict(spot=42.0, strike=40.0, t=0.5, rate=0.10, vol=0.20)
    assert float(bs_price(**kw)) == pytest.approx(4.76, abs=5e-3)
    assert float(bs_price(**kw, call=False)) == pytest.approx(0.81, abs=5e-3)


def test_bsm_with_dividend_yield_matches_haug_index_example():
    # Haug 2007, 1.1.3 (Merton 1973): S=100, K=95, T=0.5, r=0.10, q=0.05, sigma=0.20 put 2.4648.
    v = bs_price(spot=100.0, strike=95.0, t=0.5, rate=0.10, div=0.05, vol=0.20, call=False)
    assert float(v) == pytest.approx(2.4648, abs=5e-5)


def test_put_call_parity_holds_across_a_chain():
    rng = np.random.default_rng(7)
    n = 500
    kw = dict(
        forward=100.0,
        strike=100 * np.exp(rng.uniform(-1, 1, n)),
        t=rng.uniform(0.001, 5, n),
        rate=0.03,
        vol=rng.uniform(0.05, 3, n),
    )
    c = black76_price(**kw)
    p = black76_price(**kw, call=False)
    parity = np.exp(-0.03 * kw["t"]) * (100.0 - kw["strike"])
    assert np.all(np.abs(c - p - parity) <= 1e-13 * np.maximum(100.0, kw["strike"]))


def test_arguments_broadcast_and_call_may_be_an_array():
    v = black76_price(
        forward=100.0,
        strike=np.array([[90.0], [110.0]]),
        t=np.array([0.5, 1.0]),
        rate=0.0,
        vol=0.2,
        call=np.array([[True], [False]]),
    )
    assert v.shape == (2, 2)
    single = black76_price(forward=100.0, strike=110.0, t=1.0, rate=0.0, vol=0.2, call=False)
    assert v[1, 1] == pytest.approx(float(single), rel=1e-15)


def test_zero_volatility_gives_discounted_intrinsic_value():
    v = black76_price(
        forward=100.0, strike=np.array([90.0, 100.0, 110.0]), t=1.0, rate=0.05, vol=0.0
    )
    np.testing.assert_allclose(v, np.exp(-0.05) * np.array([10.0, 0.0, 0.0]), atol=1e-15)


def test_deep_in_the_money_price_keeps_its_small_time_value():
    # The time value of an ITM call equals the OTM put's value; the price must carry it exactly.
    kw = dict(forward=100.0, strike=60.0, t=0.05, rate=0.0, vol=0.3)
    call = black76_price(**kw)
    put = black76_price(**kw, call=False)
    assert float(call) - 40.0 == pytest.approx(float(put), rel=1e-9)


@pytest.mark.parametrize("call", [True, False])
def test_black76_greeks_agree_with_finite_differences(call):
    base = dict(forward=105.0, strike=100.0, t=0.7, rate=0.04, vol=0.35, call=call)
    g = black76_greeks(**base)

    def price(**over):
        return float(black76_price(**{**base, **over}))

    h = 1e-4
    fd = {
        "delta": (price(forward=105 + h) - price(forward=105 - h)) / (2 * h),
        "gamma": (price(forward=105 + h) - 2 * price() + price(forward=105 - h)) / h**2,
        "vega": (price(vol=0.35 + h) - price(vol=0.35 - h)) / (2 * h),
        "theta": -(price(t=0.7 + h) - price(t=0.7 - h)) / (2 * h),
        "rho": (price(rate=0.04 + h) - price(rate=0.04 - h)) / (2 * h),
        "volga": (price(vol=0.35 + h) - 2 * price() + price(vol=0.35 - h)) / h**2,
        "vanna": (
            price(forward=105 + h, vol=0.35 + h)
            - price(forward=105 + h, vol=0.35 - h)
            - price(forward=105 - h, vol=0.35 + h)
            + price(forward=105 - h, vol=0.35 - h)
        )
        / (4 * h * h),
    }
    for name, value in fd.items():
        assert float(getattr(g, name)) == pytest.approx(value, rel=2e-5, abs=1e-6), name


@pytest.mark.parametrize("call", [True, False])
def test_bsm_greeks_agree_with_finite_differences(call):
    base = dict(spot=95.0, strike=100.0, t=1.3, rate=0.05, div=0.02, vol=0.25, call=call)
    g = bs_greeks(**base)

    def price(**over):
        return float(bs_price(**{**base, **over}))

    h = 1e-4
    fd = {
        "delta": (price(spot=95 + h) - price(spot=95 - h)) / (2 * h),
        "gamma": (price(spot=95 + h) - 2 * price() + price(spot=95 - h)) / h**2,
        "vega": (price(vol=0.25 + h) - price(vol=0.25 - h)) / (2 * h),
        "theta": -(price(t=1.3 + h) - price(t=1.3 - h)) / (2 * h),
        "rho": (price(rate=0.05 + h) - price(rate=0.05 - h)) / (2 * h),
        "volga": (price(vol=0.25 + h) - 2 * price() + price(vol=0.25 - h)) / h**2,
        "vanna": (
            price(spot=95 + h, vol=0.25 + h)
            - price(spot=95 + h, vol=0.25 - h)
            - price(spot=95 - h, vol=0.25 + h)
            + price(spot=95 - h, vol=0.25 - h)
        )
        / (4 * h * h),
    }
    for name, value in fd.items():
        assert float(getattr(g, name)) == pytest.approx(value, rel=2e-5, abs=1e-6), name


def test_greeks_are_arrays_of_the_broadcast_shape():
    g = black76_greeks(forward=100.0, strike=np.array([90.0, 110.0]), t=1.0, rate=0.0, vol=0.2)
    for name in ("delta", "gamma", "vega", "theta", "rho", "vanna", "volga"):
        assert getattr(g, name).shape == (2,)


@pytest.mark.parametrize(
    ("field", "value"),
    [("strike", -1.0), ("t", -0.1), ("vol", float("nan")), ("forward", 0.0), ("rate", np.inf)],
)
def test_invalid_input_is_rejected_with_the_argument_named(field, value):
    kw = dict(forward=100.0, strike=100.0, t=1.0, rate=0.0, vol=0.2)
    kw[field] = value
    with pytest.raises(InvalidInput) as err:
        black76_price(**kw)
    assert err.value.details["argument"] == field
    assert err.value.reason == "invalid_pricing_input"
