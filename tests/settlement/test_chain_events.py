"""The chain's expiry settlements and funding fed back to the engine, in process.

A real file journal, sequencer and pipeline, the real batcher and watcher, and an in-process
ledger: fills reach the chain, the chain settles or funds them, the watcher feeds the block's
events back, and every account's balance in the engine equals the chain's to the base unit.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from optex.chain import Event, PriceVote
from optex.core import InvariantViolation, ManualClock, expiry_ms, instrument_from_name
from optex.crypto import OrderIntent, OrderType, Side, SignedOrder, sign_order
from optex.exchange import ChainCredit, PayFunding, SetPrices, SettleExpiry
from optex.market import AddInstrument
from optex.risk import Mark
from optex.settlement import (
    Batcher,
    BatcherConfig,
    ChainWatcher,
    DecidedBlock,
    LocalChain,
    WatcherConfig,
    block_commands,
    funding_key,
    settle_key,
)
from optex.settlement._watch import WATCHER_FILE
from tests.chain.kit import CHAIN, OPERATOR, PERP, T0, Chain, trader, validator_key
from tests.settlement.kit import INDEX, Engine, local_chain, setup_commands, until

FUTURE = "BTC-26MAR27"
EXPIRY = expiry_ms(date(2027, 3, 26))
ACCOUNTS = ("alice", "bob", "carol")
LOT = instrument_from_name(FUTURE).lot_size
_nonces = iter(range(1, 1_000_000))


def order(account: str, side: Side, price: int, quantity: int, instrument: str) -> SignedOrder:
    intent = OrderIntent(
        chain_id=CHAIN,
        account=account,
        instrument=instrument,
        side=side,
        order_type=OrderType.LIMIT,
        price=price,
        quantity=quantity,
        nonce=next(_nonces),
        expiry_ms=T0 + 12 * 3_600_000,  # outlives the funding interval the tests wait for
    )
    return sign_order(trader(account), intent)


async def trading(tmp_path: Path) -> tuple[Engine, Chain, LocalChain]:
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, ManualClock(T0))
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    await engine.submit(AddInstrument(0, instrument_from_name(FUTURE)))
    await engine.submit(SetPrices(0, {"BTC": INDEX}, {FUTURE: Mark(INDEX)}))
    chain, local = local_chain(ACCOUNTS)
    return engine, chain, local


async def settle_fills(tmp_path: Path, local: LocalChain, fills: int) -> None:
    """Run the real batcher until ``fills`` fills are on chain."""
    config = BatcherConfig(
        home=tmp_path / "settle",
        journal=str(tmp_path / "journal.optexj"),
        operator=OPERATOR,
        chain_id=CHAIN,
        poll_s=0.01,
        resubmit_s=0.5,
    )
    batcher = Batcher(config, local)
    await batcher.start()
    try:
        await until(lambda: batcher.checkpoint.committed_fills == fills)
    finally:
        await batcher.stop()


def vote(chain: Chain, local: LocalChain, prices: dict[str, int]) -> None:
    for i in range(3):
        local.broadcast(chain.sign(validator_key(i), PriceVote, prices=prices))


def watcher(tmp_path: Path, local: LocalChain, engine: Engine) -> ChainWatcher:
    return ChainWatcher(WatcherConfig(tmp_path / "settle"), local, engine)


def assert_balances_agree(engine: Engine, chain: Chain) -> None:
    for name in ACCOUNTS:
        record = chain.ledger.account(name)
        assert record is not None
        assert engine.balance(name) == record.balances.get("USDC", 0), name


async def test_an_expired_future_settles_in_the_engine_at_the_chain_price_once(
    tmp_path: Path,
) -> None:
    engine, chain, local = await trading(tmp_path)
    await engine.place(order("bob", Side.SELL, INDEX, 300 * LOT, FUTURE))
    await engine.place(order("alice", Side.BUY, INDEX, 300 * LOT, FUTURE))
    await engine.place(order("alice", Side.SELL, INDEX + 5_000_000_000, 100 * LOT, FUTURE))
    await engine.place(order("carol", Side.BUY, INDEX + 5_000_000_000, 100 * LOT, FUTURE))
    await settle_fills(tmp_path, local, 2)
    assert_balances_agree(engine, chain)

    chain.now = EXPIRY  # the chain's clock passes expiry; the oracle votes after it
    local.decide()
    vote(chain, local, {"BTC": INDEX + 1_234_567})  # off the tick grid: credits round down
    local.decide()
    settled = [e for e in local.block(local.height()).events if e.kind == "settled"]
    assert settled and settled[0].attributes["instrument"] == FUTURE

    feed = watcher(tmp_path, local, engine)
    await feed.catch_up()

    assert feed.state.settlements == 1
    assert engine.pipeline.risk.ledger.settled[FUTURE] == INDEX + 1_234_567
    assert all(engine.position(a) == 0 for a in ACCOUNTS)
    for name in ACCOUNTS:
        assert FUTURE not in engine.pipeline.risk.ledger.accounts[name].positions
    assert_balances_agree(engine, chain)
    # A watcher that lost its checkpoint feeds every block again: nothing is applied twice.
    (tmp_path / "settle" / WATCHER_FILE).unlink()
    journaled, balances = engine.journal.last_seq, {a: engine.balance(a) for a in ACCOUNTS}
    await watcher(tmp_path, local, engine).catch_up()
    assert engine.journal.last_seq == journaled
    assert {a: engine.balance(a) for a in ACCOUNTS} == balances
    await engine.close()


async def test_perpetual_funding_reaches_the_engine_as_the_chain_s_amounts(tmp_path: Path) -> None:
    engine, chain, local = await trading(tmp_path)
    await engine.place(order("bob", Side.SELL, INDEX, 300 * LOT, PERP))
    await engine.place(order("alice", Side.BUY, INDEX, 300 * LOT, PERP))
    await engine.place(order("carol", Side.SELL, INDEX, 70 * LOT, PERP))
    await engine.place(order("alice", Side.BUY, INDEX, 70 * LOT, PERP))
    await settle_fills(tmp_path, local, 2)
    # The validators vote half a minute before the funding time (funding needs live prices).
    chain.now = T0 + 8 * 3_600_000 - 30_000
    vote(chain, local, {"BTC": INDEX, PERP: INDEX + 333_333_333})
    local.decide()
    # The engine's positions move on before the funding block is read: alice sells some.
    await engine.place(order("alice", Side.SELL, INDEX, 50 * LOT, PERP))
    await engine.place(order("bob", Side.BUY, INDEX, 50 * LOT, PERP))
    chain.now = T0 + 8 * 3_600_000 + 20_000
    local.decide()
    assert any(e.kind == "funding" for e in local.block(local.height()).events)

    feed = watcher(tmp_path, local, engine)
    await feed.catch_up()

    assert feed.state.fundings == 1
    # The chain paid funding on its positions then; the later fill settles after it.
    await settle_fills(tmp_path, local, 3)
    assert_balances_agree(engine, chain)
    await engine.close()


def block(*events: Event) -> DecidedBlock:
    return DecidedBlock(9, T0, "00", [], tuple(events))


def credit(kind: str, account: str, instrument: str, quantity: int, amount: int) -> Event:
    attributes = {"account": account, "instrument": instrument}
    return Event(kind, {**attributes, "quantity": str(quantity), "amount": str(amount)})


def test_block_events_become_one_command_per_instrument_with_its_own_key() -> None:
    found = block_commands(
        block(
            credit("settlement_credit", "a", FUTURE, 5, -7),
            credit("settlement_credit", "b", FUTURE, -5, 6),
            Event("settled", {"instrument": FUTURE, "price": "100", "positions": "2"}),
            credit("funding_credit", "a", PERP, 1, -3),
            Event("funding", {"instrument": PERP, "rate_ppm": "45", "positions": "1"}),
            Event("slashed", {"validator": "ab", "fraction_ppm": "10", "burned": "4"}),
            Event("withdrawn", {"account": "a", "asset": "USDC", "amount": "1", "to": "x"}),
        )
    )
    assert [(f.command, f.key) for f in found] == [
        (
            SettleExpiry(0, FUTURE, 100, 9, T0, (ChainCredit("a", 5, -7), ChainCredit("b", -5, 6))),
            settle_key(FUTURE),
        ),
        (PayFunding(0, PERP, 45, 9, T0, (ChainCredit("a", 1, -3),)), funding_key(PERP, 9)),
    ]
    assert settle_key(FUTURE) == f"chain:settle:{FUTURE}"
    assert funding_key(PERP, 9) == f"chain:funding:{PERP}:9"


@pytest.mark.parametrize(
    "events",
    [
        (Event("settled", {"instrument": FUTURE, "price": "ten"}),),
        (Event("settled", {"price": "10"}),),
        (credit("settlement_credit", "a", FUTURE, 1, 1),),
        (credit("funding_credit", "", PERP, 1, 1), Event("funding", {"instrument": PERP})),
    ],
    ids=["price-not-integer", "no-instrument", "credit-never-settled", "no-account"],
)
def test_a_block_event_that_does_not_parse_stops_the_feed(events: tuple[Event, ...]) -> None:
    with pytest.raises(InvariantViolation):
        block_commands(block(*events))


async def test_a_funding_the_chain_skipped_for_stale_prices_feeds_nothing_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, chain, local = await trading(tmp_path)
    await engine.place(order("bob", Side.SELL, INDEX, 300 * LOT, PERP))
    await engine.place(order("alice", Side.BUY, INDEX, 300 * LOT, PERP))
    await settle_fills(tmp_path, local, 1)
    vote(chain, local, {"BTC": INDEX, PERP: INDEX + 333_333_333})
    local.decide()
    balances = {a: engine.balance(a) for a in ACCOUNTS}
    # The validators stop voting; the funding time comes hours after their last vote.
    chain.now = T0 + 8 * 3_600_000 + 60_000
    local.decide()
    events = local.block(local.height()).events
    assert [e.kind for e in events if "funding" in e.kind] == ["funding_skipped"]

    journaled = engine.journal.last_seq
    with caplog.at_level("WARNING", logger="optex.settlement"):
        feed = watcher(tmp_path, local, engine)
        await feed.catch_up()
    assert feed.state.fundings == 0
    assert engine.journal.last_seq == journaled
    assert {a: engine.balance(a) for a in ACCOUNTS} == balances
    assert f"skipped the funding of {PERP}: no live vote for {PERP},BTC" in caplog.text
    assert_balances_agree(engine, chain)
    await engine.close()
