"""Signed replacements (edits) on chain: one fill count per chain of revisions, old ones dead.

The attacks an operator could try with orders a user signed: replaying the replaced order after
its replacement was used, filling the old and the new order beyond the latest total, using a
replacement signed by another key or for another account, two replacements of one order (a
fork), and a replacement that expires first so that the record of the chain is forgotten early.
"""

from __future__ import annotations

import msgspec
import pytest

from optex.chain import (
    ChainReason,
    Fill,
    RegisterTradingKey,
    SignedTx,
    TradeBatch,
    fill_record_id,
)
from optex.core import InvalidInput
from optex.crypto import (
    PrivateKey,
    Side,
    SignedOrder,
    TradingKeyAuthorization,
    TradingScope,
    replacement,
    sign,
    sign_order,
)
from tests.chain.kit import (
    CHAIN,
    OPERATOR,
    T0,
    Chain,
    assert_rejected_and_changes_nothing,
    owner,
    trader,
)

PRICE = 500_000_000
TICK = 5_000_000
LOT = 1_000_000


def traded_chain() -> Chain:
    chain = Chain()
    result = chain.run(*(chain.register(a) for a in ("alice", "bob", "carol")))
    assert all(r.ok for r in result.txs)
    return chain


def batch(chain: Chain, *fills: Fill) -> SignedTx:
    return chain.sign(OPERATOR, TradeBatch, fills=tuple(fills))


def replace(
    chain: Chain,
    previous: SignedOrder,
    *,
    price: int | None = None,
    quantity: int | None = None,
    key: PrivateKey | None = None,
    lifetime_ms: int = 3_600_000,
) -> SignedOrder:
    """``previous`` replaced (an edit), signed by its account's trading key unless ``key``."""
    chain.order_nonce += 1
    intent = replacement(
        previous,
        price=price,
        quantity=quantity,
        nonce=chain.order_nonce,
        expiry_ms=chain.now + lifetime_ms,
    )
    return sign_order(key or trader(intent.account), intent)


def record_key(order: SignedOrder) -> str:
    record_id = fill_record_id(order.origin_hash, order.public_key, order.intent.account)
    return "fill/" + record_id.hex()


def filled(chain: Chain, order: SignedOrder) -> int:
    record = chain.ledger.get(record_key(order))
    return 0 if record is None else int(record.quantity)


def ok(chain: Chain, *fills: Fill) -> None:
    result = chain.run(batch(chain, *fills))
    assert result.txs[0].ok, result.txs[0].message


def test_a_replacement_continues_its_orders_fill_count_up_to_the_new_total() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, 2 * LOT)))
    edited = replace(chain, original, quantity=4 * LOT)  # total, the 2 filled included
    ok(chain, chain.fill(edited, chain.order("bob", Side.BUY, PRICE, 2 * LOT)))
    assert filled(chain, edited) == 4 * LOT
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(edited, chain.order("carol", Side.BUY, PRICE, LOT))),
        ChainReason.OVERFILL,
    )


def test_the_replaced_order_cannot_be_replayed_once_its_replacement_was_used() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, LOT)))
    edited = replace(chain, original, price=PRICE + TICK)
    ok(chain, chain.fill(edited, chain.order("bob", Side.BUY, PRICE + TICK, LOT)))
    # The old order at its old, better-for-the-buyer price is dead.
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(original, chain.order("carol", Side.BUY, PRICE, LOT))),
        ChainReason.ORDER_REPLACED,
    )


def test_an_order_replaced_before_any_fill_on_chain_is_dead_after_the_replacement_fills() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    edited = replace(chain, original, quantity=2 * LOT)
    ok(chain, chain.fill(edited, chain.order("bob", Side.BUY, PRICE, LOT)))
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(original, chain.order("carol", Side.BUY, PRICE, LOT))),
        ChainReason.ORDER_REPLACED,
    )


def test_old_and_new_together_never_fill_beyond_the_latest_signed_total() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 5 * LOT)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, 3 * LOT)))
    smaller = replace(chain, original, quantity=4 * LOT)
    ok(chain, chain.fill(smaller, chain.order("bob", Side.BUY, PRICE, LOT)))
    # 3 + 1 filled: the new total is reached through either order.
    for order in (smaller, original):
        taker = chain.order("carol", Side.BUY, PRICE, LOT)
        tx = batch(chain, chain.fill(order, taker))
        reason = ChainReason.OVERFILL if order is smaller else ChainReason.ORDER_REPLACED
        assert_rejected_and_changes_nothing(chain, tx, reason)


def test_a_replacement_below_what_was_filled_cannot_fill_at_all() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, 2 * LOT)))
    shrunk = replace(chain, original, quantity=2 * LOT)
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(shrunk, chain.order("bob", Side.BUY, PRICE, LOT))),
        ChainReason.OVERFILL,
    )


def test_a_fill_is_held_to_the_limit_of_the_revision_it_uses() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    edited = replace(chain, original, price=PRICE + 2 * TICK)
    taker = chain.order("bob", Side.BUY, PRICE + 2 * TICK, LOT)
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(edited, taker, price=PRICE + TICK)),
        ChainReason.PRICE_OUTSIDE_LIMIT,
    )


def test_a_revision_that_skips_one_the_chain_never_saw_continues_the_count() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, 2 * LOT)))
    second = replace(chain, original, quantity=4 * LOT)
    third = replace(chain, second, quantity=5 * LOT)
    ok(chain, chain.fill(third, chain.order("bob", Side.BUY, PRICE, 3 * LOT)))
    assert filled(chain, third) == 5 * LOT
    for old in (second, original):
        taker = chain.order("carol", Side.BUY, PRICE, LOT)
        assert_rejected_and_changes_nothing(
            chain, batch(chain, chain.fill(old, taker)), ChainReason.ORDER_REPLACED
        )


def register_second_key(chain: Chain, account: str, key: PrivateKey) -> None:
    message = TradingKeyAuthorization(
        chain_id=CHAIN,
        account=account,
        trading_key=key.public_key.raw,
        scopes=(TradingScope.CANCEL, TradingScope.TRADE),
        not_before_ms=0,
        expiry_ms=T0 + 365 * 86_400_000,
        nonce=chain.nonces.get(owner(account).public_key.raw, 0) + 1,
    )
    tx = chain.sign(
        owner(account),
        RegisterTradingKey,
        authorization=message,
        owner_signature=sign(owner(account), "delegate/v1", CHAIN, message),
    )
    result = chain.run(tx)
    assert result.txs[0].ok, result.txs[0].message


def test_a_replacement_signed_by_another_key_counts_apart_and_extends_nothing() -> None:
    chain = traded_chain()
    other = PrivateKey.generate()
    register_second_key(chain, "alice", other)
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, LOT)))
    forged = replace(chain, original, quantity=10 * LOT, key=other)
    # A key alice registered may sign for her: its order fills, in a record of its own.
    ok(chain, chain.fill(forged, chain.order("bob", Side.BUY, PRICE, LOT)))
    assert filled(chain, original) == LOT and filled(chain, forged) == LOT
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, 2 * LOT)))
    assert_rejected_and_changes_nothing(  # the original still stops at its own 3 lots
        chain,
        batch(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, LOT))),
        ChainReason.OVERFILL,
    )


def test_an_order_naming_someone_elses_origin_neither_uses_nor_blocks_it() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    chain.order_nonce += 1
    hijack = msgspec.structs.replace(
        replacement(original, nonce=chain.order_nonce, expiry_ms=chain.now + 60_000),
        account="carol",
    )
    forged = sign_order(trader("carol"), hijack)
    # Filled first, before alice's order ever was: carol's own order, in carol's own record.
    ok(chain, chain.fill(forged, chain.order("bob", Side.BUY, PRICE, LOT)))
    assert filled(chain, original) == 0
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, 3 * LOT)))
    assert filled(chain, original) == 3 * LOT


def test_two_replacements_of_one_order_cannot_both_be_used() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    first = replace(chain, original, quantity=4 * LOT)
    sibling = replace(chain, original, quantity=6 * LOT)
    ok(chain, chain.fill(first, chain.order("bob", Side.BUY, PRICE, LOT)))
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(sibling, chain.order("bob", Side.BUY, PRICE, LOT))),
        ChainReason.REPLACEMENT_CONFLICT,
    )
    # Nor a replacement of the sibling: it names an order the chain's latest revision is not.
    nephew = replace(chain, sibling, quantity=7 * LOT)
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(nephew, chain.order("bob", Side.BUY, PRICE, LOT))),
        ChainReason.REPLACEMENT_CONFLICT,
    )


def test_a_replacement_that_expires_before_the_order_it_replaces_is_refused() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT, lifetime_ms=600_000)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, LOT)))
    chain.order_nonce += 1
    early = msgspec.structs.replace(
        replacement(original, nonce=chain.order_nonce, expiry_ms=chain.now + 60_000),
        expiry_ms=chain.now + 60_000,
    )
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    fill = chain.fill(sign_order(trader("alice"), early), taker)
    assert_rejected_and_changes_nothing(chain, batch(chain, fill), ChainReason.REPLACEMENT_MISMATCH)


def test_the_fill_record_lives_until_the_latest_revision_expires() -> None:
    chain = traded_chain()
    original = chain.order("alice", Side.SELL, PRICE, 3 * LOT, lifetime_ms=30_000)
    ok(chain, chain.fill(original, chain.order("bob", Side.BUY, PRICE, LOT, lifetime_ms=30_000)))
    edited = replace(chain, original, quantity=2 * LOT, lifetime_ms=600_000)
    ok(chain, chain.fill(edited, chain.order("bob", Side.BUY, PRICE, LOT, lifetime_ms=30_000)))
    chain.block(step_ms=120_000)  # the original's minute is pruned, the record is not
    assert filled(chain, edited) == 2 * LOT
    assert_rejected_and_changes_nothing(
        chain,
        batch(chain, chain.fill(edited, chain.order("carol", Side.BUY, PRICE, LOT))),
        ChainReason.OVERFILL,
    )
    chain.block(step_ms=600_000)
    assert chain.ledger.get(record_key(edited)) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"revision": 1}, "replaces"),
        ({"replaces": b"\x01" * 32}, "replaces"),
        ({"revision": 1, "replaces": b"\x01" * 32, "origin": b"\x02" * 32}, "origin"),
        ({"revision": 2, "replaces": b"\x01" * 32, "origin": b"\x01" * 32}, "origin"),
        ({"revision": 1, "replaces": b"\x01" * 31, "origin": b"\x01" * 31}, "replaces"),
        ({"revision": -1}, "revision"),
        ({"revision": 2**32, "replaces": b"\x01" * 32, "origin": b"\x02" * 32}, "revision"),
    ],
)
def test_malformed_replacement_fields_are_refused_before_signing(
    changes: dict[str, object], field: str
) -> None:
    chain = traded_chain()
    intent = msgspec.structs.replace(chain.order("alice", Side.SELL, PRICE, LOT).intent, **changes)
    with pytest.raises(InvalidInput) as caught:
        sign_order(trader("alice"), intent)
    assert caught.value.details["field"] == field
