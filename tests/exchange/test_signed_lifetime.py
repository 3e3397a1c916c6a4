"""How long the pipeline keeps signed orders: a resting one stops the settlement window before
its signature expires (a later fill could reach the chain after the signature's end, and the
chain would refuse it), and only orders that still rest are kept, while
the replay guard's nonces carry replay protection across snapshots."""

from __future__ import annotations

import msgspec

from optex.crypto import SecurityReason, Side
from optex.exchange import (
    SETTLEMENT_WINDOW_MS,
    CommandFailed,
    ExchangeReason,
    Pipeline,
    PlaceSignedOrder,
    trading_end_ms,
)
from optex.market import AdvanceTime, Fill, NewOrder, OrderExpired, OrderRejected
from tests.exchange.kit import CALL
from tests.exchange.test_replacements import LOT, PRICE, Run

CALL_PRICE = 5_000_000_000  # the call's mark, 5,000 USDC


def test_a_resting_signed_order_stops_the_settlement_window_before_its_signature_ends() -> None:
    run = Run()
    order = run.order("alice", Side.SELL, LOT)
    order = msgspec.structs.replace(order)  # signed with an expiry an hour ahead
    order_id = run.place(order)
    assert run.pipeline.governing_order(order_id) == order
    # The next command comes as the window opens, while the signature is still good.
    run.ts = trading_end_ms(order)
    assert run.ts == order.intent.expiry_ms - SETTLEMENT_WINDOW_MS
    events = run.apply(NewOrder(0, "bob", "BTC-PERPETUAL", Side.BUY, LOT, PRICE))
    expired = [e for e in events if isinstance(e, OrderExpired)]
    assert [e.order_id for e in expired] == [order_id]
    assert not [e for e in events if isinstance(e, Fill)]
    assert run.pipeline.governing_order(order_id) is None
    assert run.pipeline.signed.by_hash == {}


def test_only_signed_orders_that_still_rest_are_kept() -> None:
    run = Run()
    for _ in range(20):  # each pair trades at once: nothing is left to govern
        run.place(run.order("alice", Side.SELL, LOT))
        run.apply(PlaceSignedOrder(0, run.order("bob", Side.BUY, LOT)))
    resting = run.order("alice", Side.SELL, LOT, PRICE + 10 * 500_000_000)
    run.place(resting)
    assert list(run.pipeline.signed.by_hash.values()) == [resting]
    assert len(run.pipeline.replay) == 41  # yet every nonce is remembered


def test_a_replayed_signed_order_in_a_journal_fails_and_changes_nothing() -> None:
    run = Run()
    order = run.order("alice", Side.SELL, LOT)
    run.place(order)
    engine_before = run.pipeline.engine.state_hash()
    nonces_before = run.pipeline.replay.export()
    (failed,) = run.apply(PlaceSignedOrder(0, order))
    assert isinstance(failed, CommandFailed)
    assert failed.code == SecurityReason.ORDER_REPLAYED
    assert run.pipeline.engine.state_hash() == engine_before
    assert run.pipeline.replay.export() == nonces_before


def test_a_snapshot_carries_the_replay_guard() -> None:
    run = Run()
    order = run.order("alice", Side.SELL, LOT)
    run.place(order)
    restored = Pipeline.restore(run.pipeline.snapshot())
    assert restored.state_hash() == run.pipeline.state_hash()
    assert restored.replay.export() == run.pipeline.replay.export()
    run.pipeline = restored
    (failed,) = run.apply(PlaceSignedOrder(0, order))
    assert isinstance(failed, CommandFailed)
    assert failed.code == SecurityReason.ORDER_REPLAYED


def test_signed_trading_on_an_instrument_ends_the_settlement_window_before_its_expiry() -> None:
    # The chain refuses a fill of an expired instrument as it refuses one of an expired
    # signature: the last fill must reach a block before the instrument's expiry.
    run = Run()
    expiry = run.pipeline.instrument_expiry(CALL)
    assert expiry is not None
    run.ts = expiry - 1_800_000
    order_id = run.place(run.order("alice", Side.SELL, 3 * LOT, CALL_PRICE, CALL))
    resting = run.pipeline.engine.order(order_id)
    assert resting is not None and resting.expire_ts_ms == expiry - SETTLEMENT_WINDOW_MS

    run.ts = expiry - SETTLEMENT_WINDOW_MS - 2  # the next command comes a millisecond before
    taken = run.apply(PlaceSignedOrder(0, run.order("bob", Side.BUY, LOT, CALL_PRICE, CALL)))
    assert [e.quantity for e in taken if isinstance(e, Fill)] == [LOT]

    # From the window on: alice's order is gone, and a new signed order is rejected as the
    # market rejects one (its nonce used, as the sequencer's guard has it; nothing else moves).
    hash_before = run.pipeline.engine.state_hash()
    late = run.order("bob", Side.BUY, LOT, CALL_PRICE, CALL)
    (rejected,) = run.apply(PlaceSignedOrder(0, late))
    assert isinstance(rejected, OrderRejected)
    assert rejected.code == ExchangeReason.EXPIRES_BEFORE_SETTLEMENT
    assert (rejected.account, rejected.order_id) == ("bob", None)
    assert run.pipeline.engine.state_hash() == hash_before
    assert run.pipeline.signed.by_hash.get(late.order_hash) is None
    (replayed,) = run.apply(PlaceSignedOrder(0, late))
    assert isinstance(replayed, CommandFailed) and replayed.code == SecurityReason.ORDER_REPLAYED
    expired = run.apply(AdvanceTime(0))
    assert [e.order_id for e in expired if isinstance(e, OrderExpired)] == [order_id]
