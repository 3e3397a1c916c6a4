"""Portfolio margin: scenario revaluation, hand-checked on a future, lower on a hedged book."""

from __future__ import annotations

import numpy as np

from optex.pricing import black76_greeks
from optex.risk import (
    PortfolioMarginParams,
    Position,
    open_account,
    portfolio_margin,
    portfolio_margin_many,
    scenario_grid,
    standard_margin,
)
from tests.risk.kit import BTC, FUTURE, NOW_MS, PARAMS, USDC, instrument, ledger_with, prices

ATM = "BTC-27DEC26-95000-C"
YEARS = ((instrument(ATM).expiry_ms or 0) - NOW_MS) / (365 * 86_400_000)


def test_the_grid_has_fifty_one_core_scenarios_and_four_extreme_ones() -> None:
    grid = scenario_grid(PortfolioMarginParams())
    # 17 moves (-16% ... +16% in 2% steps) x 3 volatility shifts, then 4 extended moves.
    assert grid.moves.size == 17 * 3 + 4
    assert np.isclose(grid.moves[:51:3], np.linspace(-0.16, 0.16, 17)).all()
    assert grid.weights[-4:].tolist() == [0.35] * 4


def test_a_long_future_needs_its_worst_weighted_loss() -> None:
    ledger = ledger_with(FUTURE, funds={"a": 100_000 * USDC})
    account = open_account(ledger, "a", portfolio_margin=True)
    account.positions[FUTURE] = Position(BTC, 95_000 * USDC)
    at = prices(95_000 * USDC, {FUTURE: 95_000 * USDC})
    need = portfolio_margin(ledger, account, at, PARAMS, now_ms=NOW_MS)
    # Core worst: -16% x 95,000 = 15,200. Extended: -50% x 95,000 x 0.35 = 16,625 (worse).
    # The float product is rounded up, so the figure is 16,625 USDC or one base unit above.
    assert 16_625 * USDC <= need.initial <= 16_625 * USDC + 1
    # Maintenance 80% of initial, rounded up.
    assert need.maintenance == -(-need.initial * 800_000 // 1_000_000)


def test_a_delta_hedged_short_option_book_needs_less_than_standard_margin() -> None:
    ledger = ledger_with(ATM, FUTURE, funds={"mm": 1_000_000 * USDC})
    account = open_account(ledger, "mm")
    index = 95_000 * USDC
    vol = 0.6
    delta = float(
        black76_greeks(forward=float(index), strike=float(index), t=YEARS, rate=0.0, vol=vol).delta
    )
    hedge = round(10 * delta * 10_000) * 10_000  # 10 x delta BTC, on the 0.0001 BTC lot grid
    account.positions[ATM] = Position(-10 * BTC)
    account.positions[FUTURE] = Position(hedge, (hedge * index) // BTC)
    at = prices(index, {ATM: 11_000 * USDC, FUTURE: index}, iv=vol)
    standard = standard_margin(ledger, account, at, PARAMS)
    account.portfolio_margin = True
    portfolio = portfolio_margin(ledger, account, at, PARAMS, now_ms=NOW_MS)
    # Standard: 10 x (0.15 x 95,000 + 11,000) + 2% of the hedge, about 267,000 USDC.
    assert standard.initial > 260_000 * USDC
    assert 0 < portfolio.initial < standard.initial / 2
    assert portfolio.maintenance < portfolio.initial


def test_the_batch_sweep_agrees_with_one_account_at_a_time() -> None:
    ledger = ledger_with(ATM, FUTURE)
    rng = np.random.default_rng(7)
    names = [f"acct{i}" for i in range(20)]
    for name in names:
        account = open_account(ledger, name, portfolio_margin=True)
        account.positions[ATM] = Position(int(rng.integers(-50, 50)) * 1_000_000 or 1_000_000)
        account.positions[FUTURE] = Position(int(rng.integers(-500, 500)) * 10_000 or 10_000)
    at = prices(95_000 * USDC, {ATM: 11_000 * USDC, FUTURE: 95_000 * USDC})
    many = portfolio_margin_many(ledger, names, at, PARAMS, now_ms=NOW_MS)
    for name in names:
        one = portfolio_margin(ledger, ledger.accounts[name], at, PARAMS, now_ms=NOW_MS)
        assert many[name] == one


def test_short_options_carry_a_contingency_on_top_of_the_worst_loss() -> None:
    ledger = ledger_with(ATM)
    account = open_account(ledger, "a", portfolio_margin=True)
    account.positions[ATM] = Position(-BTC)
    at = prices(95_000 * USDC, {ATM: 11_000 * USDC})
    with_charge = portfolio_margin(ledger, account, at, PARAMS, now_ms=NOW_MS)
    bare = {
        "BTC": PARAMS["BTC"].__class__(
            portfolio=PortfolioMarginParams(short_option_contingency_ppm=0)
        )
    }
    without = portfolio_margin(ledger, account, at, bare, now_ms=NOW_MS)
    # 1% of the 95,000 index for one short option: 950 USDC (within rounding).
    assert abs(with_charge.initial - without.initial - 950 * USDC) <= 1
