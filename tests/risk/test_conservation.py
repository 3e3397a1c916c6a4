"""Value is exactly conserved over long random histories (hypothesis), against a reference.

The reference model is the obvious one: the sum of everything deposited minus everything
withdrawn. Every other operation (trades with fees, funding, expiry settlement, position
transfers, penalties and deficits through liquidation-style movements) must leave
``sum(balance) - sum(cost) + insurance_fund + fee_pool`` equal to it, to the base unit, and
every instrument's open interest must net to zero. ``OPTEX_SOAK=1`` runs far longer histories.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optex.core import InsufficientFunds, NotFound
from optex.risk import (
    FeeParams,
    FundingParams,
    Trade,
    apply_funding,
    apply_trade,
    check_conservation,
    debit_withdrawal,
    deposit,
    settle_expiry,
    total_value,
    transfer_position,
)
from tests.risk.kit import CALL, FUTURE, PERP, PUT, instrument, ledger_with

SOAK = os.environ.get("OPTEX_SOAK") == "1"
ACCOUNTS = ["a", "b", "c", "d"]
NAMES = [CALL, PUT, FUTURE, PERP]
EXPIRY = instrument(CALL).expiry_ms or 0

account = st.sampled_from(ACCOUNTS)
operation = st.one_of(
    st.tuples(st.just("deposit"), account, st.integers(1, 10**12)),
    st.tuples(st.just("withdraw"), account, st.integers(1, 10**12)),
    st.tuples(
        st.just("trade"),
        st.sampled_from(NAMES),
        account,
        account,
        st.integers(1, 40_000),  # price in ticks
        st.integers(1, 500),  # quantity in lots
        st.booleans(),
        st.integers(1, 10**12),  # index, off any grid
    ),
    st.tuples(st.just("funding"), st.integers(-5_000, 5_000), st.integers(1, 10**11 + 7)),
    st.tuples(st.just("transfer"), st.sampled_from(NAMES), account, account, st.integers(-50, 50)),
)


def run(history: list[tuple[Any, ...]], settle_price: int) -> None:
    ledger = ledger_with(*NAMES)
    fees = FeeParams(option_maker_ppm=333, future_maker_ppm=77)
    funding = FundingParams()
    reference = 0
    now = 0
    for op in history:
        kind = op[0]
        if kind == "deposit":
            deposit(ledger, op[1], op[2])
            reference += op[2]
        elif kind == "withdraw":
            try:
                debit_withdrawal(ledger, op[1], op[2])
                reference -= op[2]
            except (InsufficientFunds, NotFound):
                pass
        elif kind == "trade":
            _, name, buyer, seller, ticks, lots, maker_is_buyer, index = op
            inst = instrument(name)
            trade = Trade(
                name, ticks * inst.tick_size, lots * inst.lot_size, buyer, seller, maker_is_buyer
            )
            apply_trade(ledger, trade, index, fees)
        elif kind == "funding":
            now += funding.interval_ms
            apply_funding(ledger, PERP, mark=op[2], rate_ppm=op[1], ts_ms=now, params=funding)
        elif kind == "transfer":
            _, name, source, target, lots = op
            inst = instrument(name)
            held = ledger.accounts.get(source)
            if lots and held is not None and source != target:
                transfer_position(
                    ledger,
                    name,
                    source=source,
                    target=target,
                    quantity=lots * inst.lot_size,
                    price=inst.tick_size * 7,
                )
        check_conservation(ledger)
        assert total_value(ledger) == reference
    for name in (CALL, PUT, FUTURE):
        settle_expiry(ledger, name, price=settle_price, ts_ms=EXPIRY)
        check_conservation(ledger)
    assert total_value(ledger) == reference
    # Only the perpetual is still open after expiry settlement.
    assert all(set(a.positions) <= {PERP} for a in ledger.accounts.values())


@settings(
    max_examples=400 if SOAK else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    history=st.lists(operation, min_size=20, max_size=2_000 if SOAK else 200),
    settle_price=st.integers(1, 10**12),
)
def test_value_is_conserved_exactly_over_random_histories(
    history: list[tuple[Any, ...]], settle_price: int
) -> None:
    run(history, settle_price)
