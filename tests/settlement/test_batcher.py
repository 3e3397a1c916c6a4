"""The batcher against a real file journal and an in-process ledger: fills settle exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from optex.chain import TradeBatch, fill_record_id
from optex.core import ManualClock
from optex.crypto import Side, replacement, sign_order
from optex.exchange import PlaceSignedOrder
from optex.market import AmendOrder, NewOrder, OrderAmended
from optex.settlement import Batcher, BatcherConfig, LocalChain, SettlementReason, nonce_of
from tests.chain.kit import OPERATOR, PERP, T0, Chain, trader
from tests.settlement.kit import (
    INDEX,
    LOT,
    TICK,
    Engine,
    local_chain,
    run_batcher,
    setup_commands,
    signed,
    until,
)

ACCOUNTS = ("alice", "bob", "carol")


def config(tmp_path: Path, **kw: object) -> BatcherConfig:
    return BatcherConfig(
        home=tmp_path / "settle",
        journal=str(tmp_path / "journal.optexj"),
        operator=OPERATOR,
        chain_id="optex-test",
        poll_s=0.01,
        resubmit_s=0.5,
        **kw,  # type: ignore[arg-type]
    )


async def engine_with_setup(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, ManualClock(T0))
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    return engine


def chain_position(chain: Chain, account: str) -> int:
    record = chain.ledger.account(account)
    assert record is not None
    found = record.positions.get(PERP)
    return 0 if found is None else found.quantity


def batches(local: LocalChain) -> list[TradeBatch]:
    found = []
    for height in range(1, local.height() + 1):
        for outcome in local.block(height).txs:
            if isinstance(outcome.tx.body, TradeBatch) and outcome.code == 0:
                found.append(outcome.tx.body)
    return found


async def test_a_cross_of_two_signed_orders_settles_on_chain_with_both_orders(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    root_before = chain.ledger.state_root()
    maker = signed("alice", Side.SELL, INDEX, 3 * LOT)
    taker = signed("bob", Side.BUY, INDEX + 10 * TICK, 2 * LOT)
    await engine.place(maker)
    await engine.place(taker)
    batcher = await run_batcher(
        config(tmp_path), local, engine, lambda b: b.checkpoint.committed_fills == 1
    )
    [batch] = batches(local)
    [fill] = batch.fills
    assert (fill.maker, fill.taker, fill.price, fill.quantity) == (maker, taker, INDEX, 2 * LOT)
    assert chain_position(chain, "alice") == engine.position("alice") == -2 * LOT
    assert chain_position(chain, "bob") == engine.position("bob") == 2 * LOT
    assert chain.ledger.state_root() != root_before
    seq, digest = engine.pipeline.last_seq, engine.pipeline.state_hash().hex()
    assert batcher.check_replay(seq, digest) is True
    assert batcher.check_replay(seq, "00" * 32) is False  # a diverged replay is caught
    assert batcher.check_replay(seq + 1, digest) is None  # not comparable yet


async def test_fills_of_unsigned_orders_are_reported_and_never_submitted(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    await engine.submit(NewOrder(0, "alice", PERP, Side.SELL, LOT, INDEX))
    await engine.place(signed("bob", Side.BUY, INDEX, LOT))  # crosses the unsigned order
    await engine.place(signed("carol", Side.SELL, INDEX, LOT))
    await engine.place(signed("bob", Side.BUY, INDEX, LOT))  # a provable fill after it
    batcher = await run_batcher(
        config(tmp_path), local, engine, lambda b: b.checkpoint.committed_fills == 1
    )
    [item] = batcher.unsettled
    assert item.reason == SettlementReason.UNSIGNED_FILL.reason
    assert batcher.unsettled_count == 1
    assert chain_position(chain, "alice") == 0
    assert chain_position(chain, "carol") == -LOT
    assert chain_position(chain, "bob") == LOT  # on chain, only the provable fill


async def test_an_amended_signed_order_cannot_be_proven_and_is_reported(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    _, local = local_chain(ACCOUNTS)
    receipt = await engine.place(signed("alice", Side.SELL, INDEX, LOT))
    order_id = receipt.events[0].order_id  # type: ignore[union-attr]
    await engine.submit(AmendOrder(0, "alice", order_id=order_id, quantity=5 * LOT))
    await engine.place(signed("bob", Side.BUY, INDEX, 5 * LOT))
    batcher = await run_batcher(config(tmp_path), local, engine, lambda b: b.unsettled_count == 1)
    assert batcher.unsettled[0].reason == SettlementReason.UNPROVABLE_FILL.reason
    assert "signed quantity" in batcher.unsettled[0].message
    assert batches(local) == []


async def test_fills_before_and_after_a_signed_edit_settle_and_match_the_engine(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    first = signed("alice", Side.SELL, INDEX, 3 * LOT)
    receipt = await engine.place(first)
    order_id = receipt.events[0].order_id  # type: ignore[union-attr]
    await engine.place(signed("bob", Side.BUY, INDEX, 2 * LOT))
    # The edit: 5 lots in total (2 already filled), one tick dearer; signed by alice's key.
    edit = replacement(
        first, price=INDEX + TICK, quantity=5 * LOT, nonce=10**9, expiry_ms=T0 + 3_600_000
    )
    amended = await engine.submit(PlaceSignedOrder(0, sign_order(trader("alice"), edit)))
    assert any(isinstance(e, OrderAmended) and e.order_id == order_id for e in amended.events)
    await engine.place(signed("carol", Side.BUY, INDEX + TICK, 4 * LOT))  # fills the 3 left
    batcher = await run_batcher(
        config(tmp_path), local, engine, lambda b: b.checkpoint.committed_fills == 2
    )
    assert batcher.unsettled_count == 0
    for account in ACCOUNTS:
        assert chain_position(chain, account) == engine.position(account)
        ledger_account = chain.ledger.account(account)
        assert ledger_account is not None
        assert ledger_account.balances["USDC"] == engine.balance(account)
    assert chain_position(chain, "alice") == -5 * LOT
    record = chain.ledger.get(
        "fill/" + fill_record_id(first.order_hash, first.public_key, "alice").hex()
    )
    assert record is not None and (record.quantity, record.revision) == (5 * LOT, 1)


async def test_a_batch_the_ledger_refuses_is_split_and_only_the_bad_fill_is_left_out(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(("alice", "bob"))  # carol's trading key is not on chain
    for seller in ("alice", "carol", "alice", "alice"):
        await engine.place(signed(seller, Side.SELL, INDEX, LOT))
        await engine.place(signed("bob", Side.BUY, INDEX, LOT))
    batcher = await run_batcher(
        config(tmp_path),
        local,
        engine,
        lambda b: b.checkpoint.committed_fills == 3,
        lambda b: b.checkpoint.refused_fills == 1,
    )
    assert chain_position(chain, "alice") == -3 * LOT
    assert chain_position(chain, "bob") == 3 * LOT
    [refused] = batcher.unsettled
    assert refused.reason == SettlementReason.FILL_REFUSED.reason
    assert "delegation" in refused.message or "trading key" in refused.message
    assert batcher.queue == type(batcher.queue)()


async def test_a_batcher_killed_with_a_batch_in_flight_settles_it_exactly_once(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    for _ in range(3):
        await engine.place(signed("alice", Side.SELL, INDEX, LOT))
        await engine.place(signed("bob", Side.BUY, INDEX, LOT))
    local.hold = True  # the node admits the batch but decides no block yet
    first = Batcher(config(tmp_path), local)
    await first.start()
    await until(lambda: len(local.pending) == 1)
    inflight = first.checkpoint.inflight
    assert inflight is not None
    for task in first._tasks:  # a crash: no snapshot, no goodbye
        task.cancel()
    await asyncio.gather(*first._tasks, return_exceptions=True)
    local.decide()  # the batch commits while no batcher runs
    local.hold = False
    for _ in range(2):
        await engine.place(signed("carol", Side.SELL, INDEX, LOT))
        await engine.place(signed("bob", Side.BUY, INDEX, LOT))
    second = Batcher(config(tmp_path), local)
    await second.start()
    try:
        await until(lambda: second.checkpoint.committed_fills == 5)
    finally:
        await second.stop()
        await engine.close()
    assert chain_position(chain, "alice") == -3 * LOT
    assert chain_position(chain, "carol") == -2 * LOT
    assert chain_position(chain, "bob") == 5 * LOT == engine.position("bob")
    nonces = [b.nonce for b in batches(local)]
    assert nonces == sorted(set(nonces)) and len(nonces) == 2
    assert nonces[0] == inflight.body.nonce


async def test_a_restart_replays_from_its_snapshot_and_queues_nothing_settled(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    await engine.place(signed("alice", Side.SELL, INDEX, LOT))
    await engine.place(signed("bob", Side.BUY, INDEX, LOT))
    first = Batcher(config(tmp_path, snapshot_every=1), local)
    await first.start()
    await until(lambda: first.checkpoint.committed_fills == 1)
    await first.stop()
    await engine.place(signed("alice", Side.SELL, INDEX, LOT))
    await engine.place(signed("carol", Side.BUY, INDEX, LOT))
    second = Batcher(config(tmp_path), local)
    assert second.pipeline.last_seq == first.pipeline.last_seq  # restored, not replayed from 1
    await second.start()
    try:
        await until(lambda: second.checkpoint.committed_fills == 2)
    finally:
        await second.stop()
        await engine.close()
    assert chain_position(chain, "alice") == -2 * LOT
    assert second.pipeline.state_hash() == engine.pipeline.state_hash()


def test_batch_nonces_rise_with_the_journal_position_and_are_never_zero() -> None:
    assert 0 < nonce_of((1, 0)) < nonce_of((5, 0)) < nonce_of((5, 1)) < nonce_of((6, 0))
