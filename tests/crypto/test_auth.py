"""API keys, Deribit request signatures, tokens and public/auth."""

from __future__ import annotations

import base64

import pytest

from optex.core import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from optex.crypto import (
    DERIBIT_ERROR_CODES,
    Access,
    ApiKeyStore,
    Area,
    Authenticator,
    BasicCredentials,
    BearerCredentials,
    HmacCredentials,
    MasterKey,
    Scopes,
    Secret,
    SecurityReason,
    TotpGuard,
    client_signature_string,
    deribit_error,
    hmac_signature,
    http_string_to_sign,
    parse_authorization,
    parse_scope,
    scopes_from_text,
    totp,
)
from optex.crypto._scopes import FULL_SCOPES
from tests.crypto.kit import ACCOUNT, NOW_MS, TRADER, seeded_rng

URI = "/api/v2/private/get_account_summary?currency=BTC"


def _store(**kwargs: object) -> ApiKeyStore:
    return ApiKeyStore(MasterKey(Secret(b"m" * 32)), **kwargs)  # type: ignore[arg-type]


def _hmac_key(store: ApiKeyStore, **kwargs: object) -> tuple[str, bytes]:
    key, secret = store.create(
        ACCOUNT,
        name="bot",
        scopes=scopes_from_text("trade:read_write account:read"),
        creator_scopes=FULL_SCOPES,
        now_ms=NOW_MS,
        rng=seeded_rng(3),
        **kwargs,  # type: ignore[arg-type]
    )
    assert secret is not None
    return key.client_id, secret.reveal()


def _header(client_id: str, secret: bytes, ts: int, nonce: str, uri: str = URI) -> str:
    sig = hmac_signature(secret, http_string_to_sign(ts, nonce, "GET", uri, ""))
    return f"deri-hmac-sha256 id={client_id},ts={ts},sig={sig},nonce={nonce}"


def test_deribit_scopes_parse_narrow_and_format() -> None:
    requested = parse_scope("connection session:bot trade:read wallet:none expires:60 ip:1.2.3.4")
    assert requested.scopes.trade is Access.READ and requested.scopes.wallet is Access.NONE
    assert requested.expires_s == 60 and requested.ip == "1.2.3.4"
    key_scopes = scopes_from_text("trade:read_write wallet:read")
    assert key_scopes.narrow(parse_scope("wallet:read_write").scopes).format() == (
        "trade:read_write wallet:read"
    )
    with pytest.raises(Forbidden):
        key_scopes.require(Area.WALLET, Access.READ_WRITE)
    with pytest.raises(InvalidInput):
        parse_scope("trade:admin")


def test_a_key_secret_is_encrypted_at_rest_and_hidden_from_repr() -> None:
    store = _store()
    client_id, secret = _hmac_key(store)
    record = store.get(client_id)
    assert secret not in record.sealed_secret
    assert secret.decode() not in repr(record)
    assert "hidden" in repr(Secret(secret))
    moved = _store()
    moved.restore([record.__copy__()])
    assert moved.authenticate_secret(client_id, secret.decode(), ip=None, now_ms=NOW_MS)


def test_http_deri_hmac_sha256_requests_authenticate_as_the_key_account() -> None:
    store = _store()
    client_id, secret = _hmac_key(store)
    auth = Authenticator(store)
    session = auth.authenticate_http(
        _header(client_id, secret, NOW_MS, "abc"),
        method="GET",
        uri=URI,
        body="",
        ip="10.0.0.1",
        now_ms=NOW_MS + 500,
    )
    assert session.account == ACCOUNT and session.client_id == client_id


def test_two_ccxt_requests_in_one_millisecond_with_nonce_equal_to_ts_both_pass() -> None:
    store = _store()
    client_id, secret = _hmac_key(store)
    auth = Authenticator(store)
    ts = str(NOW_MS)
    for uri in (URI, "/api/v2/private/get_positions"):
        auth.authenticate_http(
            _header(client_id, secret, NOW_MS, ts, uri),
            method="GET",
            uri=uri,
            body="",
            ip=None,
            now_ms=NOW_MS,
        )


def test_client_credentials_and_client_signature_issue_tokens_with_narrowed_scope() -> None:
    store = _store()
    client_id, secret = _hmac_key(store)
    auth = Authenticator(store)
    result = auth.public_auth(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret.decode(),
            "scope": "trade:read wallet:read_write",
        },
        ip=None,
        now_ms=NOW_MS,
        rng=seeded_rng(4),
    )
    assert result.token_type == "bearer"  # noqa: S105
    assert result.scope == "account:read trade:read"
    assert result.access_token not in repr(result)
    session = auth.authenticate_token(result.access_token, ip=None, now_ms=NOW_MS + 1)
    assert session.scopes.trade is Access.READ
    sig = hmac_signature(secret, client_signature_string(NOW_MS, "n1", ""))
    result2 = auth.public_auth(
        {
            "grant_type": "client_signature",
            "client_id": client_id,
            "timestamp": NOW_MS,
            "nonce": "n1",
            "signature": sig,
            "data": "",
        },
        ip=None,
        now_ms=NOW_MS,
    )
    assert result2.scope == "account:read trade:read_write"


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_family() -> None:
    store = _store()
    client_id, secret = _hmac_key(store)
    auth = Authenticator(store)
    first = auth.public_auth(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret.decode(),
        },
        ip=None,
        now_ms=NOW_MS,
    )
    second = auth.public_auth(
        {"grant_type": "refresh_token", "refresh_token": first.refresh_token},
        ip=None,
        now_ms=NOW_MS + 1,
    )
    auth.authenticate_token(second.access_token, ip=None, now_ms=NOW_MS + 2)
    with pytest.raises(Unauthorized) as info:
        auth.public_auth(
            {"grant_type": "refresh_token", "refresh_token": first.refresh_token},
            ip=None,
            now_ms=NOW_MS + 3,
        )
    assert info.value.code is SecurityReason.TOKEN_REVOKED
    with pytest.raises(Unauthorized):
        auth.authenticate_token(second.access_token, ip=None, now_ms=NOW_MS + 4)


def test_revoking_an_api_key_kills_its_tokens() -> None:
    store = _store()
    client_id, secret = _hmac_key(store)
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
    auth.revoke_key(client_id, ACCOUNT, now_ms=NOW_MS)
    with pytest.raises(Unauthorized):
        auth.authenticate_token(tokens.access_token, ip=None, now_ms=NOW_MS)
    with pytest.raises(Unauthorized):
        auth.public_auth(
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
            ip=None,
            now_ms=NOW_MS,
        )


def test_ed25519_api_keys_authenticate_by_signature_only() -> None:
    store = _store()
    record, secret = store.create(
        ACCOUNT,
        name="ed",
        scopes=Scopes(trade=Access.READ_WRITE),
        creator_scopes=FULL_SCOPES,
        now_ms=NOW_MS,
        public_key=TRADER.public_key,
    )
    assert secret is None
    text = http_string_to_sign(NOW_MS, "z1", "GET", URI, "")
    sig = TRADER.sign_raw(text.encode()).hex()
    header = f"deri-hmac-sha256 id={record.client_id},ts={NOW_MS},sig={sig},nonce=z1"
    session = Authenticator(store).authenticate_http(
        header, method="GET", uri=URI, body="", ip=None, now_ms=NOW_MS
    )
    assert session.client_id == record.client_id
    with pytest.raises(Unauthorized):
        store.authenticate_secret(record.client_id, "anything", ip=None, now_ms=NOW_MS)


def test_basic_and_bearer_headers_parse() -> None:
    basic = "Basic " + base64.b64encode(b"abc:s3cr3t-value").decode()
    parsed = parse_authorization(basic)
    assert isinstance(parsed, BasicCredentials) and parsed.client_id == "abc"
    assert "s3cr3t" not in repr(parsed)
    assert isinstance(parse_authorization("bearer tok.en"), BearerCredentials)
    hmac_header = parse_authorization(f"deri-hmac-sha256 id=a,ts=1,sig={'0' * 64},nonce=n")
    assert isinstance(hmac_header, HmacCredentials) and hmac_header.timestamp == 1


def test_ip_allowlist_and_expiry_are_enforced() -> None:
    store = _store()
    client_id, secret = _hmac_key(store, ip_allowlist=["10.0.0.0/8"], expiry_ms=NOW_MS + 1000)
    store.authenticate_secret(client_id, secret.decode(), ip="10.1.2.3", now_ms=NOW_MS)
    with pytest.raises(Forbidden) as info:
        store.authenticate_secret(client_id, secret.decode(), ip="192.168.0.1", now_ms=NOW_MS)
    assert info.value.code is SecurityReason.IP_NOT_ALLOWED
    with pytest.raises(Unauthorized) as info2:
        store.authenticate_secret(client_id, secret.decode(), ip="10.1.2.3", now_ms=NOW_MS + 1000)
    assert info2.value.code is SecurityReason.API_KEY_EXPIRED


def test_api_key_changes_need_a_totp_code_when_a_second_factor_is_configured() -> None:
    guard = TotpGuard()
    secret = seeded_rng(1)(20)
    guard.begin_enrolment(ACCOUNT, rng=seeded_rng(1))
    guard.confirm_enrolment(ACCOUNT, totp(secret, NOW_MS // 1000 - 30), NOW_MS)
    store = _store(totp=guard)
    with pytest.raises(Unauthorized) as info:
        _hmac_key(store)
    assert info.value.code is SecurityReason.TOTP_REQUIRED
    assert store.keys_of(ACCOUNT) == []
    client_id, _ = _hmac_key(store, totp_code=totp(secret, NOW_MS // 1000))
    with pytest.raises(Conflict):
        store.revoke(client_id, ACCOUNT, now_ms=NOW_MS, totp_code=totp(secret, NOW_MS // 1000))
    store.revoke(
        client_id, ACCOUNT, now_ms=NOW_MS + 30_000, totp_code=totp(secret, NOW_MS // 1000 + 30)
    )
    assert not store.get(client_id).enabled


def test_a_key_cannot_be_created_with_more_scope_than_its_creator() -> None:
    store = _store()
    with pytest.raises(Forbidden) as info:
        store.create(
            ACCOUNT,
            name="x",
            scopes=scopes_from_text("wallet:read_write"),
            creator_scopes=scopes_from_text("account:read_write wallet:read"),
            now_ms=NOW_MS,
        )
    assert info.value.code is SecurityReason.SCOPE_EXCEEDED
    assert deribit_error(SecurityReason.SCOPE_EXCEEDED) == (13403, "scope_exceeded")


def test_every_security_reason_maps_to_a_deribit_code() -> None:
    assert set(DERIBIT_ERROR_CODES) == set(SecurityReason)
    assert deribit_error(SecurityReason.TOO_MANY_REQUESTS) == (10028, "too_many_requests")
    assert deribit_error(SecurityReason.INVALID_CREDENTIALS) == (13004, "invalid_credentials")
    assert deribit_error(SecurityReason.STALE_TIMESTAMP) == (13009, "unauthorized")
    assert deribit_error(SecurityReason.TOTP_REUSED) == (12999, "tfa_used")


def test_scope_changes_and_unknown_keys() -> None:
    store = _store()
    client_id, _ = _hmac_key(store)
    changed = store.change_scopes(
        client_id, ACCOUNT, scopes=Scopes(), creator_scopes=FULL_SCOPES, now_ms=NOW_MS
    )
    assert changed.scopes == Scopes()
    with pytest.raises(NotFound):
        store.change_scopes(
            client_id, "someone-else", scopes=Scopes(), creator_scopes=FULL_SCOPES, now_ms=NOW_MS
        )
    updated = store.set_ip_allowlist(client_id, ACCOUNT, ["1.2.3.4"], now_ms=NOW_MS)
    assert updated.ip_allowlist == ("1.2.3.4/32",)
