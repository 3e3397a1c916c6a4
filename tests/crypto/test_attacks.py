"""The attack suite: each test tries something an attacker would, and it must fail.

Every rejection is checked for its reason code, so a test cannot pass because of an unrelated
error.
"""

from __future__ import annotations

import base64

import msgspec
import pytest

from optex.core import Conflict, Forbidden, InvalidInput, LimitExceeded, OptexError, Unauthorized
from optex.crypto import (
    Access,
    ApiKeyStore,
    Area,
    Authenticator,
    MasterKey,
    ReplayGuard,
    Secret,
    SecurityReason,
    TokenStore,
    TotpGuard,
    TradingKeyAuthorization,
    TradingScope,
    WithdrawalGuard,
    accept_order,
    decode_audit_line,
    decode_keystore,
    decode_signed_order,
    encode_signed_order,
    hmac_signature,
    http_string_to_sign,
    normalize_label,
    parse_authorization,
    scopes_from_text,
    sign,
    sign_authorization,
    sign_order,
    totp,
    verify_order,
)
from optex.crypto._scopes import FULL_SCOPES
from tests.crypto.kit import (
    ACCOUNT,
    CHAIN,
    NOW_MS,
    OWNER,
    TRADER,
    delegations,
    intent,
    key,
    seeded_rng,
)

URI = "/api/v2/private/buy?amount=1&instrument_name=BTC-PERPETUAL&price=50000"
MALLORY = key("mallory")


def _reason(exc: pytest.ExceptionInfo[OptexError]) -> SecurityReason:
    return exc.value.code  # type: ignore[return-value]


def _verify(order: object, now_ms: int = NOW_MS, chain_id: str = CHAIN) -> bytes:
    return verify_order(
        order,
        chain_id=chain_id,
        now_ms=now_ms,  # type: ignore[arg-type]
        authority=delegations(),
    )


# --- signatures and signed orders -------------------------------------------------------------


def test_a_forged_signature_of_random_bytes_is_refused() -> None:
    order = sign_order(TRADER, intent())
    forged = msgspec.structs.replace(order, signature=seeded_rng(5)(64))
    with pytest.raises(Unauthorized) as info:
        _verify(forged)
    assert _reason(info) is SecurityReason.INVALID_SIGNATURE


@pytest.mark.parametrize("bit", [0, 7, 100, 255, 256, 300, 511])
def test_every_bit_flip_in_an_order_signature_is_refused(bit: int) -> None:
    order = sign_order(TRADER, intent())
    sig = bytearray(order.signature)
    sig[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(Unauthorized) as info:
        _verify(msgspec.structs.replace(order, signature=bytes(sig)))
    assert _reason(info) is SecurityReason.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "change",
    [
        {"price": 50_000_001},
        {"quantity": 10_000_001},
        {"side": "sell"},
        {"reduce_only": True},
        {"instrument": "BTC-27DEC26-100000-P"},
        {"expiry_ms": NOW_MS + 60_001},
        {"nonce": 2},
        {"account": "acct-2"},
    ],
)
def test_an_order_altered_after_signing_is_refused(change: dict[str, object]) -> None:
    order = sign_order(TRADER, intent())
    altered = msgspec.structs.replace(order, intent=msgspec.structs.replace(order.intent, **change))
    with pytest.raises(OptexError) as info:
        _verify(altered)
    assert _reason(info) in {SecurityReason.INVALID_SIGNATURE, SecurityReason.DELEGATION_NOT_FOUND}


def test_an_order_signed_for_another_chain_is_refused() -> None:
    foreign = sign_order(TRADER, intent(chain_id="optex-mainnet"))
    with pytest.raises(Unauthorized) as info:
        _verify(foreign)
    assert _reason(info) is SecurityReason.WRONG_CHAIN
    # The chain id field rewritten to ours: the signature still covers the other chain.
    relabelled = msgspec.structs.replace(
        foreign, intent=msgspec.structs.replace(foreign.intent, chain_id=CHAIN)
    )
    with pytest.raises(Unauthorized) as info:
        _verify(relabelled)
    assert _reason(info) is SecurityReason.INVALID_SIGNATURE


def test_a_signature_made_for_another_message_type_is_refused_as_an_order() -> None:
    the_intent = intent()
    for domain in ("vote/v1", "tx/v1", "delegate/v1", "order/v2"):
        signature = sign(TRADER, domain, CHAIN, the_intent)
        order = sign_order(TRADER, the_intent)
        with pytest.raises(Unauthorized) as info:
            _verify(msgspec.structs.replace(order, signature=signature))
        assert _reason(info) is SecurityReason.INVALID_SIGNATURE


def test_an_order_signed_by_an_undelegated_key_is_refused() -> None:
    with pytest.raises(Unauthorized) as info:
        _verify(sign_order(MALLORY, intent()))
    assert _reason(info) is SecurityReason.DELEGATION_NOT_FOUND
    # Claiming the delegated key while signing with another: the signature fails.
    spoofed = msgspec.structs.replace(
        sign_order(MALLORY, intent()), public_key=TRADER.public_key.raw
    )
    with pytest.raises(Unauthorized) as info:
        _verify(spoofed)
    assert _reason(info) is SecurityReason.INVALID_SIGNATURE


def test_a_delegation_signed_by_anyone_but_the_owner_is_refused() -> None:
    registry = delegations()
    grant = TradingKeyAuthorization(
        chain_id=CHAIN,
        account=ACCOUNT,
        trading_key=MALLORY.public_key.raw,
        scopes=(TradingScope.TRADE,),
        not_before_ms=0,
        expiry_ms=NOW_MS + 10**6,
        nonce=9,
    )
    with pytest.raises(Unauthorized) as info:
        registry.apply(sign_authorization(MALLORY, grant))
    assert _reason(info) is SecurityReason.WRONG_KEY
    with pytest.raises(Unauthorized):
        registry.check(ACCOUNT, MALLORY.public_key.raw, TradingScope.TRADE, NOW_MS)


def test_replayed_and_expired_orders_are_refused() -> None:
    registry, guard = delegations(), ReplayGuard()
    order = sign_order(TRADER, intent())
    accept_order(order, guard, chain_id=CHAIN, now_ms=NOW_MS, authority=registry)
    with pytest.raises(Conflict) as info:
        accept_order(order, guard, chain_id=CHAIN, now_ms=NOW_MS + 5, authority=registry)
    assert _reason(info) is SecurityReason.ORDER_REPLAYED
    with pytest.raises(Unauthorized) as info2:
        accept_order(order, guard, chain_id=CHAIN, now_ms=NOW_MS + 60_000, authority=registry)
    assert _reason(info2) is SecurityReason.ORDER_EXPIRED


def test_orders_from_an_expired_or_revoked_trading_key_are_refused() -> None:
    registry = delegations(expiry_ms=NOW_MS + 10)
    order = sign_order(TRADER, intent())
    with pytest.raises(Unauthorized) as info:
        verify_order(order, chain_id=CHAIN, now_ms=NOW_MS + 10, authority=registry)
    assert _reason(info) is SecurityReason.KEY_EXPIRED


@pytest.mark.parametrize(
    "change",
    [
        {"price": -1},
        {"price": 0},
        {"quantity": 0},
        {"quantity": -5},
        {"quantity": 2**63},
        {"price": 1.5},
        {"price": True},
        {"quantity": "10"},
        {"nonce": -1},
        {"expiry_ms": 2**64},
        {"client_order_id": "x" * 65},
        {"client_order_id": "naïve"},
        {"account": "аcct"},
        {"instrument": "BTC-27DEC26-100000-X"},
        {"side": "short"},
    ],
)
def test_orders_with_bad_amounts_or_fields_cannot_even_be_signed(change: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as info:
        sign_order(TRADER, intent(**change))
    assert _reason(info) in {SecurityReason.INVALID_ORDER, SecurityReason.MALFORMED_MESSAGE}


def test_oversized_and_malformed_signed_order_bytes_are_refused() -> None:
    good = encode_signed_order(sign_order(TRADER, intent()))
    with pytest.raises(InvalidInput) as info:
        decode_signed_order(good + b"\x00" * 4096)
    assert _reason(info) is SecurityReason.PAYLOAD_TOO_LARGE
    for bad in (b"", b"\xc1", good[:-1], good + b"\x00", b"\x80"):
        with pytest.raises(InvalidInput) as info:
            decode_signed_order(bad)
        assert _reason(info) is SecurityReason.MALFORMED_MESSAGE


# --- request authentication -------------------------------------------------------------------


def _store(totp_guard: TotpGuard | None = None) -> tuple[ApiKeyStore, str, bytes]:
    store = ApiKeyStore(MasterKey(Secret(b"k" * 32)), totp=totp_guard)
    code = None if totp_guard is None else totp(seeded_rng(1)(20), NOW_MS // 1000)
    record, secret = store.create(
        ACCOUNT,
        name="bot",
        scopes=scopes_from_text("trade:read"),
        creator_scopes=FULL_SCOPES,
        now_ms=NOW_MS,
        totp_code=code,
    )
    assert secret is not None
    return store, record.client_id, secret.reveal()


def _signed(client_id: str, secret: bytes, ts: int, nonce: str = "n1", uri: str = URI) -> str:
    sig = hmac_signature(secret, http_string_to_sign(ts, nonce, "GET", uri, ""))
    return f"deri-hmac-sha256 id={client_id},ts={ts},sig={sig},nonce={nonce}"


def test_a_replayed_hmac_request_is_refused() -> None:
    store, client_id, secret = _store()
    auth = Authenticator(store)
    header = _signed(client_id, secret, NOW_MS)
    auth.authenticate_http(header, method="GET", uri=URI, body="", ip=None, now_ms=NOW_MS)
    with pytest.raises(Conflict) as info:
        auth.authenticate_http(header, method="GET", uri=URI, body="", ip=None, now_ms=NOW_MS + 9)
    assert _reason(info) is SecurityReason.NONCE_REPLAYED


@pytest.mark.parametrize("skew", [-60_001, 60_001, -(10**9), 10**9])
def test_stale_or_future_timestamps_are_refused(skew: int) -> None:
    store, client_id, secret = _store()
    header = _signed(client_id, secret, NOW_MS + skew)
    with pytest.raises(Unauthorized) as info:
        Authenticator(store).authenticate_http(
            header, method="GET", uri=URI, body="", ip=None, now_ms=NOW_MS
        )
    assert _reason(info) is SecurityReason.STALE_TIMESTAMP


def test_a_signature_for_another_uri_method_or_body_is_refused() -> None:
    store, client_id, secret = _store()
    auth = Authenticator(store)
    header = _signed(client_id, secret, NOW_MS)
    for method, uri, body in [
        ("GET", URI.replace("amount=1", "amount=100"), ""),
        ("POST", URI, ""),
        ("GET", URI, "{}"),
    ]:
        with pytest.raises(Unauthorized) as info:
            auth.authenticate_http(
                header, method=method, uri=uri, body=body, ip=None, now_ms=NOW_MS
            )
        assert _reason(info) is SecurityReason.INVALID_SIGNATURE


def test_a_wrong_secret_or_unknown_client_gives_the_same_answer() -> None:
    store, client_id, secret = _store()
    with pytest.raises(Unauthorized) as a:
        store.authenticate_secret(client_id, secret.decode()[:-1] + "X", ip=None, now_ms=NOW_MS)
    with pytest.raises(Unauthorized) as b:
        store.authenticate_secret("nobody", secret.decode(), ip=None, now_ms=NOW_MS)
    assert _reason(a) is _reason(b) is SecurityReason.INVALID_CREDENTIALS
    assert a.value.message == b.value.message


def test_expired_and_revoked_tokens_are_refused() -> None:
    store, client_id, secret = _store()
    auth = Authenticator(store, TokenStore(access_ttl_ms=1000))
    params = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret.decode(),
    }
    tokens = auth.public_auth(params, ip=None, now_ms=NOW_MS)
    with pytest.raises(Unauthorized) as info:
        auth.authenticate_token(tokens.access_token, ip=None, now_ms=NOW_MS + 1000)
    assert _reason(info) is SecurityReason.TOKEN_EXPIRED
    fresh = auth.public_auth(params, ip=None, now_ms=NOW_MS)
    auth.tokens.revoke(fresh.access_token)
    with pytest.raises(Unauthorized) as info:
        auth.authenticate_token(fresh.access_token, ip=None, now_ms=NOW_MS)
    assert _reason(info) is SecurityReason.TOKEN_REVOKED
    with pytest.raises(Unauthorized) as info:
        auth.public_auth(
            {"grant_type": "refresh_token", "refresh_token": fresh.refresh_token},
            ip=None,
            now_ms=NOW_MS,
        )
    assert _reason(info) is SecurityReason.TOKEN_REVOKED


def test_a_refresh_token_cannot_be_used_as_an_access_token_or_guessed() -> None:
    store, client_id, secret = _store()
    auth = Authenticator(store)
    tokens = auth.public_auth(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret.decode(),
        },
        ip=None,
        now_ms=NOW_MS,
    )
    access = tokens.access_token
    # Alter the last character to one it is not: a fixed "A" would leave 1 token in 64 intact.
    altered = access[:-1] + ("B" if access.endswith("A") else "A")
    for token in (tokens.refresh_token, altered, "x" * 1000, "ä"):
        with pytest.raises(Unauthorized) as info:
            auth.authenticate_token(token, ip=None, now_ms=NOW_MS)
        assert _reason(info) is SecurityReason.TOKEN_INVALID


def test_a_revoked_api_key_cannot_sign_requests() -> None:
    store, client_id, secret = _store()
    store.revoke(client_id, ACCOUNT, now_ms=NOW_MS)
    with pytest.raises(Unauthorized) as info:
        Authenticator(store).authenticate_http(
            _signed(client_id, secret, NOW_MS),
            method="GET",
            uri=URI,
            body="",
            ip=None,
            now_ms=NOW_MS,
        )
    assert _reason(info) is SecurityReason.API_KEY_DISABLED


def test_a_read_only_key_cannot_trade_or_withdraw() -> None:
    store, client_id, secret = _store()
    session = Authenticator(store).authenticate_http(
        _signed(client_id, secret, NOW_MS), method="GET", uri=URI, body="", ip=None, now_ms=NOW_MS
    )
    for area in (Area.TRADE, Area.WALLET, Area.ACCOUNT):
        with pytest.raises(Forbidden) as info:
            session.scopes.require(area, Access.READ_WRITE)
        assert _reason(info) is SecurityReason.SCOPE_MISSING


def test_a_token_bound_to_an_ip_is_refused_elsewhere() -> None:
    store, client_id, secret = _store()
    auth = Authenticator(store)
    tokens = auth.public_auth(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret.decode(),
            "scope": "ip:10.0.0.1",
        },
        ip="10.0.0.1",
        now_ms=NOW_MS,
    )
    with pytest.raises(Forbidden) as info:
        auth.authenticate_token(tokens.access_token, ip="10.0.0.2", now_ms=NOW_MS)
    assert _reason(info) is SecurityReason.IP_NOT_ALLOWED


@pytest.mark.parametrize(
    "header",
    [
        "deri-hmac-sha256 id=a,ts=1,sig=" + "0" * 64,
        "deri-hmac-sha256 id=a,id=b,ts=1,sig=" + "0" * 64 + ",nonce=n",
        "deri-hmac-sha256 id=a,ts=-1,sig=" + "0" * 64 + ",nonce=n",
        "deri-hmac-sha256 id=a,ts=1e3,sig=" + "0" * 64 + ",nonce=n",
        "deri-hmac-sha256 id=a,ts=1,sig=" + "G" * 64 + ",nonce=n",
        "deri-hmac-sha256 id=a,ts=1,sig=" + "0" * 64 + ",nonce=n\u0430",
        "deri-hmac-sha256 id=a b,ts=1,sig=" + "0" * 64 + ",nonce=n",
        "deri-hmac-sha256 id=a,ts=1,sig=" + "0" * 64 + ",nonce=" + "n" * 65,
        "deri-hmac-sha256 " + "x" * 2000,
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic !!!",
        "Digest abc",
        "",
    ],
)
def test_malformed_or_oversized_authorization_headers_are_refused(header: str) -> None:
    with pytest.raises(Unauthorized) as info:
        parse_authorization(header)
    assert _reason(info) is SecurityReason.MALFORMED_AUTH


# --- second factor ----------------------------------------------------------------------------


def _enrolled() -> tuple[TotpGuard, bytes]:
    guard = TotpGuard()
    guard.begin_enrolment(ACCOUNT, rng=seeded_rng(1))
    secret = seeded_rng(1)(20)
    guard.confirm_enrolment(ACCOUNT, totp(secret, NOW_MS // 1000 - 30), NOW_MS)
    return guard, secret


def test_a_totp_code_cannot_be_used_twice_even_for_different_actions() -> None:
    guard, secret = _enrolled()
    code = totp(secret, NOW_MS // 1000)
    store, _, _ = _store(guard)
    withdrawals = WithdrawalGuard(guard, {"BTC": 10})
    with pytest.raises(Conflict) as info:
        withdrawals.add_address(
            ACCOUNT,
            "BTC",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            label="x",
            now_ms=NOW_MS,
            totp_code=code,
        )
    assert _reason(info) is SecurityReason.TOTP_REUSED
    assert withdrawals.addresses(ACCOUNT) == []
    assert len(store.keys_of(ACCOUNT)) == 1


def test_brute_forcing_totp_is_locked_out_after_five_guesses() -> None:
    guard, secret = _enrolled()
    now = NOW_MS + 120_000
    valid = {totp(secret, now // 1000 + 30 * k) for k in (-1, 0, 1)}
    attempts = 0
    locked = False
    for guess in range(1000):
        code = f"{guess:06d}"
        if code in valid:
            continue
        try:
            guard.verify(ACCOUNT, code, now)
        except LimitExceeded as exc:
            assert exc.code is SecurityReason.TOTP_LOCKED
            locked = True
            break
        except Unauthorized:
            attempts += 1
    assert locked and attempts == 5
    with pytest.raises(LimitExceeded):
        guard.verify(ACCOUNT, totp(secret, now // 1000), now + 60_000)


# --- keystores, audit lines, labels -----------------------------------------------------------


def test_oversized_or_malformed_keystore_files_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        decode_keystore(b"{" + b" " * 70_000 + b"}")
    assert _reason(info) is SecurityReason.PAYLOAD_TOO_LARGE
    for bad in (b"", b"[]", b"{}", b'{"version": 3}', b"\xff\xfe", b'{"version":3,"id":1}'):
        with pytest.raises(InvalidInput) as info:
            decode_keystore(bad)
        assert _reason(info) in {
            SecurityReason.KEYSTORE_MALFORMED,
            SecurityReason.KEYSTORE_UNSUPPORTED,
        }


def test_oversized_or_injected_audit_lines_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        decode_audit_line(b"x" * 20_000)
    assert _reason(info) is SecurityReason.PAYLOAD_TOO_LARGE
    for bad in (b"{}", b"not json", b'{"seq": -1}'):
        with pytest.raises(InvalidInput):
            decode_audit_line(bad)


@pytest.mark.parametrize(
    "label",
    ["Аdmin", "paypaI\u0131", "ma\u0456n", "key\u2066", "x\u00a0\u200by", "\U0001d5ba\U0001d5c8"],
)
def test_look_alike_labels_are_refused_or_folded_to_plain_ascii(label: str) -> None:
    try:
        normalized = normalize_label(label)
    except InvalidInput as exc:
        assert exc.code in {SecurityReason.CONFUSABLE_LABEL, SecurityReason.INVALID_LABEL}
    else:
        assert normalized.isascii()


@pytest.mark.parametrize("amount", [0, -1, 2**200, 1.0, "5", None, True])
def test_withdrawal_amounts_must_be_positive_integers(amount: object) -> None:
    guard, _ = _enrolled()
    withdrawals = WithdrawalGuard(guard, {"BTC": 10**8})
    with pytest.raises(InvalidInput) as info:
        withdrawals.authorize(
            ACCOUNT,
            "BTC",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            amount,
            now_ms=NOW_MS,
            totp_code="123456",
        )  # type: ignore[arg-type]
    assert _reason(info) is SecurityReason.INVALID_AMOUNT


def test_look_alike_withdrawal_addresses_are_refused_before_lookup() -> None:
    guard, _ = _enrolled()
    withdrawals = WithdrawalGuard(guard, {"BTC": 10**8})
    for address in (
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdｑ",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5md\u0440",
    ):
        with pytest.raises(InvalidInput) as info:
            withdrawals.authorize(ACCOUNT, "BTC", address, 1, now_ms=NOW_MS, totp_code="123456")
        assert _reason(info) is SecurityReason.INVALID_ADDRESS


def test_a_key_owner_message_cannot_be_used_for_another_account_or_key() -> None:
    registry = delegations()
    with pytest.raises(Unauthorized):
        registry.check("acct-2", TRADER.public_key.raw, TradingScope.TRADE, NOW_MS)
    with pytest.raises(Unauthorized):
        registry.check(ACCOUNT, OWNER.public_key.raw, TradingScope.TRADE, NOW_MS)


def test_a_sealed_secret_copied_onto_another_key_does_not_open() -> None:
    store, client_id, secret = _store()
    other, _ = store.create(
        ACCOUNT,
        name="other",
        scopes=scopes_from_text("trade:read"),
        creator_scopes=FULL_SCOPES,
        now_ms=NOW_MS,
    )
    stolen = msgspec.structs.replace(other, sealed_secret=store.get(client_id).sealed_secret)
    thief = ApiKeyStore(MasterKey(Secret(b"k" * 32)))
    thief.restore([stolen])
    with pytest.raises(Unauthorized):
        thief.authenticate_secret(other.client_id, secret.decode(), ip=None, now_ms=NOW_MS)


def test_keys_and_secrets_refuse_to_be_pickled_into_a_log_or_cache() -> None:
    import pickle

    for value in (OWNER, OWNER.seed(), Secret(b"x")):
        with pytest.raises(TypeError):
            pickle.dumps(value)


def test_a_small_order_public_key_cannot_sign_every_message() -> None:
    # With A = R = the identity point and S = 0, the check [S]B = R + [k]A holds for any
    # message, so a lax verifier would accept this "signature" on anything. The key must be
    # refused, either when it is parsed or when a signature is checked.
    from optex.core import InvalidInput, Unauthorized
    from optex.crypto import PublicKey

    identity = bytes([1]) + bytes(31)
    forged = identity + bytes(32)
    for message in (b"", b"withdraw everything"):
        with pytest.raises((InvalidInput, Unauthorized)):
            PublicKey(identity).verify_raw(forged, message)
