"""The pre-trade check inside the matching engine, and fills flowing back into the ledger."""

from __future__ import annotations

import pytest

from optex.core import InsufficientFunds
from optex.market import (
    AddInstrument,
    Fill,
    MatchingEngine,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    Side,
)
from optex.risk import RiskEngine, RiskReason, check_conservation, deposit
from tests.risk.kit import BTC, CALL, PARAMS, PERP, USDC, instrument, ledger_with, prices

PRICE = 100_000 * USDC


def setup() -> tuple[RiskEngine, MatchingEngine]:
    risk = RiskEngine(
        PARAMS, ledger_with(PERP, CALL), prices(PRICE, {PERP: PRICE, CALL: 5_000 * USDC})
    )
    engine = MatchingEngine(pre_trade=risk)
    for name in (PERP, CALL):
        risk.apply(engine.process(AddInstrument(1, instrument(name))))
    deposit(risk.ledger, "maker", 10_000_000 * USDC)
    return risk, engine


def order(
    account: str, side: Side, quantity: int, price: int, *, name: str = PERP, ts: int = 2
) -> NewOrder:
    return NewOrder(
        ts_ms=ts, account=account, instrument=name, side=side, quantity=quantity, price=price
    )


def test_an_order_beyond_equity_is_rejected_saying_by_how_much() -> None:
    risk, engine = setup()
    deposit(risk.ledger, "small", 1_000 * USDC)
    events = engine.process(order("small", Side.BUY, BTC, PRICE))
    # 1 BTC at 100,000: IM 2% + 0.005% = 2,005 USDC against equity 1,000: short by 1,005.
    assert len(events) == 1 and isinstance(events[0], OrderRejected)
    assert events[0].code == RiskReason.INSUFFICIENT_MARGIN
    assert "short by 1005000000" in events[0].message


def test_open_orders_reserve_margin_for_the_next_order() -> None:
    risk, engine = setup()
    deposit(risk.ledger, "trader", 2_000 * USDC)
    first = engine.process(order("trader", Side.BUY, BTC, PRICE - 1_000 * USDC))
    risk.apply(first)
    assert isinstance(first[0], OrderAccepted)
    # Resting buy at 99,000 reserves 2,005 - 1,000 (bought below the mark) = 1,005 USDC.
    assert risk.margin("trader").initial == 1_005 * USDC
    # Both filling: 2.01% x 200,000 = 4,020, less the 2,000 gained buying below the mark:
    # 2,020 > 2,000 of equity.
    second = engine.process(order("trader", Side.BUY, BTC, PRICE - 1_000 * USDC, ts=3))
    assert isinstance(second[0], OrderRejected)
    assert second[0].code == RiskReason.INSUFFICIENT_MARGIN


def test_fills_move_positions_fees_and_premium_and_conserve_value() -> None:
    risk, engine = setup()
    deposit(risk.ledger, "buyer", 20_000 * USDC)
    risk.apply(engine.process(order("maker", Side.SELL, BTC, 5_000 * USDC, name=CALL)))
    events = engine.process(order("buyer", Side.BUY, BTC, 5_000 * USDC, name=CALL, ts=3))
    risk.apply(events)
    assert any(isinstance(e, Fill) for e in events)
    # Premium 5,000; fee min(0.03% x 100,000, 12.5% x 5,000) = 30 USDC for each side.
    assert risk.ledger.accounts["buyer"].balance == 20_000 * USDC - 5_030 * USDC
    assert risk.ledger.accounts["maker"].positions[CALL].quantity == -BTC
    assert risk.ledger.fee_pool == 60 * USDC
    assert not risk.open_orders("maker")
    check_conservation(risk.ledger)


def test_an_order_that_only_reduces_a_position_always_passes() -> None:
    risk, engine = setup()
    deposit(risk.ledger, "t", 3_000 * USDC)
    risk.apply(engine.process(order("maker", Side.SELL, BTC, PRICE)))
    risk.apply(engine.process(order("t", Side.BUY, BTC, PRICE, ts=3)))
    # Crash the mark: the account is under water, yet it may still sell what it holds.
    risk.prices = prices(90_000 * USDC, {PERP: 90_000 * USDC, CALL: USDC})
    assert risk.equity("t") < 0
    events = engine.process(order("t", Side.SELL, BTC, 90_000 * USDC, ts=4))
    assert isinstance(events[0], OrderAccepted)
    grow = engine.process(order("t", Side.BUY, BTC, 90_000 * USDC, ts=5))
    assert isinstance(grow[0], OrderRejected)


def test_withdrawal_is_limited_by_margin() -> None:
    risk, engine = setup()
    deposit(risk.ledger, "t", 5_000 * USDC)
    risk.apply(engine.process(order("maker", Side.SELL, BTC, PRICE)))
    risk.apply(engine.process(order("t", Side.BUY, BTC, PRICE, ts=3)))
    # Equity 5,000 - 50 fee = 4,950; IM 2,005: at most 2,945 may leave.
    with pytest.raises(InsufficientFunds):
        risk.withdraw("t", 2_946 * USDC)
    risk.withdraw("t", 2_945 * USDC)
    check_conservation(risk.ledger)
