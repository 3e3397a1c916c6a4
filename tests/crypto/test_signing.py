"""Domain-separated signatures, signed orders, replay protection and delegated trading keys."""

from __future__ import annotations

import msgspec
import pytest

from optex.core import Conflict, Forbidden, InvalidInput, Unauthorized
from optex.crypto import (
    Delegations,
    KeyRole,
    PrivateKey,
    ReplayGuard,
    SecurityReason,
    SignedOrder,
    TradingKeyAuthorization,
    TradingKeyRevocation,
    TradingScope,
    accept_order,
    decode_signed_order,
    encode_signed_order,
    order_hash,
    sign,
    sign_authorization,
    sign_order,
    verify,
    verify_authorization,
    verify_order,
)
from tests.crypto.kit import ACCOUNT, CHAIN, NOW_MS, OWNER, TRADER, delegations, intent, key


def test_a_signature_verifies_for_its_own_domain_chain_and_payload() -> None:
    signature = sign(OWNER, "vote/v1", CHAIN, {"height": 7})
    verify(OWNER.public_key, signature, "vote/v1", CHAIN, {"height": 7})
    verify(OWNER.public_key.raw, signature, "vote/v1", CHAIN, {"height": 7})


@pytest.mark.parametrize(
    ("domain", "chain", "payload"),
    [
        ("tx/v1", CHAIN, {"height": 7}),
        ("vote/v2", CHAIN, {"height": 7}),
        ("vote/v1", "optex-mainnet", {"height": 7}),
        ("vote/v1", CHAIN, {"height": 8}),
    ],
)
def test_a_signature_never_validates_another_domain_chain_or_payload(
    domain: str, chain: str, payload: object
) -> None:
    signature = sign(OWNER, "vote/v1", CHAIN, {"height": 7})
    with pytest.raises(Unauthorized) as info:
        verify(OWNER.public_key, signature, domain, chain, payload)
    assert info.value.code is SecurityReason.INVALID_SIGNATURE


def test_private_keys_and_seeds_never_show_in_repr() -> None:
    seed_hex = OWNER.seed().reveal().hex()
    for text in (repr(OWNER), str(OWNER.seed()), repr(OWNER.seed())):
        assert seed_hex not in text
    assert OWNER.public_key.hex() in repr(OWNER)
    assert [role.value for role in KeyRole] == ["owner", "trading", "validator", "node"]


def test_public_key_exports_as_pem_for_deribit_style_registration() -> None:
    pem = OWNER.public_key.pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_a_signed_order_from_a_delegated_key_is_accepted_once() -> None:
    registry, guard = delegations(), ReplayGuard()
    order = sign_order(TRADER, intent())
    digest = accept_order(order, guard, chain_id=CHAIN, now_ms=NOW_MS, authority=registry)
    assert digest == order.order_hash == order_hash(order.intent)
    with pytest.raises(Conflict) as info:
        accept_order(order, guard, chain_id=CHAIN, now_ms=NOW_MS + 1, authority=registry)
    assert info.value.code is SecurityReason.ORDER_REPLAYED


def test_a_new_order_reusing_a_nonce_is_refused_even_with_other_fields() -> None:
    registry, guard = delegations(), ReplayGuard()
    accept_order(
        sign_order(TRADER, intent()), guard, chain_id=CHAIN, now_ms=NOW_MS, authority=registry
    )
    again = sign_order(TRADER, intent(price=50_000_001))
    with pytest.raises(Conflict, match="nonce"):
        accept_order(again, guard, chain_id=CHAIN, now_ms=NOW_MS, authority=registry)


def test_an_expired_order_is_refused_for_its_expiry_first() -> None:
    registry, guard = delegations(), ReplayGuard()
    order = sign_order(TRADER, intent(expiry_ms=NOW_MS + 10))
    accept_order(order, guard, chain_id=CHAIN, now_ms=NOW_MS, authority=registry)
    with pytest.raises(Unauthorized) as info:
        accept_order(order, guard, chain_id=CHAIN, now_ms=NOW_MS + 10, authority=registry)
    assert info.value.code is SecurityReason.ORDER_EXPIRED


def test_the_replay_guard_keeps_a_bounded_number_of_nonces_per_key() -> None:
    registry, guard = delegations(), ReplayGuard(per_key=2)
    for nonce in (1, 2, 3):
        accept_order(
            sign_order(TRADER, intent(nonce=nonce)),
            guard,
            chain_id=CHAIN,
            now_ms=NOW_MS,
            authority=registry,
        )
    assert len(guard) == 2
    with pytest.raises(Conflict) as info:  # let go of, yet still refused: below the floor
        accept_order(
            sign_order(TRADER, intent(nonce=1)),
            guard,
            chain_id=CHAIN,
            now_ms=NOW_MS,
            authority=registry,
        )
    assert info.value.code is SecurityReason.ORDER_REPLAYED
    assert len(guard) == 2


def test_an_order_whose_expiry_is_too_far_ahead_is_refused() -> None:
    order = sign_order(TRADER, intent(expiry_ms=NOW_MS + 2 * 24 * 3600 * 1000))
    with pytest.raises(InvalidInput) as info:
        verify_order(order, chain_id=CHAIN, now_ms=NOW_MS, authority=delegations())
    assert info.value.code is SecurityReason.ORDER_EXPIRY_TOO_FAR


def test_signed_orders_round_trip_through_their_canonical_bytes() -> None:
    order = sign_order(TRADER, intent(client_order_id="abc-1", post_only=True))
    data = encode_signed_order(order)
    assert decode_signed_order(data) == order
    verify_order(decode_signed_order(data), chain_id=CHAIN, now_ms=NOW_MS, authority=delegations())


def test_stop_orders_need_a_trigger_price_and_others_must_not_have_one() -> None:
    with pytest.raises(InvalidInput, match="trigger_price"):
        intent(order_type="stop_limit").check()
    intent(order_type="stop_limit", trigger_price=45_000_000).check()
    with pytest.raises(InvalidInput, match="trigger"):
        intent(trigger_price=1).check()
    intent(order_type="market", price=0).check()


def test_delegation_is_verified_against_the_owner_key_and_chain() -> None:
    grant = TradingKeyAuthorization(
        chain_id=CHAIN,
        account=ACCOUNT,
        trading_key=TRADER.public_key.raw,
        scopes=(TradingScope.TRADE,),
        not_before_ms=0,
        expiry_ms=NOW_MS,
        nonce=5,
    )
    signed = sign_authorization(OWNER, grant)
    assert verify_authorization(signed, owner_key=OWNER.public_key, chain_id=CHAIN) == grant
    with pytest.raises(Unauthorized) as info:
        verify_authorization(signed, owner_key=key("other").public_key, chain_id=CHAIN)
    assert info.value.code is SecurityReason.WRONG_KEY
    with pytest.raises(Unauthorized) as info:
        verify_authorization(signed, owner_key=OWNER.public_key, chain_id="optex-mainnet")
    assert info.value.code is SecurityReason.WRONG_CHAIN


def test_a_revoked_trading_key_can_no_longer_trade_and_old_grants_cannot_be_replayed() -> None:
    registry = delegations()
    grant = TradingKeyAuthorization(
        chain_id=CHAIN,
        account=ACCOUNT,
        trading_key=TRADER.public_key.raw,
        scopes=(TradingScope.TRADE,),
        not_before_ms=0,
        expiry_ms=NOW_MS + 10**6,
        nonce=1,
    )
    revocation = TradingKeyRevocation(
        chain_id=CHAIN, account=ACCOUNT, trading_key=TRADER.public_key.raw, nonce=2
    )
    registry.apply(sign_authorization(OWNER, revocation))
    with pytest.raises(Unauthorized) as info:
        registry.check(ACCOUNT, TRADER.public_key.raw, TradingScope.TRADE, NOW_MS)
    assert info.value.code is SecurityReason.KEY_REVOKED
    with pytest.raises(Conflict):
        registry.apply(sign_authorization(OWNER, grant))
    assert registry.trading_keys(ACCOUNT) == []


def test_a_cancel_only_key_cannot_place_orders() -> None:
    registry = Delegations(CHAIN, {ACCOUNT: OWNER.public_key})
    grant = TradingKeyAuthorization(
        chain_id=CHAIN,
        account=ACCOUNT,
        trading_key=TRADER.public_key.raw,
        scopes=(TradingScope.CANCEL,),
        not_before_ms=0,
        expiry_ms=NOW_MS + 10**6,
        nonce=1,
    )
    registry.apply(sign_authorization(OWNER, grant))
    with pytest.raises(Forbidden):
        verify_order(
            sign_order(TRADER, intent()), chain_id=CHAIN, now_ms=NOW_MS, authority=registry
        )


def test_delegation_for_an_unknown_account_is_refused() -> None:
    registry = Delegations(CHAIN)
    grant = TradingKeyAuthorization(
        chain_id=CHAIN,
        account="nobody",
        trading_key=TRADER.public_key.raw,
        scopes=(TradingScope.TRADE,),
        not_before_ms=0,
        expiry_ms=NOW_MS,
        nonce=1,
    )
    with pytest.raises(Unauthorized) as info:
        registry.apply(sign_authorization(OWNER, grant))
    assert info.value.code is SecurityReason.UNKNOWN_ACCOUNT


def test_signed_order_structs_are_immutable_messages() -> None:
    order = sign_order(TRADER, intent())
    with pytest.raises(AttributeError):
        order.signature = b""  # type: ignore[misc]
    assert isinstance(msgspec.structs.replace(order, signature=b"x"), SignedOrder)
    assert isinstance(PrivateKey.generate().public_key.raw, bytes)
