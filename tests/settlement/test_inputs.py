"""Bad input gets a clear refusal and changes nothing; broken records stop start-up."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from optex.chain import Transfer, Withdraw
from optex.core import ManualClock, OptexError
from optex.crypto import Side
from optex.exchange import CommandFailed
from optex.exchange._commands import Withdraw as EngineWithdraw
from optex.market import Fill
from optex.settlement import (
    BadCheckpoint,
    Batcher,
    BatcherConfig,
    BatcherStopped,
    SettlementReason,
    WithdrawalDesk,
    check_fill,
)
from tests.chain.kit import CHAIN, PERP, T0, key, owner
from tests.settlement.kit import INDEX, LOT, Engine, local_chain, setup_commands, signed, until

ACCOUNTS = ("alice", "bob")


async def engine_with_setup(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, ManualClock(T0))
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    return engine


def fill(price: int = INDEX, quantity: int = LOT, ts_ms: int = T0 + 1) -> Fill:
    return Fill(ts_ms, 1, PERP, price, quantity, Side.BUY, 1, "alice", 2, "bob")


@pytest.mark.parametrize(
    ("maker_kw", "fill_kw", "why"),
    [
        ({"chain_id": "other-chain"}, {}, "signed for chain"),
        ({"expiry_ms": T0 + 1}, {}, "expired"),
        ({}, {"price": INDEX - 1_000_000}, "outside the maker's signed limit"),
        ({}, {"quantity": 2 * LOT}, "signed quantity"),
    ],
)
def test_a_fill_outside_its_signed_orders_is_explained(
    maker_kw: dict[str, object], fill_kw: dict[str, int], why: str
) -> None:
    maker = signed("alice", Side.SELL, INDEX, LOT, **maker_kw)  # type: ignore[arg-type]
    taker = signed("bob", Side.BUY, INDEX, 2 * LOT)
    problem = check_fill(CHAIN, maker, taker, fill(**fill_kw), {})
    assert problem is not None and why in problem


def test_a_fill_within_both_signed_orders_passes() -> None:
    maker = signed("alice", Side.SELL, INDEX, LOT)
    taker = signed("bob", Side.BUY, INDEX, LOT)
    assert check_fill(CHAIN, maker, taker, fill(), {}) is None


async def test_the_engine_refuses_a_bad_withdrawal_and_changes_nothing(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    state = engine.pipeline.risk.ledger.accounts["alice"].balance
    for command in (
        EngineWithdraw(0, "alice", -5),
        EngineWithdraw(0, "alice", 10**15),
        EngineWithdraw(0, "nobody", 5),
    ):
        receipt = await engine.submit(command)
        assert [type(e) for e in receipt.events] == [CommandFailed]
    assert engine.balance("alice") == state
    await engine.close()


async def test_the_desk_refuses_what_is_not_a_good_withdrawal(tmp_path: Path) -> None:
    engine = await engine_with_setup(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    desk = WithdrawalDesk(tmp_path / "desk", local, engine, chain_id=CHAIN)
    transfer = chain.sign(
        owner("alice"), Transfer, source="alice", destination="bob", asset="USDC", amount=1
    )
    wrong_asset = chain.sign(
        owner("alice"), Withdraw, account="alice", asset="OPX", amount=1, address="0xabc"
    )
    good = chain.sign(
        owner("alice"), Withdraw, account="alice", asset="USDC", amount=1, address="0xabc"
    )
    forged = msgspec.structs.replace(good, signature=bytes(64))
    journaled, height = engine.journal.last_seq, local.height()
    for tx, reason in (
        (transfer, SettlementReason.WITHDRAWAL_INVALID),
        (wrong_asset, SettlementReason.UNSUPPORTED_ASSET),
        (forged, SettlementReason.WITHDRAWAL_INVALID),
    ):
        with pytest.raises(OptexError) as refused:
            await desk.request(tx)
        assert refused.value.code == reason
    assert engine.journal.last_seq == journaled and local.height() == height
    assert desk.records == {}
    await engine.close()


def test_a_checkpoint_that_does_not_decode_stops_start_up(tmp_path: Path) -> None:
    home = tmp_path / "settle"
    home.mkdir()
    (home / "checkpoint.bin").write_bytes(b"not a checkpoint")
    _, local = local_chain(ACCOUNTS)
    config = BatcherConfig(home=home, journal=str(tmp_path / "j"), operator=key("operator"))
    with pytest.raises(BadCheckpoint):
        Batcher(config, local)


async def test_a_batch_signed_by_a_key_that_is_not_the_operator_stops_the_batcher(
    tmp_path: Path,
) -> None:
    engine = await engine_with_setup(tmp_path)
    _, local = local_chain(ACCOUNTS)
    await engine.place(signed("alice", Side.SELL, INDEX, LOT))
    await engine.place(signed("bob", Side.BUY, INDEX, LOT))
    config = BatcherConfig(
        home=tmp_path / "settle",
        journal=str(tmp_path / "journal.optexj"),
        operator=key("not the operator"),
        chain_id=CHAIN,
        poll_s=0.01,
    )
    batcher = Batcher(config, local)
    await batcher.start()
    await until(lambda: batcher.failure is not None)
    await batcher.stop()
    await engine.close()
    assert isinstance(batcher.failure, BatcherStopped)
    assert batcher.failure.code == SettlementReason.OPERATOR_REFUSED
    assert batcher.checkpoint.refused_fills == 0  # the fill was not blamed
    assert len(batcher.queue) == 1
