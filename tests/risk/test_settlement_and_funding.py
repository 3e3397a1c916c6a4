"""Expiry settlement in cash and perpetual funding, with rounding dust to the fee pool."""

from __future__ import annotations

import pytest

from optex.core import InvalidInput
from optex.risk import (
    FundingParams,
    IndexParams,
    IndexSample,
    Position,
    RiskReason,
    apply_funding,
    check_conservation,
    funding_rate_ppm,
    open_account,
    premium_ppm,
    settle_expiry,
    settlement_price,
)
from tests.risk.kit import BTC, CALL, FUTURE, PERP, PUT, USDC, instrument, ledger_with

EXPIRY = instrument(CALL).expiry_ms or 0


def hold(ledger, account: str, name: str, quantity: int, cost: int = 0) -> None:  # type: ignore[no-untyped-def]
    open_account(ledger, account).positions[name] = Position(quantity, cost)


def test_options_and_futures_settle_at_the_thirty_minute_average_index() -> None:
    ledger = ledger_with(CALL, PUT, FUTURE, funds={"long": 10_000 * USDC, "short": 50_000 * USDC})
    hold(ledger, "long", CALL, 2 * BTC)
    hold(ledger, "short", CALL, -2 * BTC)
    hold(ledger, "long", PUT, BTC)
    hold(ledger, "short", PUT, -BTC)
    hold(ledger, "long", FUTURE, BTC, cost=100_000 * USDC)
    hold(ledger, "short", FUTURE, -BTC, cost=-100_000 * USDC)
    # Index 103,000 for the first 15 minutes of the window and 105,000 for the last 15 (and
    # the expiry instant): 31 samples a minute apart, 15 at 103,000 and 16 at 105,000.
    samples = [
        IndexSample(EXPIRY - m * 60_000, (103_000 if m > 15 else 105_000) * USDC)
        for m in range(30, -1, -1)
    ]
    price = settlement_price(samples, EXPIRY, IndexParams())
    # (15 x 103,000 + 16 x 105,000) / 31 = 104,032.258064... -> floored base units.
    assert price == (15 * 103_000 + 16 * 105_000) * USDC // 31
    settle_expiry(ledger, CALL, price=price, ts_ms=EXPIRY)
    settle_expiry(ledger, PUT, price=price, ts_ms=EXPIRY)
    settle_expiry(ledger, FUTURE, price=price, ts_ms=EXPIRY)
    # Call: 2 x (104,032.258064 - 100,000); put K=90,000 expires worthless; future: +4,032.258064.
    intrinsic = price - 100_000 * USDC
    assert ledger.accounts["long"].balance == 10_000 * USDC + 3 * intrinsic
    assert ledger.accounts["short"].balance == 50_000 * USDC - 3 * intrinsic
    assert not ledger.accounts["long"].positions and not ledger.accounts["short"].positions
    check_conservation(ledger)
    assert ledger.settled[CALL] == price


def test_settlement_before_expiry_or_twice_is_refused() -> None:
    ledger = ledger_with(CALL)
    with pytest.raises(InvalidInput) as caught:
        settle_expiry(ledger, CALL, price=USDC, ts_ms=EXPIRY - 1)
    assert caught.value.code is RiskReason.NOT_EXPIRED
    settle_expiry(ledger, CALL, price=USDC, ts_ms=EXPIRY)
    with pytest.raises(InvalidInput):
        settle_expiry(ledger, CALL, price=USDC, ts_ms=EXPIRY)


def test_settlement_rounding_leaves_dust_in_the_fee_pool_and_conserves() -> None:
    ledger = ledger_with(FUTURE, funds={"a": USDC, "b": USDC, "c": USDC})
    # Three one-lot positions (0.0001 BTC); the price 100,000.000001 makes each value inexact.
    hold(ledger, "a", FUTURE, 10_000)
    hold(ledger, "b", FUTURE, 10_000)
    hold(ledger, "c", FUTURE, -20_000)
    settle_expiry(ledger, FUTURE, price=100_000 * USDC + 1, ts_ms=EXPIRY)
    # a and b get floor(10.0000000001) = 10 USDC each; c pays ceil(20.0000000002) = 20.000001.
    assert ledger.accounts["a"].balance == 11 * USDC
    assert ledger.accounts["c"].balance == USDC - 20 * USDC - 1
    assert ledger.fee_pool == 1
    check_conservation(ledger)


def test_funding_rate_is_the_premium_damped_towards_interest_and_capped() -> None:
    params = FundingParams(interest_ppm=100, damper_ppm=500, cap_ppm=5_000)
    # Premium 0.03%: within the damper of the interest, so the rate is the interest, 0.01%.
    assert funding_rate_ppm([300], params) == 100
    # Premium 0.2%: 2,000 + clamp(100 - 2,000, -500, 500) = 1,500.
    assert funding_rate_ppm([2_000], params) == 1_500
    # Premium 3%: clamped to the 0.5% cap.
    assert funding_rate_ppm([30_000], params) == 5_000
    assert funding_rate_ppm([-30_000], params) == -5_000
    # Mark 100,100 over index 100,000 is a premium of 0.1% (1,000 ppm).
    assert premium_ppm(100_100 * USDC, 100_000 * USDC) == 1_000


def test_longs_pay_shorts_funding_every_eight_hours() -> None:
    ledger = ledger_with(PERP, funds={"long": 1_000 * USDC, "short": 1_000 * USDC})
    hold(ledger, "long", PERP, 2 * BTC, cost=200_000 * USDC)
    hold(ledger, "short", PERP, -2 * BTC, cost=-200_000 * USDC)
    params = FundingParams()
    # 0.1% of 2 BTC x 100,000 = 200 USDC.
    apply_funding(ledger, PERP, mark=100_000 * USDC, rate_ppm=1_000, ts_ms=0, params=params)
    assert ledger.accounts["long"].balance == 800 * USDC
    assert ledger.accounts["short"].balance == 1_200 * USDC
    with pytest.raises(InvalidInput) as caught:
        apply_funding(ledger, PERP, mark=100_000 * USDC, rate_ppm=1_000, ts_ms=1, params=params)
    assert caught.value.code is RiskReason.FUNDING_TOO_EARLY
    apply_funding(
        ledger, PERP, mark=100_000 * USDC, rate_ppm=-1_000, ts_ms=params.interval_ms, params=params
    )
    assert ledger.accounts["long"].balance == 1_000 * USDC
    check_conservation(ledger)


def test_funding_applies_to_perpetuals_only() -> None:
    ledger = ledger_with(FUTURE)
    with pytest.raises(InvalidInput) as caught:
        apply_funding(ledger, FUTURE, mark=USDC, rate_ppm=1, ts_ms=0, params=FundingParams())
    assert caught.value.code is RiskReason.NOT_PERPETUAL
