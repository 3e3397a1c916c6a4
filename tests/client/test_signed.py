"""Signing orders locally: nonces, expiry, the native request's bytes."""

from __future__ import annotations

import base64

import msgspec
import pytest

from optex.client import ClientError, NonceSource, prepare_signed_order, signed_order_params
from optex.core import InvalidInput, ManualClock, OrderType, Side
from optex.crypto import (
    Delegations,
    OrderIntent,
    PrivateKey,
    TradingKeyAuthorization,
    TradingScope,
    decode_signed_order,
    sign_authorization,
    verify_order,
)

CHAIN = "optex-devnet"
T0 = 1_790_000_000_000


def intent(**changes: object) -> OrderIntent:
    base = OrderIntent(
        chain_id=CHAIN,
        account="alice",
        instrument="BTC-PERPETUAL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=100_000_000_000,
        quantity=100_000,
        nonce=0,
        expiry_ms=0,
    )
    return msgspec.structs.replace(base, **changes)


def test_nonces_strictly_increase_per_key_even_within_one_millisecond() -> None:
    source = NonceSource(ManualClock(T0))
    a, b = b"a" * 32, b"b" * 32
    first = [source.next(a) for _ in range(5)]
    assert first == sorted(set(first)) and first[0] == T0 * 1000
    assert source.next(b) == T0 * 1000


def test_nonces_stay_ahead_of_a_previous_run_after_a_restart() -> None:
    clock = ManualClock(T0)
    before = NonceSource(clock)
    used = [before.next(b"k" * 32) for _ in range(3)]
    clock.advance(1)
    after = NonceSource(clock)
    assert after.next(b"k" * 32) > max(used)


def test_a_nonce_chosen_by_the_caller_is_kept_and_the_next_automatic_one_exceeds_it() -> None:
    key = PrivateKey.generate()
    source = NonceSource(ManualClock(T0))
    high = T0 * 1000 + 10_000
    chosen = prepare_signed_order(intent(nonce=high), key, source, now_ms=T0)
    assert chosen.intent.nonce == high
    auto = prepare_signed_order(intent(), key, source, now_ms=T0)
    assert auto.intent.nonce == high + 1


def test_the_client_sets_expiry_and_the_exchange_accepts_the_signature() -> None:
    owner, trading = PrivateKey.generate(), PrivateKey.generate()
    delegations = Delegations(CHAIN)
    delegations.set_owner("alice", owner.public_key.raw)
    grant = TradingKeyAuthorization(
        chain_id=CHAIN,
        account="alice",
        trading_key=trading.public_key.raw,
        scopes=(TradingScope.TRADE,),
        not_before_ms=0,
        expiry_ms=T0 + 10**9,
        nonce=0,
    )
    delegations.apply(sign_authorization(owner, grant))
    order = prepare_signed_order(
        intent(), trading, NonceSource(ManualClock(T0)), now_ms=T0, lifetime_ms=60_000
    )
    assert order.intent.expiry_ms == T0 + 60_000
    verify_order(order, chain_id=CHAIN, now_ms=T0, authority=delegations)
    sent = base64.b64decode(signed_order_params(order)["signed_order"])
    assert decode_signed_order(sent) == order


def test_an_invalid_intent_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(InvalidInput):
        prepare_signed_order(
            intent(quantity=0), PrivateKey.generate(), NonceSource(ManualClock(T0)), now_ms=T0
        )
    with pytest.raises(ClientError):
        prepare_signed_order(
            intent(),
            "not a key",  # type: ignore[arg-type]
            NonceSource(ManualClock(T0)),
            now_ms=T0,
        )
