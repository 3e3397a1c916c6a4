"""Property-based fuzzing of every decoder that reads outside input.

The property everywhere: hostile input either decodes to something valid or raises an
``OptexError`` with a reason; it never crashes with another exception, and a mutated signed
thing never verifies.
"""

from __future__ import annotations

import contextlib
import json

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optex.core import OptexError
from optex.crypto import (
    ApiKeyStore,
    AuditLog,
    Authenticator,
    KeyRole,
    MasterKey,
    Secret,
    decode_audit_line,
    decode_keystore,
    decode_signed_order,
    decrypt_keystore,
    encode_keystore,
    encode_signed_order,
    encrypt_key,
    normalize_address,
    normalize_label,
    parse_authorization,
    sign_order,
    verify_audit,
    verify_order,
)
from optex.crypto._scopes import FULL_SCOPES
from tests.crypto.kit import CHAIN, NOW_MS, OWNER, TRADER, delegations, intent, seeded_rng

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNED = encode_signed_order(sign_order(TRADER, intent()))
KEYSTORE = encode_keystore(
    encrypt_key(
        OWNER,
        "fuzz password",
        label="fuzz",
        role=KeyRole.OWNER,
        scrypt_n=2**4,
        scrypt_r=1,
        rng=seeded_rng(2),
    )
)


def _mutate(data: bytes, position: int, value: int) -> bytes:
    position %= len(data)
    return data[:position] + bytes([value]) + data[position + 1 :]


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash_the_signed_order_decoder(data: bytes) -> None:
    with contextlib.suppress(OptexError):
        decode_signed_order(data)


@FUZZ
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_a_mutated_signed_order_never_verifies_as_a_different_order(
    position: int, value: int
) -> None:
    data = _mutate(SIGNED, position, value)
    assume(data != SIGNED)
    try:
        order = decode_signed_order(data)
        verify_order(order, chain_id=CHAIN, now_ms=NOW_MS, authority=delegations())
    except OptexError:
        return
    # Only a change that decodes to the very same order (none exist for canonical msgpack)
    # may pass.
    assert encode_signed_order(order) == SIGNED


@FUZZ
@given(st.text(max_size=1200))
def test_random_authorization_headers_never_crash_the_parser(header: str) -> None:
    with contextlib.suppress(OptexError):
        parse_authorization(header)


@FUZZ
@given(
    st.sampled_from(["deri-hmac-sha256 ", "bearer ", "Basic "]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
)
def test_near_miss_authorization_headers_never_crash_and_never_authenticate(
    scheme: str, rest: str
) -> None:
    auth = Authenticator(ApiKeyStore(MasterKey(Secret(b"k" * 32))))
    auth.keys.create(
        "acct-1",
        name="k",
        scopes=FULL_SCOPES,
        creator_scopes=FULL_SCOPES,
        now_ms=NOW_MS,
        rng=seeded_rng(1),
    )
    with pytest.raises(OptexError):
        auth.authenticate_http(
            scheme + rest, method="GET", uri="/x", body="", ip=None, now_ms=NOW_MS
        )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


@FUZZ
@given(_JSON)
def test_random_json_never_crashes_the_keystore_decoder(value: object) -> None:
    try:
        keystore = decode_keystore(json.dumps(value))
        decrypt_keystore(keystore, "fuzz password")
    except OptexError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_a_mutated_keystore_file_never_decrypts_to_another_key(position: int, value: int) -> None:
    data = _mutate(KEYSTORE, position, value)
    try:
        secret = decrypt_keystore(decode_keystore(data), "fuzz password")
    except OptexError:
        return
    assert secret == OWNER.seed()


@FUZZ
@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_random_audit_lines_never_crash_the_decoder(line: bytes | str) -> None:
    with contextlib.suppress(OptexError):
        decode_audit_line(line)


def _audit_lines() -> list[bytes]:
    log = AuditLog(CHAIN)
    return [
        log.append("login", f"user-{i}", {"n": i, "ok": i % 2 == 0}, now_ms=NOW_MS + i)[1]
        for i in range(6)
    ]


AUDIT = _audit_lines()


@FUZZ
@given(
    st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=8),
)
def test_any_reordering_or_removal_of_audit_records_is_detected(order: list[int]) -> None:
    lines = [AUDIT[i] for i in order]
    is_prefix = order == list(range(len(order)))
    try:
        report = verify_audit(lines, chain_id=CHAIN)
    except OptexError:
        assert not is_prefix
        return
    assert is_prefix and report.records == len(order)


@FUZZ
@given(
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0),
    st.integers(min_value=32, max_value=126),
)
def test_any_edit_of_an_audit_record_is_detected(index: int, position: int, value: int) -> None:
    lines = list(AUDIT)
    edited = _mutate(lines[index].rstrip(b"\n"), position, value)
    assume(edited != lines[index].rstrip(b"\n"))
    try:
        same = msgspec.json.decode(edited) == msgspec.json.decode(lines[index])
    except msgspec.DecodeError:
        same = False
    assume(not same)  # whitespace-only edits leave the record itself unchanged
    lines[index] = edited + b"\n"
    with pytest.raises(OptexError):
        verify_audit(lines, chain_id=CHAIN)


@FUZZ
@given(st.text(max_size=80))
def test_labels_and_addresses_are_ascii_or_refused(text: str) -> None:
    for check in (normalize_label, normalize_address):
        try:
            result = check(text)
        except OptexError:
            continue
        assert result.isascii() and result.isprintable()
