"""Signed replacements in the engine: a signed edit amends the order and governs it from then on.

The pipeline is driven directly (it is deterministic and does no I/O); what the sequencer
verifies (signature, expiry, replay) is the same for a replacement as for any signed order.
"""

from __future__ import annotations

import msgspec
import pytest

from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    Side,
    SignedOrder,
    replacement,
    sign_order,
)
from optex.exchange import Command, ExchangeReason, Pipeline, PlaceSignedOrder
from optex.market import (
    CancelOrder,
    Fill,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
)
from tests.exchange.kit import PERP, T0, setup_commands

CHAIN = "optex-devnet"
LOT = 1_000_000  # 0.01 BTC
PRICE = 100_000_000_000
TICK = 500_000_000  # 500 USDC, a tick of the perpetual times 1000
KEYS = {name: PrivateKey.generate() for name in ("alice", "bob", "mallory")}


class Run:
    """A pipeline fed commands one after another, one millisecond apart."""

    def __init__(self) -> None:
        self.pipeline = Pipeline()
        self.ts = T0
        self.nonce = 0
        for command in setup_commands(T0):
            self.apply(command)

    def apply(self, command: Command) -> list[object]:
        self.ts += 1
        stamped = msgspec.structs.replace(command, ts_ms=self.ts)
        return list(self.pipeline.apply(self.pipeline.last_seq + 1, stamped))

    def order(
        self, account: str, side: Side, quantity: int, price: int = PRICE, instrument: str = PERP
    ) -> SignedOrder:
        self.nonce += 1
        intent = OrderIntent(
            chain_id=CHAIN,
            account=account,
            instrument=instrument,
            side=side,
            order_type=OrderType.LIMIT,
            price=price,
            quantity=quantity,
            nonce=self.nonce,
            expiry_ms=self.ts + 3_600_000,
        )
        return sign_order(KEYS[account], intent)

    def place(self, order: SignedOrder) -> int:
        events = self.apply(PlaceSignedOrder(0, order))
        return next(e.order_id for e in events if isinstance(e, OrderAccepted))

    def edit(
        self,
        previous: SignedOrder,
        *,
        key: PrivateKey | None = None,
        **changes: int,
    ) -> tuple[SignedOrder, list[object]]:
        self.nonce += 1
        intent = replacement(previous, nonce=self.nonce, expiry_ms=self.ts + 3_600_000, **changes)
        signed = sign_order(key or KEYS[intent.account], intent)
        return signed, self.apply(PlaceSignedOrder(0, signed))


def rejected(events: list[object]) -> OrderRejected:
    found = [e for e in events if isinstance(e, OrderRejected)]
    assert len(found) == 1, events
    return found[0]


def test_a_signed_size_decrease_keeps_priority_and_governs_the_order() -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    run.place(run.order("alice", Side.SELL, LOT))  # queued behind at the same price
    smaller, events = run.edit(first, quantity=2 * LOT)
    amended = next(e for e in events if isinstance(e, OrderAmended))
    assert amended.kept_priority and amended.quantity == 2 * LOT
    assert run.pipeline.governing_order(order_id) == smaller
    fills = run.apply(NewOrder(0, "bob", PERP, Side.BUY, LOT, PRICE))
    assert [f.maker_order_id for f in fills if isinstance(f, Fill)] == [order_id]


def test_a_signed_price_change_loses_priority_and_may_trade_at_once() -> None:
    run = Run()
    resting = run.place(run.order("bob", Side.BUY, LOT, PRICE - TICK))
    first = run.order("alice", Side.SELL, 2 * LOT, PRICE)
    order_id = run.place(first)
    cheaper, events = run.edit(first, price=PRICE - TICK)
    amended = next(e for e in events if isinstance(e, OrderAmended))
    assert not amended.kept_priority
    fill = next(e for e in events if isinstance(e, Fill))
    assert (fill.taker_order_id, fill.maker_order_id, fill.quantity) == (order_id, resting, LOT)
    assert run.pipeline.governing_order(order_id) == cheaper


def test_the_quantity_is_the_total_including_what_was_filled() -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    run.apply(NewOrder(0, "bob", PERP, Side.BUY, 2 * LOT, PRICE))
    _, events = run.edit(first, quantity=4 * LOT)
    amended = next(e for e in events if isinstance(e, OrderAmended))
    assert (amended.quantity, amended.remaining) == (4 * LOT, 2 * LOT)
    _, events = run.edit(run.pipeline.governing_order(order_id), quantity=2 * LOT)  # type: ignore[arg-type]
    assert rejected(events).reason == "amend_below_filled"


def test_replaying_or_forking_from_the_replaced_order_is_refused() -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    second, _ = run.edit(first, quantity=2 * LOT)
    _, events = run.edit(first, quantity=5 * LOT)  # a second replacement of the first
    assert rejected(events).code == ExchangeReason.REPLACED_ORDER_UNKNOWN
    assert run.pipeline.governing_order(order_id) == second
    order = run.pipeline.engine.order(order_id)
    assert order is not None and order.quantity == 2 * LOT


def test_a_replacement_signed_by_another_key_changes_nothing() -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    before = run.pipeline.engine.state_hash()
    _, events = run.edit(first, quantity=30 * LOT, key=KEYS["mallory"])
    assert rejected(events).code == ExchangeReason.INVALID_REPLACEMENT
    assert run.pipeline.engine.state_hash() == before
    assert run.pipeline.governing_order(order_id) == first


@pytest.mark.parametrize(
    "changes",
    [{"side": Side.BUY}, {"account": "bob"}, {"instrument": "BTC-27DEC26-100000-C"}],
)
def test_a_replacement_that_changes_more_than_price_and_size_is_refused(
    changes: dict[str, object],
) -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    run.nonce += 1
    intent = msgspec.structs.replace(
        replacement(first, nonce=run.nonce, expiry_ms=run.ts + 60_000), **changes
    )
    events = run.apply(PlaceSignedOrder(0, sign_order(KEYS["alice"], intent)))
    assert isinstance(events[0], OrderRejected) and len(events) == 1
    assert run.pipeline.governing_order(order_id) == first


def test_a_replacement_of_a_closed_or_unsigned_order_is_refused() -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    run.apply(CancelOrder(0, "alice", order_id=order_id))
    _, events = run.edit(first, quantity=2 * LOT)
    assert rejected(events).code == ExchangeReason.REPLACED_ORDER_UNKNOWN
    assert run.pipeline.signed.governing == {}


def test_a_refused_amend_leaves_the_predecessor_governing() -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    _, events = run.edit(first)  # nothing changes
    assert rejected(events).reason == "nothing_to_amend"
    assert run.pipeline.governing_order(order_id) == first


def test_the_governing_orders_survive_a_snapshot_and_are_in_the_state_hash() -> None:
    run = Run()
    first = run.order("alice", Side.SELL, 3 * LOT)
    order_id = run.place(first)
    second, _ = run.edit(first, quantity=2 * LOT)
    restored = Pipeline.restore(run.pipeline.snapshot())
    assert restored.state_hash() == run.pipeline.state_hash()
    assert restored.governing_order(order_id) == second
    # The map is in the hash: the same books with another governing order differ.
    restored.signed.governing[order_id] = first.order_hash
    assert restored.state_hash() != run.pipeline.state_hash()
    # And the restored pipeline applies the next replacement as the original would.
    run.nonce += 1
    third = sign_order(
        KEYS["alice"], replacement(second, quantity=LOT * 5, nonce=run.nonce, expiry_ms=run.ts + 9)
    )
    again = Pipeline.restore(run.pipeline.snapshot())
    seq = run.pipeline.last_seq + 1
    command = PlaceSignedOrder(run.ts + 1, third)
    assert again.apply(seq, command) == run.pipeline.apply(seq, command)
    assert again.state_hash() == run.pipeline.state_hash()
