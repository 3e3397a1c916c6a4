"""Standard margin, checked by hand (Deribit's formula), for every instrument kind.

Prices here are whole USDC, written as ``n * USDC`` base units; the comment above each
assertion is the arithmetic.
"""

from __future__ import annotations

from optex.risk import (
    OpenOrder,
    Position,
    Requirement,
    StandardMarginParams,
    equity,
    instrument_requirement,
    open_account,
    position_requirement,
    standard_margin,
)
from tests.risk.kit import (
    BTC,
    CALL,
    FUTURE,
    PARAMS,
    PERP,
    PUT,
    USDC,
    instrument,
    ledger_with,
    prices,
)

STD = StandardMarginParams()


def test_short_out_of_the_money_call_uses_the_ten_percent_floor() -> None:
    # S = 95,000, K = 100,000: OTM = 5,000. IM = max(0.15 x 95,000 - 5,000, 0.10 x 95,000) + mark
    # = max(9,250, 9,500) + 2,000 = 11,500. MM = 0.075 x 95,000 + 2,000 = 9,125. One BTC short.
    need = position_requirement(instrument(CALL), -BTC, 2_000 * USDC, 95_000 * USDC, STD)
    assert need == Requirement(11_500 * USDC, 9_125 * USDC)


def test_short_slightly_out_of_the_money_put_takes_fifteen_percent_less_otm() -> None:
    # S = 92,000, K = 90,000 put: OTM = 2,000. IM = max(13,800 - 2,000, 9,200) + 1,500 = 13,300.
    # MM = 6,900 + 1,500 = 8,400. Half a BTC short: 6,650 and 4,200.
    need = position_requirement(instrument(PUT), -BTC // 2, 1_500 * USDC, 92_000 * USDC, STD)
    assert need == Requirement(6_650 * USDC, 4_200 * USDC)


def test_short_in_the_money_put_pays_the_full_fifteen_percent() -> None:
    # S = 85,000, K = 90,000 put: OTM = 0. IM = max(12,750, 8,500) + 6,000 = 18,750;
    # MM = 6,375 + 6,000 = 12,375. 0.3 BTC: 5,625 and 3,712.5.
    need = position_requirement(instrument(PUT), -30_000_000, 6_000 * USDC, 85_000 * USDC, STD)
    assert need == Requirement(5_625 * USDC, 3_712_500_000)


def test_long_option_requires_its_premium() -> None:
    # Two long calls at mark 2,000: 4,000 for initial and maintenance alike.
    need = position_requirement(instrument(CALL), 2 * BTC, 2_000 * USDC, 95_000 * USDC, STD)
    assert need == Requirement(4_000 * USDC, 4_000 * USDC)


def test_future_margin_fraction_grows_with_size() -> None:
    # 10 BTC at 95,000: notional 950,000. IM 2% + 10 x 0.005% = 2.05% -> 19,475;
    # MM 1% + 0.05% = 1.05% -> 9,975.
    need = position_requirement(instrument(FUTURE), 10 * BTC, 95_000 * USDC, 95_000 * USDC, STD)
    assert need == Requirement(19_475 * USDC, 9_975 * USDC)


def test_perpetual_short_margin_is_symmetric_and_capped() -> None:
    # 100 BTC short at 95,000: notional 9,500,000. IM 2% + 0.5% = 2.5% -> 237,500; MM 1.5%.
    need = position_requirement(instrument(PERP), -100 * BTC, 95_000 * USDC, 95_000 * USDC, STD)
    assert need == Requirement(237_500 * USDC, 142_500 * USDC)
    # 100,000 BTC would need 2% + 500% : capped at 100% of notional.
    huge = position_requirement(instrument(PERP), 100_000 * BTC, 1 * USDC, 1 * USDC, STD)
    assert huge.initial == 100_000 * USDC


def test_margin_off_the_grid_rounds_up() -> None:
    # One lot (0.0001 BTC) at 95,000.5: 0.0001 x 95,000.5 x 2.0000005% = 0.19000... USDC, up.
    need = position_requirement(instrument(PERP), 10_000, 95_000_500_000, 95_000 * USDC, STD)
    exact_numerator = 10_000 * 95_000_500_000 * (20_000 * BTC + 50 * 10_000)
    assert need.initial == -(-exact_numerator // (BTC * BTC * 1_000_000))
    assert need.initial * BTC * BTC * 1_000_000 > exact_numerator


def test_a_buy_order_on_an_option_reserves_its_premium() -> None:
    # Flat account, buy 1 call at 2,100 with mark 2,000: IM(+1) - m + P = 2,000 - 2,000 + 2,100.
    need = instrument_requirement(
        instrument(CALL),
        0,
        [OpenOrder(CALL, BTC, 2_100 * USDC)],
        mark=2_000 * USDC,
        index=95_000 * USDC,
        params=STD,
    )
    assert need == Requirement(2_100 * USDC, 0)


def test_a_sell_order_reserves_the_short_margin_and_what_selling_below_mark_costs() -> None:
    # Sell 1 call at 1,900, mark 2,000: IM(-1) + m - P = 11,500 + 2,000 - 1,900 = 11,600.
    need = instrument_requirement(
        instrument(CALL),
        0,
        [OpenOrder(CALL, -BTC, 1_900 * USDC)],
        mark=2_000 * USDC,
        index=95_000 * USDC,
        params=STD,
    )
    assert need.initial == 11_600 * USDC


def test_orders_that_close_a_position_reserve_nothing_more() -> None:
    # Long 2 futures, sell 2 at the mark: the worst case is still holding 2.
    held = position_requirement(instrument(FUTURE), 2 * BTC, 95_000 * USDC, 95_000 * USDC, STD)
    need = instrument_requirement(
        instrument(FUTURE),
        2 * BTC,
        [OpenOrder(FUTURE, -2 * BTC, 95_000 * USDC)],
        mark=95_000 * USDC,
        index=95_000 * USDC,
        params=STD,
    )
    assert need == held


def test_account_margin_and_equity_add_up_over_positions() -> None:
    ledger = ledger_with(CALL, FUTURE, funds={"alice": 50_000 * USDC})
    account = open_account(ledger, "alice")
    account.positions[CALL] = Position(quantity=-BTC)
    # Long 10 futures bought at 94,000 (cost 940,000), marked at 95,000: +10,000 P&L.
    account.positions[FUTURE] = Position(quantity=10 * BTC, cost=940_000 * USDC)
    at = prices(95_000 * USDC, {CALL: 2_000 * USDC, FUTURE: 95_000 * USDC})
    # 50,000 - 2,000 (short call at mark) + 950,000 - 940,000 = 58,000.
    assert equity(ledger, account, at) == 58_000 * USDC
    # 11,500 + 19,475 = 30,975 initial; 9,125 + 9,975 = 19,100 maintenance.
    assert standard_margin(ledger, account, at, PARAMS) == Requirement(30_975 * USDC, 19_100 * USDC)
