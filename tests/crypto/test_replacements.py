"""Signed replacements: what ``replacement`` builds and what ``check_replacement`` refuses."""

from __future__ import annotations

import msgspec
import pytest

from optex.core import OptexError
from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    Side,
    SignedOrder,
    check_replacement,
    decode_signed_order,
    encode_signed_order,
    order_hash,
    replacement,
    sign_order,
)

KEY = PrivateKey.generate()


def original() -> SignedOrder:
    intent = OrderIntent(
        chain_id="optex-test",
        account="alice",
        instrument="BTC-PERPETUAL",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        price=100_000_000_000,
        quantity=3_000_000,
        nonce=1,
        expiry_ms=2_000_000_000_000,
    )
    return sign_order(KEY, intent)


def test_a_replacement_names_its_predecessor_origin_and_next_revision() -> None:
    first = original()
    second = sign_order(KEY, replacement(first, quantity=5_000_000, nonce=2, expiry_ms=1))
    third = sign_order(KEY, replacement(second, price=99_000_000_000, nonce=3, expiry_ms=1))
    assert (second.intent.replaces, second.intent.origin) == (first.order_hash,) * 2
    assert (third.intent.replaces, third.intent.origin) == (second.order_hash, first.order_hash)
    assert [o.intent.revision for o in (first, second, third)] == [0, 1, 2]
    assert {o.origin_hash for o in (first, second, third)} == {first.order_hash}
    # An earlier expiry asked for is raised to the predecessor's.
    assert third.intent.expiry_ms == first.intent.expiry_ms
    assert (third.intent.price, third.intent.quantity) == (99_000_000_000, 5_000_000)
    check_replacement(first, second)
    check_replacement(second, third)
    assert decode_signed_order(encode_signed_order(third)) == third


@pytest.mark.parametrize(
    "changes",
    [
        {"side": Side.BUY},
        {"account": "bob"},
        {"instrument": "BTC-27DEC26-100000-C"},
        {"order_type": OrderType.STOP_LIMIT, "trigger_price": 1},
        {"client_order_id": "other"},
        {"reduce_only": True},
        {"chain_id": "optex-other"},
        {"expiry_ms": 1_999_999_999_999},
        {"replaces": b"\x07" * 32},
        {"revision": 2, "replaces": b"\x07" * 32},
    ],
)
def test_a_replacement_changing_more_than_price_size_and_trigger_is_refused(
    changes: dict[str, object],
) -> None:
    first = original()
    intent = msgspec.structs.replace(replacement(first, nonce=2, expiry_ms=1), **changes)
    with pytest.raises(OptexError):
        check_replacement(first, sign_order(KEY, intent))


def test_a_replacement_signed_by_another_key_is_refused() -> None:
    first = original()
    forged = sign_order(PrivateKey.generate(), replacement(first, nonce=2, expiry_ms=1))
    with pytest.raises(OptexError, match="key"):
        check_replacement(first, forged)


def test_an_original_order_hash_is_unchanged_by_the_replacement_fields_defaults() -> None:
    first = original()
    assert first.origin_hash == first.order_hash == order_hash(first.intent)
    assert not first.intent.is_replacement
