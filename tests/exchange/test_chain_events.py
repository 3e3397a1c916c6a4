"""What the chain decided, applied to the engine: expiry settlement and funding, once each.

Every refusal is a ``CommandFailed`` that leaves both engines exactly as they were (the
combined state hash differs only by the journal sequence, so the parts are compared).
"""

from __future__ import annotations

import pytest

from optex.core import decode, encode, instrument_from_name
from optex.exchange import (
    ChainCredit,
    Command,
    CommandFailed,
    Deposit,
    ExchangeReason,
    ExpirySettled,
    FundingPaid,
    PayFunding,
    Pipeline,
    SetPrices,
    SettleExpiry,
)
from optex.exchange._state import risk_hash
from optex.market import AddInstrument, Fill, NewOrder, OrderRejected, Side
from optex.risk import Mark, RiskReason, check_conservation, settle_expiry
from tests.exchange.kit import CALL, INDEX, PERP, T0, USDC

FUTURE = "BTC-27DEC26"
EXPIRY = instrument_from_name(FUTURE).expiry_ms or 0
AFTER_EXPIRY = EXPIRY + 1_500
OPTION_LOT = instrument_from_name(CALL).lot_size
FUTURE_LOT = instrument_from_name(FUTURE).lot_size
ACCOUNTS = ("alice", "bob", "carol")


class Engine:
    """A pipeline fed one command at a time, as the journal would."""

    def __init__(self) -> None:
        self.pipeline = Pipeline()
        self.seq = 0
        self.now = T0
        for name in (PERP, CALL, FUTURE):
            self.apply(AddInstrument(T0, instrument_from_name(name)))
        for account in ACCOUNTS:
            self.apply(Deposit(T0, account, 1_000_000 * USDC))
        marks = {PERP: Mark(INDEX), FUTURE: Mark(INDEX), CALL: Mark(5_000 * USDC)}
        self.apply(SetPrices(T0, {"BTC": INDEX}, marks))

    def apply(self, command: Command) -> list[object]:
        self.seq += 1
        return list(self.pipeline.apply(self.seq, command))

    def trade(self, buyer: str, seller: str, name: str, quantity: int, price: int) -> None:
        self.now += 1
        self.apply(NewOrder(self.now, seller, name, Side.SELL, quantity, price))
        self.now += 1
        events = self.apply(NewOrder(self.now, buyer, name, Side.BUY, quantity, price))
        assert any(isinstance(e, Fill) for e in events), events

    def balance(self, account: str) -> int:
        return self.pipeline.risk.ledger.accounts[account].balance

    def quantity(self, account: str, name: str) -> int:
        position = self.pipeline.risk.ledger.accounts[account].positions.get(name)
        return 0 if position is None else position.quantity

    def parts(self) -> tuple[bytes, bytes]:
        """Both engines' hashes: what a refused command must leave as it found."""
        return self.pipeline.engine.state_hash(), risk_hash(self.pipeline.risk)


def refused(engine: Engine, command: Command, reason: RiskReason | ExchangeReason) -> None:
    before = engine.parts()
    events = engine.apply(command)
    assert len(events) == 1 and isinstance(events[0], CommandFailed), events
    assert events[0].code == int(reason), events[0].message
    assert engine.parts() == before


def settle(
    name: str, price: int, credits: tuple[ChainCredit, ...], ts: int = AFTER_EXPIRY
) -> SettleExpiry:
    return SettleExpiry(ts, name, price, 42, ts, credits)


def test_an_option_settles_at_the_chain_price_and_its_credits_equal_the_chain_s() -> None:
    engine = Engine()
    engine.trade("alice", "bob", CALL, 3 * OPTION_LOT, 5_000 * USDC)
    before = {a: engine.balance(a) for a in ACCOUNTS}
    # Struck at 100,000 and settled at 110,000.5: 10,000.5 USDC per BTC on 0.03 BTC.
    price = 110_000_500_000
    credits = (
        ChainCredit("alice", 3 * OPTION_LOT, 300_015_000),
        ChainCredit("bob", -3 * OPTION_LOT, -300_015_000),
    )

    events = engine.apply(settle(CALL, price, credits))

    assert events == [ExpirySettled(AFTER_EXPIRY, CALL, price, 42, 2, ())]
    assert engine.balance("alice") - before["alice"] == 300_015_000
    assert engine.balance("bob") - before["bob"] == -300_015_000
    assert engine.quantity("alice", CALL) == engine.quantity("bob", CALL) == 0
    assert engine.pipeline.risk.ledger.settled[CALL] == price
    check_conservation(engine.pipeline.risk.ledger)


def test_a_future_settles_its_open_costs_exactly_even_when_they_do_not_net_out() -> None:
    engine = Engine()
    engine.trade("alice", "bob", FUTURE, 100 * FUTURE_LOT, 100_000 * USDC)
    engine.trade("carol", "alice", FUTURE, 100 * FUTURE_LOT, 110_000 * USDC)  # alice closes
    before = {a: engine.balance(a) for a in ACCOUNTS}
    pool = engine.pipeline.risk.ledger.fee_pool
    # 0.01 BTC each: bob sold at 100,000, carol bought at 110,000, both settle at 120,000.
    credits = (
        ChainCredit("bob", -1_000_000, -200_000_000),
        ChainCredit("carol", 1_000_000, 100_000_000),
    )

    events = engine.apply(settle(FUTURE, 120_000 * USDC, credits))

    assert isinstance(events[0], ExpirySettled) and events[0].mismatched == ()
    assert engine.balance("bob") - before["bob"] == -200_000_000
    assert engine.balance("carol") - before["carol"] == 100_000_000
    assert engine.balance("alice") == before["alice"]
    assert engine.pipeline.risk.ledger.fee_pool == pool
    check_conservation(engine.pipeline.risk.ledger)


def test_positions_that_differ_from_the_chain_s_are_settled_and_named() -> None:
    engine = Engine()
    engine.trade("alice", "bob", CALL, OPTION_LOT, 5_000 * USDC)
    engine.trade("carol", "bob", CALL, OPTION_LOT, 5_000 * USDC)  # a fill the chain refused
    credits = (
        ChainCredit("alice", OPTION_LOT, 100_000_000),
        ChainCredit("bob", -OPTION_LOT, -100_000_000),
    )

    events = engine.apply(settle(CALL, 110_000 * USDC, credits))

    assert isinstance(events[0], ExpirySettled)
    assert events[0].mismatched == ("bob", "carol")
    assert all(engine.quantity(a, CALL) == 0 for a in ACCOUNTS)
    check_conservation(engine.pipeline.risk.ledger)


def test_an_instrument_settles_once_whatever_carries_the_second_settlement() -> None:
    engine = Engine()
    engine.trade("alice", "bob", CALL, OPTION_LOT, 5_000 * USDC)
    credits = (
        ChainCredit("alice", OPTION_LOT, 100_000_000),
        ChainCredit("bob", -OPTION_LOT, -100_000_000),
    )
    engine.apply(settle(CALL, 110_000 * USDC, credits))

    refused(engine, settle(CALL, 110_000 * USDC, credits), RiskReason.ALREADY_SETTLED)
    refused(engine, settle(CALL, 90_000 * USDC, ()), RiskReason.ALREADY_SETTLED)


def test_a_settlement_the_engine_cannot_trust_is_refused_and_changes_nothing() -> None:
    engine = Engine()
    engine.trade("alice", "bob", CALL, OPTION_LOT, 5_000 * USDC)
    credits = (
        ChainCredit("alice", OPTION_LOT, 100_000_000),
        ChainCredit("bob", -OPTION_LOT, -100_000_000),
    )
    stranger = (*credits, ChainCredit("mallory", OPTION_LOT, 5))
    twice = (*credits, ChainCredit("alice", 0, 1))

    refused(
        engine, settle("BTC-27DEC26-200000-C", 110_000 * USDC, ()), RiskReason.UNKNOWN_INSTRUMENT
    )
    refused(engine, settle(CALL, 110_000 * USDC, stranger), RiskReason.UNKNOWN_ACCOUNT)
    refused(engine, settle(CALL, 110_000 * USDC, twice), ExchangeReason.MALFORMED_COMMAND)
    refused(engine, settle(CALL, 110_000 * USDC, credits, ts=EXPIRY - 1), RiskReason.NOT_EXPIRED)
    refused(engine, settle(CALL, 0, credits), RiskReason.INVALID_PRICE)
    refused(engine, settle(CALL, -5, credits), RiskReason.INVALID_PRICE)
    refused(engine, settle(PERP, INDEX, ()), RiskReason.NOT_EXPIRED)
    refused(
        engine,
        SettleExpiry(AFTER_EXPIRY, CALL, INDEX, 0, AFTER_EXPIRY, credits),
        ExchangeReason.MALFORMED_COMMAND,
    )
    assert engine.quantity("alice", CALL) == OPTION_LOT


def fund(
    credits: tuple[ChainCredit, ...], ts: int = T0 + 8 * 3_600_000, name: str = PERP
) -> PayFunding:
    return PayFunding(ts, name, 4_500, 7, ts, credits)


def test_funding_applies_the_chain_s_amount_per_account_and_its_dust_to_the_fee_pool() -> None:
    engine = Engine()
    engine.trade("alice", "bob", PERP, 100 * FUTURE_LOT, INDEX)
    engine.trade("alice", "carol", PERP, 50 * FUTURE_LOT, INDEX)
    before = {a: engine.balance(a) for a in ACCOUNTS}
    pool = engine.pipeline.risk.ledger.fee_pool
    # What the chain paid for its positions then, not the engine's now; rounding left 2 units.
    credits = (
        ChainCredit("alice", 7, -1_000_001),
        ChainCredit("bob", -5, 700_000),
        ChainCredit("carol", -2, 299_999),
    )

    events = engine.apply(fund(credits))

    assert events == [FundingPaid(T0 + 8 * 3_600_000, PERP, 4_500, 7, 3)]
    assert {a: engine.balance(a) - before[a] for a in ACCOUNTS} == {
        "alice": -1_000_001,
        "bob": 700_000,
        "carol": 299_999,
    }
    assert engine.pipeline.risk.ledger.fee_pool == pool + 2
    assert engine.quantity("alice", PERP) == 150 * FUTURE_LOT  # funding moves no position
    check_conservation(engine.pipeline.risk.ledger)


def test_a_replayed_or_older_funding_changes_nothing() -> None:
    engine = Engine()
    credits = (ChainCredit("alice", 1, -10), ChainCredit("bob", -1, 10))
    engine.apply(fund(credits))

    refused(engine, fund(credits), RiskReason.FUNDING_REPLAYED)
    refused(engine, fund(credits, ts=T0 + 1), RiskReason.FUNDING_REPLAYED)
    # A later block's funding, even one second on (a late block then an on-time one), applies.
    assert isinstance(engine.apply(fund(credits, ts=T0 + 8 * 3_600_000 + 1_000))[0], FundingPaid)


def test_a_funding_the_engine_cannot_trust_is_refused_and_changes_nothing() -> None:
    engine = Engine()
    good = (ChainCredit("alice", 1, -10), ChainCredit("bob", -1, 10))

    refused(engine, fund(good, name="ETH-PERPETUAL"), RiskReason.UNKNOWN_INSTRUMENT)
    refused(engine, fund(good, name=FUTURE), RiskReason.NOT_PERPETUAL)
    refused(engine, fund((*good, ChainCredit("mallory", 1, -1))), RiskReason.UNKNOWN_ACCOUNT)
    refused(
        engine,
        fund((ChainCredit("alice", 1, 10), ChainCredit("bob", -1, -9))),
        RiskReason.INVALID_AMOUNT,
    )
    refused(engine, fund((*good, ChainCredit("bob", 0, 0))), ExchangeReason.MALFORMED_COMMAND)
    refused(engine, PayFunding(T0, PERP, 1, 7, 0, good), ExchangeReason.MALFORMED_COMMAND)


@pytest.mark.parametrize(
    "command",
    [
        settle(CALL, 110_000 * USDC, (ChainCredit("alice", OPTION_LOT, 1),)),
        fund((ChainCredit("alice", 1, -10),)),
    ],
)
def test_chain_commands_round_trip_through_the_journal_encoding(command: Command) -> None:
    assert decode(encode(command), Command) == command  # type: ignore[arg-type]


def test_a_restored_snapshot_still_refuses_a_second_settlement() -> None:
    engine = Engine()
    engine.trade("alice", "bob", CALL, OPTION_LOT, 5_000 * USDC)
    engine.apply(settle(CALL, 110_000 * USDC, ()))
    engine.apply(fund((ChainCredit("alice", 1, -10),)))
    restored = Pipeline.restore(engine.pipeline.snapshot())
    assert restored.state_hash() == engine.pipeline.state_hash()
    engine.pipeline = restored

    refused(engine, settle(CALL, 110_000 * USDC, ()), RiskReason.ALREADY_SETTLED)
    refused(engine, fund((ChainCredit("alice", 1, -10),)), RiskReason.FUNDING_REPLAYED)


def test_an_instrument_the_engine_settled_itself_is_not_settled_again_by_the_feed() -> None:
    # The engine has no settlement of its own (the chain decides), but should one ever settle an
    # instrument through the risk ledger directly, the chain's settlement cannot add a second.
    engine = Engine()
    engine.trade("alice", "bob", CALL, OPTION_LOT, 5_000 * USDC)
    settle_expiry(engine.pipeline.risk.ledger, CALL, price=120_000 * USDC, ts_ms=AFTER_EXPIRY)
    balances = {a: engine.balance(a) for a in ACCOUNTS}

    refused(engine, settle(CALL, 110_000 * USDC, ()), RiskReason.ALREADY_SETTLED)
    assert {a: engine.balance(a) for a in ACCOUNTS} == balances


def test_a_settled_instrument_no_longer_trades_even_before_the_engine_s_clock_reaches_expiry() -> (
    None
):
    engine = Engine()  # the engine's clock is months before expiry; the chain's is past it
    engine.trade("alice", "bob", CALL, OPTION_LOT, 5_000 * USDC)
    engine.apply(NewOrder(engine.now + 1, "carol", CALL, Side.SELL, OPTION_LOT, 5_000 * USDC))
    engine.apply(settle(CALL, 110_000 * USDC, ()))

    events = engine.apply(
        NewOrder(engine.now + 2, "alice", CALL, Side.BUY, OPTION_LOT, 5_000 * USDC)
    )

    assert not any(isinstance(e, Fill) for e in events)
    assert [e.code for e in events if isinstance(e, OrderRejected)] == [RiskReason.ALREADY_SETTLED]
    assert engine.quantity("alice", CALL) == 0
    check_conservation(engine.pipeline.risk.ledger)
