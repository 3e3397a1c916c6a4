"""Encrypted keystores: the optex AES-256-GCM format and keystore v3 written by optex."""

from __future__ import annotations

import json

import msgspec
import pytest

from optex.core import InvalidInput, Unauthorized
from optex.crypto import (
    KeyRole,
    SecurityReason,
    change_password,
    decode_keystore,
    decrypt_key,
    encode_keystore,
    encrypt_key,
)
from tests.crypto.kit import FAST_SCRYPT_N, OWNER, seeded_rng

PASSWORD = "correct horse battery"  # noqa: S105 - a test password


def _file(fmt: str = "optex", kdf: str = "scrypt") -> bytes:
    store = encrypt_key(
        OWNER,
        PASSWORD,
        label="Main owner",
        role=KeyRole.OWNER,
        fmt=fmt,  # type: ignore[arg-type]
        kdf=kdf,
        scrypt_n=FAST_SCRYPT_N,
        pbkdf2_iterations=1000,
        rng=seeded_rng(),  # type: ignore[arg-type]
    )
    return encode_keystore(store)


@pytest.mark.parametrize(("fmt", "kdf"), [("optex", "scrypt"), ("v3", "scrypt"), ("v3", "pbkdf2")])
def test_a_key_written_to_a_keystore_reads_back_with_its_password(fmt: str, kdf: str) -> None:
    data = _file(fmt, kdf)
    store = decode_keystore(data)
    assert store.optex is not None and store.optex.label == "Main owner"
    assert decrypt_key(store, PASSWORD).public_key == OWNER.public_key
    assert OWNER.seed().reveal().hex() not in data.decode()


def test_the_default_format_is_scrypt_with_aes_256_gcm() -> None:
    doc = json.loads(_file())
    assert doc["version"] == "optex-gcm/1"
    assert doc["crypto"]["cipher"] == "aes-256-gcm"
    assert doc["crypto"]["kdf"] == "scrypt"


def test_v3_files_written_by_optex_follow_the_web3_layout() -> None:
    doc = json.loads(_file("v3", "pbkdf2"))
    assert doc["version"] == 3
    assert doc["crypto"]["cipher"] == "aes-128-ctr"
    assert set(doc["crypto"]["kdfparams"]) == {"c", "dklen", "prf", "salt"}
    assert len(bytes.fromhex(doc["crypto"]["mac"])) == 32


@pytest.mark.parametrize("fmt", ["optex", "v3"])
def test_a_wrong_password_gives_a_clear_error(fmt: str) -> None:
    with pytest.raises(Unauthorized) as info:
        decrypt_key(decode_keystore(_file(fmt)), "wrong password")
    assert info.value.code is SecurityReason.KEYSTORE_WRONG_PASSWORD
    assert "password is wrong" in info.value.message


@pytest.mark.parametrize(
    "path",
    [
        ("crypto", "ciphertext"),
        ("crypto", "cipherparams", "iv"),
        ("crypto", "kdfparams", "salt"),
        ("optex", "label"),
        ("optex", "public_key"),
        ("id",),
    ],
)
def test_any_change_to_an_optex_keystore_is_detected(path: tuple[str, ...]) -> None:
    doc = json.loads(_file())
    parent = doc
    for name in path[:-1]:
        parent = parent[name]
    value = parent[path[-1]]
    parent[path[-1]] = ("0" if value[0] != "0" else "1") + value[1:]
    with pytest.raises((Unauthorized, InvalidInput)):
        decrypt_key(decode_keystore(json.dumps(doc)), PASSWORD)


def test_changing_the_password_keeps_the_key_and_drops_the_old_password() -> None:
    store = decode_keystore(_file("v3"))
    new = change_password(
        store, PASSWORD, "another password", rng=seeded_rng(9), scrypt_n=FAST_SCRYPT_N
    )
    assert decrypt_key(new, "another password").public_key == OWNER.public_key
    with pytest.raises(Unauthorized):
        decrypt_key(new, PASSWORD)
    assert new.optex == store.optex


def test_short_passwords_are_refused_for_new_files() -> None:
    with pytest.raises(InvalidInput) as info:
        encrypt_key(OWNER, "short", label="x", role=KeyRole.OWNER, scrypt_n=FAST_SCRYPT_N)
    assert info.value.code is SecurityReason.WEAK_PASSWORD


@pytest.mark.parametrize(
    "kdfparams",
    [
        {"n": 2**22, "r": 8, "p": 1, "dklen": 32, "salt": "00" * 32},
        {"n": 1000, "r": 8, "p": 1, "dklen": 32, "salt": "00" * 32},
        {"n": 2**10, "r": 8, "p": 1, "dklen": 64, "salt": "00" * 32},
        {"n": 2**16, "r": 8, "p": 64, "dklen": 32, "salt": "00" * 32},
    ],
)
def test_hostile_scrypt_parameters_are_refused_before_any_work(
    kdfparams: dict[str, object],
) -> None:
    doc = json.loads(_file())
    doc["crypto"]["kdfparams"] = kdfparams
    with pytest.raises(InvalidInput) as info:
        decrypt_key(decode_keystore(json.dumps(doc)), PASSWORD)
    assert info.value.code is SecurityReason.KEYSTORE_UNSUPPORTED


def test_unknown_versions_ciphers_and_kdfs_are_refused() -> None:
    doc = json.loads(_file("v3"))
    for change in ({"version": 4}, {"version": True}):
        with pytest.raises(InvalidInput):
            decode_keystore(json.dumps({**doc, **change}))
    doc["crypto"]["cipher"] = "aes-128-cbc"
    with pytest.raises(InvalidInput) as info:
        decrypt_key(decode_keystore(json.dumps(doc)), PASSWORD)
    assert info.value.code is SecurityReason.KEYSTORE_UNSUPPORTED


def test_keystore_files_are_deterministic_given_the_random_source() -> None:
    assert _file() == _file()
    assert msgspec.json.decode(_file())["id"]
