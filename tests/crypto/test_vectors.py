"""Published test vectors (docs: /work/shared/reference/security-vectors.md and the RFCs)."""

from __future__ import annotations

import hashlib

import pytest

from optex.core import Unauthorized
from optex.crypto import (
    PrivateKey,
    PublicKey,
    SecurityReason,
    TotpAlgorithm,
    client_signature_string,
    decode_keystore,
    decrypt_keystore,
    hmac_signature,
    hotp,
    http_string_to_sign,
    keccak256,
    totp,
)

# RFC 8032 section 7.1, TEST 1-3: (seed, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("seed", "public", "message", "signature"), RFC8032)
def test_ed25519_signatures_match_rfc_8032(
    seed: str, public: str, message: str, signature: str
) -> None:
    key = PrivateKey(bytes.fromhex(seed))
    assert key.public_key.hex() == public
    assert key.sign_raw(bytes.fromhex(message)).hex() == signature
    PublicKey.from_hex(public).verify_raw(bytes.fromhex(signature), bytes.fromhex(message))


def test_rfc_8032_test_1_signature_fails_for_another_message_and_flipped_bits() -> None:
    _, public, _, signature = RFC8032[0]
    key = PublicKey.from_hex(public)
    sig = bytes.fromhex(signature)
    with pytest.raises(Unauthorized):
        key.verify_raw(sig, b"x")
    for bit in (0, 255, 256, 511):  # first and last bit of R, first and last of S
        flipped = bytearray(sig)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(Unauthorized):
            key.verify_raw(bytes(flipped), b"")


HOTP = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(HOTP)))
def test_hotp_matches_rfc_4226_appendix_d(counter: int, expected: int) -> None:
    assert hotp(b"12345678901234567890", counter) == f"{expected:06d}"


TOTP_SEEDS = {
    TotpAlgorithm.SHA1: b"12345678901234567890",
    TotpAlgorithm.SHA256: b"12345678901234567890123456789012",
    TotpAlgorithm.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
TOTP = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("time", "sha1", "sha256", "sha512"), TOTP)
def test_totp_matches_rfc_6238_appendix_b_with_per_hash_seeds(
    time: int, sha1: str, sha256: str, sha512: str
) -> None:
    for algorithm, expected in zip(TotpAlgorithm, (sha1, sha256, sha512), strict=True):
        code = totp(TOTP_SEEDS[algorithm], time, digits=8, algorithm=algorithm)
        assert code == expected, algorithm


def test_totp_sha256_with_the_20_byte_seed_gives_the_trap_value_not_the_rfc_one() -> None:
    code = totp(TOTP_SEEDS[TotpAlgorithm.SHA1], 59, digits=8, algorithm=TotpAlgorithm.SHA256)
    assert code == "32247374"


SECRET = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"  # noqa: S105
PBKDF2_FILE = """{"crypto": {"cipher": "aes-128-ctr",
 "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
 "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
 "kdf": "pbkdf2", "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
 "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
 "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},
 "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6", "version": 3}"""
SCRYPT_FILE = """{"crypto": {"cipher": "aes-128-ctr",
 "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
 "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
 "kdf": "scrypt", "kdfparams": {"dklen": 32, "n": 262144, "p": 8, "r": 1,
 "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},
 "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"},
 "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6", "version": 3,
 "address": "008aeeda4d805471df9b2a5b0f38a0c3bcba786b"}"""
# Vector (d): r=8, p=1 with the salt of the ethereum.org page, decoded to bytes.
SCRYPT_R8_FILE = """{"crypto": {"cipher": "aes-128-ctr",
 "cipherparams": {"iv": "740770fce12ce862af21264dab25f1da"},
 "ciphertext": "1b368ffb2db0fcec8802eceba0b2820ae1069ef3815ac97ca1031371748f6e18",
 "kdf": "scrypt", "kdfparams": {"dklen": 32, "n": 262144, "p": 1, "r": 8,
 "salt": "25710c2ccd7c610b24d068af83b959b7a0e5f40641f0c82daeb1345766191034"},
 "mac": "61de4bf77db2f8e07e01232c045e5b455997efeb22bb8ea08a66ff5a252182a6"},
 "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6", "version": 3}"""


@pytest.mark.parametrize("text", [PBKDF2_FILE, SCRYPT_FILE, SCRYPT_R8_FILE])
def test_published_keystore_v3_files_decrypt_to_the_published_secret(text: str) -> None:
    secret = decrypt_keystore(decode_keystore(text), "testpassword")
    assert secret.reveal().hex() == SECRET


def test_keystore_v3_with_wrong_password_is_refused_by_the_mac() -> None:
    with pytest.raises(Unauthorized) as info:
        decrypt_keystore(decode_keystore(PBKDF2_FILE), "testpassworD")
    assert info.value.code is SecurityReason.KEYSTORE_WRONG_PASSWORD


def test_keystore_mac_is_keccak_256_not_fips_sha3_256() -> None:
    body = bytes.fromhex(
        "e31891a3a773950e6d0fea48a71885515318b4d5bcd28de64ee5559e671353e1"
        "6f075ecae9f99c7a79a38af5f869aa46"
    )
    assert keccak256(body).hex() == (
        "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
    )
    assert hashlib.sha3_256(body).hexdigest() == (
        "fb132cf2e0ab51ff37571e45011c37daf12383bfa93e2fc4744b4d7e9493c39a"
    )


def test_a_keystore_carrying_the_sha3_256_mac_of_the_circulating_copy_is_refused() -> None:
    fake = PBKDF2_FILE.replace(
        "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
        "fb132cf2e0ab51ff37571e45011c37daf12383bfa93e2fc4744b4d7e9493c39a",
    )
    with pytest.raises(Unauthorized):
        decrypt_keystore(decode_keystore(fake), "testpassword")


def test_deribit_client_signature_matches_the_published_value() -> None:
    text = client_signature_string(1554883365000, "fdbmmz79", "")
    assert text == "1554883365000\nfdbmmz79\n"
    assert hmac_signature(b"ABCD", text) == (
        "e20c9cd5639d41f8bbc88f4d699c4baf94a4f0ee320e9a116b72743c449eb994"
    )


def test_deribit_http_signature_matches_the_derived_vector() -> None:
    text = http_string_to_sign(
        1554883365000, "fdbmmz79", "get", "/api/v2/private/get_account_summary?currency=BTC", ""
    )
    assert text == (
        "1554883365000\nfdbmmz79\nGET\n/api/v2/private/get_account_summary?currency=BTC\n\n"
    )
    assert hmac_signature(b"ABCD", text) == (
        "69e848f473602b40c97cf59a32236fcf1b6f3ef922640e1067061895ea7df430"
    )
