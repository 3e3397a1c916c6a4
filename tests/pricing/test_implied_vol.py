"""Implied volatility: round trips over an extreme grid, bounds and reason codes."""

import numpy as np
import pytest

from optex.pricing import (
    PricingReason,
    black76_greeks,
    black76_price,
    implied_vol,
    implied_vol_with_reason,
)

HOUR = 1.0 / (365.0 * 24.0)


def _grid():
    ts = np.array([HOUR, 1 / 365, 7 / 365, 0.1, 0.5, 1.0, 2.0, 5.0])
    vols = np.array([0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0])
    zs = np.linspace(-3.0, 3.0, 31)  # moneyness in standard deviations
    t, v, z = (a.ravel() for a in np.meshgrid(ts, vols, zs, indexing="ij"))
    return t, v, 100.0 * np.exp(z * v * np.sqrt(t))


@pytest.mark.parametrize("call", [True, False])
def test_round_trip_recovers_vol_to_1e_12_where_price_responds(call):
    t, v, k = _grid()
    price = black76_price(forward=100.0, strike=k, t=t, rate=0.02, vol=v, call=call)
    res = implied_vol_with_reason(price=price, forward=100.0, strike=k, t=t, rate=0.02, call=call)
    vega = black76_greeks(forward=100.0, strike=k, t=t, rate=0.02, vol=v, call=call).vega
    responsive = vega * v / price > 1e-3
    assert responsive.sum() > 0.8 * responsive.size
    rel = np.abs(res.vol / v - 1.0)
    assert np.max(rel[responsive]) < 1e-12
    # Elsewhere the time value is below the price's rounding: the vol must reprice the quote.
    repriced = black76_price(forward=100.0, strike=k, t=t, rate=0.02, vol=res.vol, call=call)
    assert np.max(np.abs(repriced - price) / np.maximum(100.0, k)) < 1e-12
    assert np.all(res.reason == PricingReason.IV_OK)


def test_far_wing_vol_is_recovered_from_a_price_below_1e_100():
    k = 100.0 * np.exp(4.0)
    price = black76_price(forward=100.0, strike=k, t=0.1, rate=0.0, vol=0.5)
    assert 0 < float(price) < 1e-100
    vol = implied_vol(price=price, forward=100.0, strike=k, t=0.1)
    assert float(vol) == pytest.approx(0.5, rel=1e-12)


def test_at_the_money_inverse_is_exact():
    # ATM b = erf(s / (2 sqrt 2)): the undiscounted ATM price of 0.2 vol for 1y.
    price = black76_price(forward=50.0, strike=50.0, t=1.0, rate=0.0, vol=0.2)
    assert float(implied_vol(price=price, forward=50.0, strike=50.0, t=1.0)) == pytest.approx(
        0.2, rel=1e-15
    )


def test_prices_outside_the_bounds_give_nan_with_a_reason():
    res = implied_vol_with_reason(
        price=np.array([5.0, 100.0, 12.0, 95.0, 10.0]),
        forward=100.0,
        strike=np.array([90.0, 90.0, 90.0, 90.0, 90.0]),
        t=np.array([1.0, 1.0, 1.0, 1.0, 0.0]),
        call=np.array([True, True, True, False, True]),
    )
    assert np.isnan(res.vol[[0, 1, 3, 4]]).all()
    assert list(res.reason) == [
        PricingReason.IV_BELOW_INTRINSIC,
        PricingReason.IV_ABOVE_MAXIMUM,
        PricingReason.IV_OK,
        PricingReason.IV_ABOVE_MAXIMUM,
        PricingReason.IV_EXPIRED,
    ]
    assert res.vol[2] > 0


def test_price_at_intrinsic_value_gives_zero_vol():
    res = implied_vol_with_reason(price=10.0, forward=110.0, strike=100.0, t=1.0)
    assert float(res.vol) == 0.0
    assert int(res.reason) == PricingReason.IV_OK


def test_scalar_inputs_give_a_zero_dimensional_result():
    vol = implied_vol(price=1.0, forward=100.0, strike=100.0, t=0.25)
    assert np.shape(vol) == ()
