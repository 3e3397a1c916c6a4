"""Liquidation: a 30% crash in minutes, driven through the real matching engine.

Ten traders hold long perpetuals at leverage from 3x to 36x; two market makers quote a thin book.
The index falls 30% in 30 one-minute steps with an 8% gap at minute 12. Every minute the makers
re-quote, the marks move and every account below maintenance is liquidated. At the end no account
outside the insurance fund has negative equity and value is exactly conserved.
"""

from __future__ import annotations

import pytest

from optex.core import InvalidInput
from optex.market import AddInstrument, MassCancel, MatchingEngine, NewOrder, Side
from optex.risk import (
    RiskEngine,
    RiskReason,
    check_conservation,
    deposit,
    fund_insurance,
    liquidate,
)
from tests.risk.kit import BTC, PARAMS, PERP, USDC, instrument, ledger_with, prices

MINUTE = 60_000
# Percent of the starting price lost each minute: 1% a minute, an 8% gap at minute 12, then
# calm; 30% in all.
DROPS = [1] * 11 + [8] + [1] * 11 + [0] * 7
START = 100_000 * USDC
TICK = 500_000
LOT = 10_000


def on_tick(value: int) -> int:
    return value // TICK * TICK


def quote(engine: MatchingEngine, risk: RiskEngine, ts: int, mid: int, size: int) -> None:
    """Both makers re-quote five levels a side, 0.1% apart, around ``mid``."""
    for maker in ("mm1", "mm2"):
        risk.apply(engine.process(MassCancel(ts, maker)))
        for level in range(1, 6):
            for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
                price = on_tick(mid + sign * mid * level // 1_000)
                risk.apply(
                    engine.process(
                        NewOrder(
                            ts_ms=ts,
                            account=maker,
                            instrument=PERP,
                            side=side,
                            quantity=size,
                            price=price,
                        )
                    )
                )


def test_a_thirty_percent_crash_liquidates_without_bad_balances_and_conserves() -> None:
    risk = RiskEngine(PARAMS, ledger_with(PERP), prices(START, {PERP: START}))
    engine = MatchingEngine(pre_trade=risk)
    risk.apply(engine.process(AddInstrument(0, instrument(PERP))))
    fund_insurance(risk.ledger, 20_000 * USDC)
    for maker in ("mm1", "mm2"):
        deposit(risk.ledger, maker, 50_000_000 * USDC)
    traders = [f"t{i}" for i in range(10)]
    leverage = [3, 5, 8, 10, 15, 20, 25, 30, 33, 36]
    ts = 1
    for trader, lev in zip(traders, leverage, strict=True):
        deposit(risk.ledger, trader, 10_000 * USDC)
        quantity = (10_000 * lev * BTC // 100_000) // LOT * LOT
        quote(engine, risk, ts, START, 20 * BTC)
        risk.apply(
            engine.process(
                NewOrder(
                    ts_ms=ts,
                    account=trader,
                    instrument=PERP,
                    side=Side.BUY,
                    quantity=quantity,
                    price=on_tick(START * 1_001 // 1_000),
                )
            )
        )
        ts += 1
    assert all(risk.ledger.accounts[t].positions for t in traders)
    check_conservation(risk.ledger)
    liquidated: set[str] = set()
    bankrupt: set[str] = set()
    partial: set[str] = set()
    index = START
    for minute in range(1, 31):
        ts = minute * MINUTE
        index -= START * DROPS[minute - 1] // 100
        risk.prices = prices(index, {PERP: index}, ts_ms=ts)
        # The makers lose interest in size as the market falls: 2 BTC per level.
        quote(engine, risk, ts, index, 2 * BTC)
        for account in risk.liquidatable():
            report = liquidate(risk, engine, account, ts)
            liquidated.add(account)
            if report.bankrupt:
                bankrupt.add(account)
            if risk.ledger.accounts[account].positions:
                partial.add(account)
            check_conservation(risk.ledger)
    assert index == START * 70 // 100
    # The most leveraged traders were liquidated, the 3x one survived the 30% fall.
    assert {"t9", "t8", "t7"} <= liquidated
    assert "t0" not in liquidated
    assert bankrupt, "the 8% gap should have left someone bankrupt"
    # Some liquidations only reduced a position until maintenance was covered again.
    assert partial
    # The insurance fund took the penalties and paid the deficits; it is still solvent here.
    assert risk.ledger.insurance_fund > 0
    for name in risk.ledger.accounts:
        assert risk.equity(name) >= 0, name
        if not risk.ledger.accounts[name].positions:
            assert risk.ledger.accounts[name].balance >= 0, name
    assert risk.liquidatable() == []
    check_conservation(risk.ledger)


def test_a_healthy_account_is_not_liquidated() -> None:
    risk = RiskEngine(PARAMS, ledger_with(PERP), prices(START, {PERP: START}))
    engine = MatchingEngine([instrument(PERP)], pre_trade=risk)
    deposit(risk.ledger, "ok", USDC)
    with pytest.raises(InvalidInput) as caught:
        liquidate(risk, engine, "ok", 1)
    assert caught.value.code is RiskReason.NOT_LIQUIDATABLE


def test_without_book_liquidity_a_bankrupt_position_is_deleveraged_onto_the_best_opposite() -> None:
    risk = RiskEngine(PARAMS, ledger_with(PERP), prices(START, {PERP: START}))
    engine = MatchingEngine([instrument(PERP)], pre_trade=risk)
    for name, amount in (
        ("long", 2_000 * USDC),
        ("rich", 1_000_000 * USDC),
        ("poor", 30_000 * USDC),
    ):
        deposit(risk.ledger, name, amount)
    # "long" buys 1 BTC from each of two shorts at 100,000; no one else quotes.
    for ts, short in ((1, "rich"), (2, "poor")):
        risk.apply(
            engine.process(
                NewOrder(
                    ts_ms=ts,
                    account=short,
                    instrument=PERP,
                    side=Side.SELL,
                    quantity=BTC // 10,
                    price=START,
                )
            )
        )
        risk.apply(
            engine.process(
                NewOrder(
                    ts_ms=ts,
                    account="long",
                    instrument=PERP,
                    side=Side.BUY,
                    quantity=BTC // 10,
                    price=START,
                )
            )
        )
    crash = 70_000 * USDC
    risk.prices = prices(crash, {PERP: crash}, ts_ms=10)
    # long: 2,000 - 10 fees - 0.2 x 30,000 = -4,010 USDC of equity, nothing on the book.
    assert risk.equity("long") < 0
    report = liquidate(risk, engine, "long", 10)
    # Both shorts are in profit by 3,000; "poor" is more leveraged, so it is deleveraged first.
    assert report.deleveraged[0][1] == "poor"
    assert "long" not in [n for n in risk.liquidatable()]
    assert not risk.ledger.accounts["long"].positions
    assert risk.equity("long") >= 0
    # No insurance fund: the deficit is recovered from the ranked opposite positions.
    assert report.recovered > 0 and report.socialised == 0
    check_conservation(risk.ledger)
