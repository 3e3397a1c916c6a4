"""A signed order trades until the settlement window before its signature ends, so that its last
fill still settles on chain (``optex.exchange``'s ``_window``): an in-process engine on a file
journal, the batcher and a ledger whose blocks come seconds after the fills they record."""

from __future__ import annotations

from pathlib import Path

from optex.core import ManualClock
from optex.crypto import Side
from optex.exchange import SETTLEMENT_WINDOW_MS
from optex.market import Fill, OrderExpired
from tests.chain.kit import T0
from tests.settlement.kit import (
    INDEX,
    LOT,
    Engine,
    local_chain,
    run_batcher,
    setup_commands,
    signed,
)
from tests.settlement.test_batcher import ACCOUNTS, chain_position, config


async def test_the_last_fill_before_the_window_settles_after_it_and_none_comes_later(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, clock)
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    chain, local = local_chain(ACCOUNTS)
    trading_end = T0 + 5_000
    expiry = trading_end + SETTLEMENT_WINDOW_MS
    alice = signed("alice", Side.SELL, INDEX, LOT, expiry_ms=expiry)
    carol = signed("carol", Side.SELL, INDEX, LOT, expiry_ms=expiry)
    await engine.place(alice)
    await engine.place(carol)

    clock.set(trading_end - 1)  # the last millisecond alice's order trades in
    first = await engine.place(signed("bob", Side.BUY, INDEX, LOT))
    [fill] = [e for e in first.events if isinstance(e, Fill)]
    assert fill.maker_account == "alice"
    clock.set(trading_end)  # carol's order, signed to the same end, stops now
    second = await engine.place(signed("bob", Side.BUY, INDEX, LOT))
    assert [e.account for e in second.events if isinstance(e, OrderExpired)] == ["carol"]
    assert not [e for e in second.events if isinstance(e, Fill)]

    # The block recording alice's fill is made 7 s after it: past the engine's end of her
    # order, before her signature's.
    chain.now = trading_end + 7_000 - 1_000  # local_chain's blocks come 1 s after chain.now
    batcher = await run_batcher(
        config(tmp_path), local, engine, lambda b: b.checkpoint.committed_fills == 1
    )
    assert batcher.unsettled_count == 0
    assert chain_position(chain, "alice") == engine.position("alice") == -LOT
    assert chain_position(chain, "bob") == engine.position("bob") == LOT
    assert chain_position(chain, "carol") == engine.position("carol") == 0
