"""Chain feedback: deposits credit the engine once, withdrawals debit it before the chain pays."""

from __future__ import annotations

from pathlib import Path

import pytest

from optex.chain import Deposit, SignedTx, Withdraw
from optex.core import ManualClock, OptexError
from optex.crypto import Side
from optex.exchange import Deposit as EngineDeposit
from optex.settlement import (
    ChainWatcher,
    LocalChain,
    SettlementReason,
    Stage,
    WatcherConfig,
    WithdrawalDesk,
)
from optex.settlement._watch import WATCHER_FILE
from tests.chain.kit import BRIDGE, CHAIN, T0, Chain, owner
from tests.settlement.kit import INDEX, LOT, USDC, Engine, local_chain, setup_commands, signed

ACCOUNTS = ("alice", "bob")


async def engine_with_setup(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, ManualClock(T0))
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    return engine


def deposit(chain: Chain, account: str, amount: int, deposit_id: str) -> SignedTx:
    return chain.sign(
        BRIDGE,
        Deposit,
        account=account,
        owner_key=owner(account).public_key.raw,
        asset="USDC",
        amount=amount,
        deposit_id=deposit_id,
    )


def withdrawal(chain: Chain, account: str, amount: int) -> SignedTx:
    return chain.sign(
        owner(account), Withdraw, account=account, asset="USDC", amount=amount, address="0xabc"
    )


def chain_usdc(chain: Chain, account: str) -> int:
    record = chain.ledger.account(account)
    return 0 if record is None else record.balances.get("USDC", 0)


def watcher(
    tmp_path: Path, local: LocalChain, engine: Engine, desk: WithdrawalDesk | None = None
) -> ChainWatcher:
    return ChainWatcher(WatcherConfig(tmp_path / "settle"), local, engine, desk)


async def test_a_chain_deposit_credits_the_engine_once_even_after_a_watcher_restart(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    local.broadcast(deposit(chain, "erin", 250 * USDC, "bridge-1"))
    local.broadcast(deposit(chain, "alice", 5 * USDC, "bridge-2"))
    first = watcher(tmp_path, local, engine)
    assert await first.catch_up() == local.height()
    assert engine.balance("erin") == 250 * USDC
    assert engine.balance("alice") == 1_000_005 * USDC
    # A watcher that lost its checkpoint reads every block again: the keys make it a no-op.
    (tmp_path / "settle" / WATCHER_FILE).unlink()
    journaled = engine.journal.last_seq
    second = watcher(tmp_path, local, engine)
    await second.catch_up()
    assert engine.balance("erin") == 250 * USDC
    assert engine.journal.last_seq == journaled
    await engine.close()


async def test_a_withdrawal_sent_straight_to_the_chain_is_debited_in_the_engine(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    local.broadcast(withdrawal(chain, "bob", 40 * USDC))
    await watcher(tmp_path, local, engine).catch_up()
    assert engine.balance("bob") == 999_960 * USDC
    await engine.close()


async def test_the_desk_refuses_a_withdrawal_the_engine_margin_does_not_allow(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    await engine.place(signed("alice", Side.SELL, INDEX, 100_000 * LOT))
    await engine.place(signed("bob", Side.BUY, INDEX, 100_000 * LOT))
    desk = WithdrawalDesk(tmp_path / "settle", local, engine, chain_id=CHAIN)
    height, balance = local.height(), engine.balance("alice")
    with pytest.raises(OptexError) as refused:
        await desk.request(withdrawal(chain, "alice", 999_000 * USDC))
    assert refused.value.code == SettlementReason.WITHDRAWAL_REFUSED
    assert "margin" in refused.value.message
    assert local.height() == height  # nothing reached the chain
    assert engine.balance("alice") == balance
    await engine.close()


async def test_a_desk_withdrawal_is_debited_once_then_paid_on_chain(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    desk = WithdrawalDesk(tmp_path / "settle", local, engine, chain_id=CHAIN)
    before = chain_usdc(chain, "alice")
    digest = await desk.request(withdrawal(chain, "alice", 100 * USDC))
    assert engine.balance("alice") == 999_900 * USDC
    await watcher(tmp_path, local, engine, desk).catch_up()
    assert desk.stage(digest) is Stage.DONE
    assert engine.balance("alice") == 999_900 * USDC  # the watcher did not debit it again
    assert chain_usdc(chain, "alice") == before - 100 * USDC
    await engine.close()


async def test_a_desk_withdrawal_the_ledger_refuses_is_refunded_once(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    local.hold = True
    desk = WithdrawalDesk(tmp_path / "settle", local, engine, chain_id=CHAIN)
    too_much = chain_usdc(chain, "bob") + 1  # the engine's books allow it, the chain does not
    await engine.submit(EngineDeposit(0, "bob", 2 * too_much))
    digest = await desk.request(withdrawal(chain, "bob", too_much))
    local.decide()
    after_debit = engine.balance("bob") + too_much
    for _ in range(2):
        (tmp_path / "settle" / WATCHER_FILE).unlink(missing_ok=True)
        await watcher(tmp_path, local, engine, desk).catch_up()
        assert desk.stage(digest) is Stage.REFUNDED
        assert engine.balance("bob") == after_debit
    await engine.close()
