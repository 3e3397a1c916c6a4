"""Withdrawals the gateway journaled: the batcher hands each debited one to the desk, which
broadcasts it once (across restarts) and refunds the engine once if it cannot be paid."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from optex.chain import SignedTx, tx_hash
from optex.core import ManualClock, encode
from optex.crypto import PrivateKey, Side
from optex.exchange import Deposit as EngineDeposit
from optex.exchange import Withdraw
from optex.journal import FileFollower
from optex.settlement import (
    Batcher,
    BatcherConfig,
    ChainWatcher,
    LocalChain,
    Stage,
    WatcherConfig,
    WithdrawalDesk,
    withdraw_key,
)
from optex.settlement._watch import WATCHER_FILE
from tests.chain.kit import CHAIN, T0, Chain
from tests.settlement.kit import (
    INDEX,
    LOT,
    USDC,
    Engine,
    local_chain,
    setup_commands,
    signed,
    until,
)
from tests.settlement.test_feedback import chain_usdc, watcher, withdrawal

ACCOUNTS = ("alice", "bob")
OPERATOR = PrivateKey.generate()


async def engine_with_setup(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, ManualClock(T0))
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    return engine


async def journal_withdrawal(engine: Engine, tx: SignedTx, chain_tx: bytes | None = None) -> str:
    """What the gateway does after its TOTP check."""
    digest = tx_hash(tx).hex()
    body = tx.body
    command = Withdraw(
        0,
        body.account,  # type: ignore[union-attr]
        body.amount,  # type: ignore[union-attr]
        digest,
        chain_tx=encode(tx) if chain_tx is None else chain_tx,
    )
    await engine.submit(command, withdraw_key(digest))
    return digest


def desk_of(tmp_path: Path, local: LocalChain, engine: Engine) -> WithdrawalDesk:
    return WithdrawalDesk(tmp_path / "settle", local, engine, chain_id=CHAIN)


def replay(tmp_path: Path, local: LocalChain, engine: Engine, desk: WithdrawalDesk) -> None:
    """A batcher with no snapshot reads the whole journal, handing withdrawals to ``desk``."""
    config = BatcherConfig(tmp_path / "batcher", str(engine.path), OPERATOR, chain_id=CHAIN)
    batcher = Batcher(config, local, on_withdrawal=desk.journaled)
    follower = FileFollower(engine.path)
    while entries := follower.poll():
        for entry in entries:
            batcher.apply_entry(entry)


async def run_desk(desk: WithdrawalDesk, done: object) -> None:
    task = asyncio.get_running_loop().create_task(desk.run())
    try:
        await until(done)  # type: ignore[arg-type]
        await asyncio.sleep(0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def paid(chain: Chain, digest: str) -> int:
    """How many decided blocks applied the transaction ``digest``."""
    count = 0
    for height in range(1, chain.ledger.height + 1):
        block, result = chain.ledger.load_block(height)
        for tx, outcome in zip(block.txs, result.txs, strict=True):
            count += tx_hash(tx).hex() == digest and outcome.code == 0
    return count


async def test_a_journaled_withdrawal_is_paid_once_across_restarts(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    before = chain_usdc(chain, "alice")
    digest = await journal_withdrawal(engine, withdrawal(chain, "alice", 100 * USDC))
    assert engine.balance("alice") == 999_900 * USDC

    # Recorded when the batcher meets it, then killed before broadcasting: nothing lost.
    first = desk_of(tmp_path, local, engine)
    replay(tmp_path, local, engine, first)
    assert first.stage(digest) is Stage.SUBMITTED
    assert chain_usdc(chain, "alice") == before

    for _ in range(2):  # a restarted desk broadcasts it again: the node says duplicate
        desk = desk_of(tmp_path, local, engine)
        replay(tmp_path, local, engine, desk)
        await run_desk(desk, lambda: chain_usdc(chain, "alice") != before)
    (tmp_path / "settle" / WATCHER_FILE).unlink(missing_ok=True)
    await watcher(tmp_path, local, engine, desk).catch_up()
    assert desk.stage(digest) is Stage.DONE
    assert paid(chain, digest) == 1
    assert chain_usdc(chain, "alice") == before - 100 * USDC
    assert engine.balance("alice") == 999_900 * USDC  # the watcher used the gateway's key
    await engine.close()


async def test_a_journaled_withdrawal_the_ledger_refuses_is_refunded_once(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    too_much = chain_usdc(chain, "bob") + 1  # the engine's books allow it, the chain does not
    await engine.submit(EngineDeposit(0, "bob", 2 * too_much))
    digest = await journal_withdrawal(engine, withdrawal(chain, "bob", too_much))
    debited = engine.balance("bob")
    desk = desk_of(tmp_path, local, engine)
    replay(tmp_path, local, engine, desk)
    height = local.height()
    await run_desk(desk, lambda: local.height() > height)
    for _ in range(2):
        (tmp_path / "settle" / WATCHER_FILE).unlink(missing_ok=True)
        again = desk_of(tmp_path, local, engine)
        replay(tmp_path, local, engine, again)
        await watcher(tmp_path, local, engine, again).catch_up()
        assert again.stage(digest) is Stage.REFUNDED
        assert engine.balance("bob") == debited + too_much
    assert paid(chain, digest) == 0
    await engine.close()


async def test_a_journaled_transaction_that_cannot_be_paid_is_refunded_once(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    tx = withdrawal(chain, "alice", 7 * USDC)
    other = withdrawal(chain, "alice", 8 * USDC)  # not the amount debited
    digest = await journal_withdrawal(engine, tx, chain_tx=encode(other))
    height = local.height()
    for _ in range(2):
        desk = desk_of(tmp_path, local, engine)
        replay(tmp_path, local, engine, desk)
        await run_desk(desk, lambda: desk.stage(digest) is Stage.REFUNDED)  # noqa: B023
        assert engine.balance("alice") == 1_000_000 * USDC
    assert local.height() == height  # nothing was broadcast
    await engine.close()


async def test_a_withdrawal_the_engine_refused_is_never_broadcast(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    digest = await journal_withdrawal(engine, withdrawal(chain, "alice", 2_000_000 * USDC))
    assert engine.balance("alice") == 1_000_000 * USDC
    height = local.height()
    desk = desk_of(tmp_path, local, engine)
    replay(tmp_path, local, engine, desk)
    assert desk.refused(digest)  # remembered, never broadcast
    assert desk._to_broadcast.empty()
    assert local.height() == height
    await engine.close()


async def test_the_watcher_does_not_debit_a_journaled_withdrawal_again(tmp_path: Path) -> None:
    """The chain's block is read before the batcher met the journal entry (the desk does not
    know the hash yet): the watcher's debit uses the gateway's key and is a duplicate."""
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    tx = withdrawal(chain, "alice", 30 * USDC)
    await journal_withdrawal(engine, tx)
    journaled = engine.journal.last_seq
    local.broadcast(tx)  # sent straight to a node as well
    desk = desk_of(tmp_path, local, engine)
    await watcher(tmp_path, local, engine, desk).catch_up()
    assert engine.balance("alice") == 999_970 * USDC
    assert engine.journal.last_seq == journaled
    await engine.close()


async def test_a_refused_withdrawal_the_chain_pays_anyway_is_debited_once(
    tmp_path: Path,
) -> None:
    """The engine refused it (its debit key is spent), then its owner sent the same signed
    transaction to a node: the watcher debits it under a second key, once."""
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    await engine.place(signed("alice", Side.SELL, INDEX, 100_000 * LOT))
    await engine.place(signed("bob", Side.BUY, INDEX, 100_000 * LOT))
    tx = withdrawal(chain, "alice", 999_000 * USDC)
    digest = await journal_withdrawal(engine, tx)
    balance = engine.balance("alice")
    local.broadcast(tx)  # the ledger checks no margin: it pays
    desk = desk_of(tmp_path, local, engine)

    async def caught_up() -> None:
        replay(tmp_path, local, engine, desk)

    for _ in range(2):  # a watcher that lost its checkpoint reads the block again
        (tmp_path / "settle" / WATCHER_FILE).unlink(missing_ok=True)
        await ChainWatcher(
            WatcherConfig(tmp_path / "settle"), local, engine, desk, journal_caught_up=caught_up
        ).catch_up()
        assert desk.stage(digest) is Stage.REFUSED
        assert engine.balance("alice") == balance - 999_000 * USDC
    await engine.close()
