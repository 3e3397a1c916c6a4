"""Encrypted keystores: Web3 Secret Storage (keystore v3) and optex's AES-256-GCM variant.

Keystore v3 (the geth/MetaMask format): ``DK = KDF(password, salt)`` with scrypt or
PBKDF2-HMAC-SHA256; the secret is encrypted with AES-128-CTR under ``DK[0:16]`` and the
128-bit ``iv`` as the initial counter block; ``mac = Keccak-256(DK[16:32] || ciphertext)``.
Keccak-256 is the pre-standard padding, not FIPS SHA3-256; with SHA3-256 every real file would
fail (see docs/security.md). The MAC covers only the ciphertext, so v3 metadata (label, role) is
not authenticated; optex checks the public key against the decrypted seed instead.

The optex variant (our default for new files) keeps scrypt but encrypts with AES-256-GCM under
the whole 32-byte derived key, with the canonical encoding of the kdf parameters and the
metadata as associated data, so any change to the file, not only to the ciphertext, is caught.

Decoding bounds every size and cost parameter before running a KDF, so a hostile file cannot
make us allocate gigabytes or loop for hours.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from typing import Any, Final, Literal

import msgspec
from Cryptodome.Hash import keccak
from Cryptodome.Protocol.KDF import scrypt as _pycryptodome_scrypt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from optex.core import InvalidInput, Unauthorized, encode
from optex.crypto._keys import KeyRole, PrivateKey, Secret
from optex.crypto._reasons import SecurityReason
from optex.crypto._text import normalize_label

MAX_KEYSTORE_BYTES: Final = 64 * 1024
MAX_SCRYPT_MEMORY: Final = 512 * 1024 * 1024
MAX_SCRYPT_WORK: Final = 2**24
MAX_PBKDF2_ITERATIONS: Final = 10_000_000
MAX_SECRET_BYTES: Final = 1024
MIN_PASSWORD_LENGTH: Final = 8
OPTEX_VERSION: Final = "optex-gcm/1"
DEFAULT_SCRYPT_N: Final = 2**17
DEFAULT_SCRYPT_R: Final = 8
DEFAULT_SCRYPT_P: Final = 1
DEFAULT_PBKDF2_ITERATIONS: Final = 262_144

Random = Callable[[int], bytes]
KeystoreFormat = Literal["optex", "v3"]


class ScryptParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """scrypt parameters as keystore files spell them; ``salt`` is hex."""

    n: int
    r: int
    p: int
    dklen: int
    salt: str


class Pbkdf2Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """PBKDF2 parameters as keystore files spell them; only ``hmac-sha256`` is defined."""

    c: int
    dklen: int
    prf: str
    salt: str


class CipherParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The AES-CTR initial counter block (v3) or the GCM nonce (optex variant), hex."""

    iv: str


class Crypto(msgspec.Struct, frozen=True):
    """The ``crypto`` object of a keystore file."""

    cipher: str
    cipherparams: CipherParams
    ciphertext: str
    kdf: str
    kdfparams: dict[str, Any]
    mac: str = ""


class KeyMetadata(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What optex records beside the ciphertext: label, role and public key (hex)."""

    label: str
    role: KeyRole
    public_key: str


class Keystore(msgspec.Struct, frozen=True):
    """A keystore file: ``version`` 3 (Web3 Secret Storage) or ``"optex-gcm/1"``.

    Unknown top-level fields (geth's ``address``) are ignored, as other v3 readers do.
    """

    version: int | str
    id: str
    crypto: Crypto
    optex: KeyMetadata | None = None


def _malformed(message: str) -> InvalidInput:
    return InvalidInput(SecurityReason.KEYSTORE_MALFORMED, message)


def _unsupported(message: str) -> InvalidInput:
    return InvalidInput(SecurityReason.KEYSTORE_UNSUPPORTED, message)


def _hex(text: str, what: str, sizes: range) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except (ValueError, TypeError):
        raise _malformed(f"{what} is not hexadecimal") from None
    if len(raw) not in sizes:
        raise _malformed(f"{what} has {len(raw)} bytes, expected {sizes.start}-{sizes.stop - 1}")
    return raw


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (the original padding, as Ethereum uses), not FIPS-202 SHA3-256."""
    return keccak.new(digest_bits=256, data=data).digest()


def _check_scrypt(params: ScryptParams) -> bytes:
    n, r, p = params.n, params.r, params.p
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 64:
        raise _unsupported("scrypt needs n a power of two >= 2, 1 <= r, p <= 64")
    if 128 * n * r > MAX_SCRYPT_MEMORY or n * r * p > MAX_SCRYPT_WORK:
        raise _unsupported("the scrypt parameters would cost more memory or time than allowed")
    if params.dklen != 32:
        raise _unsupported("dklen must be 32")
    return _hex(params.salt, "salt", range(8, 129))


# pycryptodome's stub types password and salt as str, but it takes bytes, which is what a
# keystore's exact UTF-8 password and binary salt need.
_slow_scrypt: Callable[..., Any] = _pycryptodome_scrypt


def _scrypt(password: bytes, salt: bytes, params: ScryptParams) -> bytes:
    try:
        kdf = Scrypt(salt=salt, length=params.dklen, n=params.n, r=params.r, p=params.p)
        return kdf.derive(password)
    except (MemoryError, ValueError):
        # OpenSSL refuses n >= 2^(128 r / 8), which the long-standing v3 vector (n=2^18, r=1)
        # breaks; pycryptodome has no such bound. The parameters were already capped above.
        derived = _slow_scrypt(password, salt, params.dklen, params.n, params.r, params.p)
        return bytes(derived)


def _pbkdf2(password: bytes, params: Pbkdf2Params) -> bytes:
    if params.prf != "hmac-sha256":
        raise _unsupported(f"pbkdf2 prf {params.prf!r} is not supported (only hmac-sha256)")
    if not 1 <= params.c <= MAX_PBKDF2_ITERATIONS or params.dklen != 32:
        raise _unsupported("pbkdf2 needs 1 <= c <= 10^7 and dklen 32")
    salt = _hex(params.salt, "salt", range(8, 129))
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=params.c)
    return kdf.derive(password)


def _derive(crypto: Crypto, password: str) -> bytes:
    secret = password.encode("utf-8")
    try:
        if crypto.kdf == "scrypt":
            params = msgspec.convert(crypto.kdfparams, ScryptParams, strict=True)
            return _scrypt(secret, _check_scrypt(params), params)
        if crypto.kdf == "pbkdf2":
            return _pbkdf2(secret, msgspec.convert(crypto.kdfparams, Pbkdf2Params, strict=True))
    except msgspec.ValidationError as exc:
        raise _malformed(f"kdfparams: {exc}") from None
    raise _unsupported(f"kdf {crypto.kdf!r} is not supported (scrypt or pbkdf2)")


def _aad(keystore: Keystore) -> bytes:
    return encode(
        (
            "optex-keystore",
            keystore.id,
            keystore.crypto.kdf,
            keystore.crypto.kdfparams,
            keystore.optex,
        )
    )


def decode_keystore(data: bytes | str) -> Keystore:
    """Parse a keystore file's JSON, refusing oversized or malformed input."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_KEYSTORE_BYTES:
        raise InvalidInput(SecurityReason.PAYLOAD_TOO_LARGE, "a keystore file is at most 64 KiB")
    try:
        keystore = msgspec.json.decode(data, type=Keystore, strict=True)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _malformed(f"not a keystore file: {exc}") from None
    if keystore.version not in (3, OPTEX_VERSION) or isinstance(keystore.version, bool):
        raise _unsupported(f"keystore version {keystore.version!r} (expected 3 or optex-gcm/1)")
    return keystore


def encode_keystore(keystore: Keystore) -> bytes:
    """A keystore as indented JSON, ready to write to a file."""
    return msgspec.json.format(msgspec.json.encode(keystore), indent=2) + b"\n"


def decrypt_keystore(keystore: Keystore, password: str) -> Secret:
    """The secret inside ``keystore``, or :class:`Unauthorized` for a wrong password or tamper."""
    crypto = keystore.crypto
    ciphertext = _hex(crypto.ciphertext, "ciphertext", range(1, MAX_SECRET_BYTES + 17))
    if keystore.version == 3:
        if crypto.cipher != "aes-128-ctr":
            raise _unsupported(f"cipher {crypto.cipher!r} (keystore v3 uses aes-128-ctr)")
        iv = _hex(crypto.cipherparams.iv, "iv", range(16, 17))
        mac = _hex(crypto.mac, "mac", range(32, 33))
        key = _derive(crypto, password)
        if not hmac.compare_digest(keccak256(key[16:32] + ciphertext), mac):
            raise Unauthorized(SecurityReason.KEYSTORE_WRONG_PASSWORD)
        decryptor = Cipher(algorithms.AES(key[:16]), modes.CTR(iv)).decryptor()
        secret = decryptor.update(ciphertext) + decryptor.finalize()
    else:
        if crypto.cipher != "aes-256-gcm":
            raise _unsupported(f"cipher {crypto.cipher!r} (optex keystores use aes-256-gcm)")
        if crypto.kdf != "scrypt":
            raise _unsupported("optex keystores use scrypt")
        nonce = _hex(crypto.cipherparams.iv, "iv", range(12, 13))
        key = _derive(crypto, password)
        try:
            secret = AESGCM(key).decrypt(nonce, ciphertext, _aad(keystore))
        except InvalidTag:
            raise Unauthorized(SecurityReason.KEYSTORE_WRONG_PASSWORD) from None
    _check_public_key(keystore, secret)
    return Secret(secret)


def _check_public_key(keystore: Keystore, secret: bytes) -> None:
    meta = keystore.optex
    if meta is None:
        return
    if len(secret) != 32 or PrivateKey(secret).public_key.hex() != meta.public_key:
        raise Unauthorized(
            SecurityReason.KEYSTORE_WRONG_PASSWORD, "the file's public key does not match its key"
        )


def check_password(password: str) -> str:
    """Refuse passwords too short to protect a key (for new files; reading is not restricted)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            SecurityReason.WEAK_PASSWORD, f"use a password of at least {MIN_PASSWORD_LENGTH}"
        )
    return password


def encrypt_key(
    key: PrivateKey,
    password: str,
    *,
    label: str,
    role: KeyRole,
    fmt: KeystoreFormat = "optex",
    kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
    scrypt_n: int = DEFAULT_SCRYPT_N,
    scrypt_r: int = DEFAULT_SCRYPT_R,
    scrypt_p: int = DEFAULT_SCRYPT_P,
    pbkdf2_iterations: int = DEFAULT_PBKDF2_ITERATIONS,
    rng: Random = secrets.token_bytes,
) -> Keystore:
    """Encrypt an Ed25519 key's seed into a keystore file.

    ``rng`` supplies the salt, iv and file id (tests pass a seeded one). The optex format
    always uses scrypt; ``fmt="v3"`` writes a file any Web3 Secret Storage reader can decrypt.
    """
    check_password(password)
    meta = KeyMetadata(
        label=normalize_label(label), role=KeyRole(role), public_key=key.public_key.hex()
    )
    salt = rng(32).hex()
    kdfparams: dict[str, Any]
    if kdf == "scrypt" or fmt == "optex":
        scrypt = ScryptParams(n=scrypt_n, r=scrypt_r, p=scrypt_p, dklen=32, salt=salt)
        _check_scrypt(scrypt)
        kdfparams = msgspec.to_builtins(scrypt)
        kdf_name = "scrypt"
    else:
        kdfparams = msgspec.to_builtins(
            Pbkdf2Params(c=pbkdf2_iterations, dklen=32, prf="hmac-sha256", salt=salt)
        )
        kdf_name = "pbkdf2"
    file_id = str(uuid.UUID(bytes=rng(16), version=4))
    seed = key.seed().reveal()
    if fmt == "v3":
        iv = rng(16)
        probe = Crypto("aes-128-ctr", CipherParams(iv.hex()), "", kdf_name, kdfparams)
        dk = _derive(probe, password)
        encryptor = Cipher(algorithms.AES(dk[:16]), modes.CTR(iv)).encryptor()
        ciphertext = encryptor.update(seed) + encryptor.finalize()
        crypto = Crypto(
            "aes-128-ctr",
            CipherParams(iv.hex()),
            ciphertext.hex(),
            kdf_name,
            kdfparams,
            keccak256(dk[16:32] + ciphertext).hex(),
        )
        return Keystore(version=3, id=file_id, crypto=crypto, optex=meta)
    nonce = rng(12)
    shell = Keystore(
        version=OPTEX_VERSION,
        id=file_id,
        crypto=Crypto("aes-256-gcm", CipherParams(nonce.hex()), "", kdf_name, kdfparams),
        optex=meta,
    )
    dk = _derive(shell.crypto, password)
    ciphertext = AESGCM(dk).encrypt(nonce, seed, _aad(shell))
    crypto = Crypto("aes-256-gcm", CipherParams(nonce.hex()), ciphertext.hex(), kdf_name, kdfparams)
    return Keystore(version=OPTEX_VERSION, id=file_id, crypto=crypto, optex=meta)


def decrypt_key(keystore: Keystore, password: str) -> PrivateKey:
    """The Ed25519 key inside an optex keystore file."""
    secret = decrypt_keystore(keystore, password).reveal()
    if len(secret) != 32:
        raise _unsupported("the keystore does not hold a 32-byte Ed25519 seed")
    return PrivateKey(secret)


def change_password(
    keystore: Keystore,
    old_password: str,
    new_password: str,
    *,
    rng: Random = secrets.token_bytes,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> Keystore:
    """Re-encrypt a key under a new password, with a new salt and iv, in the optex format."""
    key = decrypt_key(keystore, old_password)
    if keystore.optex is None:
        raise _unsupported("only optex key files can be re-encrypted here")
    return encrypt_key(
        key,
        new_password,
        label=keystore.optex.label,
        role=keystore.optex.role,
        scrypt_n=scrypt_n,
        rng=rng,
    )
