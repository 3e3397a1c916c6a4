"""Ed25519 keys and domain-separated signatures.

Every signature in optex is over :func:`optex.core.signing_bytes` of ``(domain, chain_id,
payload)``: the canonical encoding with a domain tag (``"order/v1"``) and the chain id, so a
signature made for one purpose or one chain never validates another. Nothing here implements
a primitive: keys and signing are ``cryptography``'s (OpenSSL); verification is libsodium's,
through PyNaCl, because it is the hot path of the ledger (two per fill) and measured 54 µs per
verify here against OpenSSL's 105 µs. libsodium is also the stricter verifier: it refuses
small-order keys and non-canonical signatures, so every validator applies the same rule.
"""

from __future__ import annotations

import hmac
import secrets
from enum import StrEnum
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from optex.core import InvalidInput, Unauthorized, signing_bytes
from optex.crypto._reasons import SecurityReason

SEED_SIZE: Final = 32
PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64


class KeyRole(StrEnum):
    """What a key pair is for; each role is a separate key, never reused across roles."""

    OWNER = "owner"
    TRADING = "trading"
    VALIDATOR = "validator"
    NODE = "node"


class Secret:
    """Secret bytes whose ``repr`` and ``str`` never show them, so they cannot leak into logs.

    Equality is constant-time; call :meth:`reveal` where the bytes are really needed.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError("a Secret holds bytes")
        self._value = value

    def reveal(self) -> bytes:
        """The secret bytes."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(Secret)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


class PublicKey:
    """An Ed25519 public key: 32 bytes."""

    __slots__ = ("_key", "_verifier", "raw")

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes) or len(raw) != PUBLIC_KEY_SIZE:
            raise InvalidInput(SecurityReason.INVALID_KEY, "a public key is 32 bytes")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise InvalidInput(SecurityReason.INVALID_KEY, str(exc)) from exc
        self._verifier = VerifyKey(raw)
        self.raw = raw

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        """Parse 64 hexadecimal digits."""
        try:
            raw = bytes.fromhex(text)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(SecurityReason.INVALID_KEY, "a public key is 64 hex digits") from exc
        return cls(raw)

    def hex(self) -> str:
        """The key as 64 lower-case hexadecimal digits."""
        return self.raw.hex()

    def pem(self) -> str:
        """The key as a PEM SubjectPublicKeyInfo, the form Deribit asks for asymmetric keys."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verify_raw(self, signature: bytes, message: bytes) -> None:
        """Check a plain Ed25519 signature over ``message`` or raise :class:`Unauthorized`."""
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
            raise Unauthorized(SecurityReason.INVALID_SIGNATURE, "a signature is 64 bytes")
        try:
            self._verifier.verify(message, signature)
        except BadSignatureError:
            raise Unauthorized(SecurityReason.INVALID_SIGNATURE) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey({self.hex()})"


class PrivateKey:
    """An Ed25519 private key, created from a 32-byte seed; its repr hides the seed."""

    __slots__ = ("_key", "_seed", "public_key")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            raise InvalidInput(SecurityReason.INVALID_KEY, "a private key seed is 32 bytes")
        self._seed = Secret(seed)
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = PublicKey(raw)

    @classmethod
    def generate(cls) -> PrivateKey:
        """A new key from the operating system's random source."""
        return cls(secrets.token_bytes(SEED_SIZE))

    def seed(self) -> Secret:
        """The 32-byte seed, wrapped so that it is not printed by accident."""
        return self._seed

    def sign_raw(self, message: bytes) -> bytes:
        """A plain Ed25519 signature over ``message`` (for protocols that fix their own bytes)."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"PrivateKey(public={self.public_key.hex()})"

    def __reduce__(self) -> Any:
        raise TypeError("a PrivateKey cannot be pickled")


def as_public_key(key: PublicKey | bytes) -> PublicKey:
    """Accept a :class:`PublicKey` or its 32 raw bytes."""
    return key if isinstance(key, PublicKey) else PublicKey(key)


def sign(private_key: PrivateKey, domain: str, chain_id: str, payload: Any) -> bytes:
    """Sign ``payload`` for ``domain`` on ``chain_id``; the 64-byte Ed25519 signature."""
    return private_key.sign_raw(signing_bytes(domain, chain_id, payload))


def verify(
    public_key: PublicKey | bytes, signature: bytes, domain: str, chain_id: str, payload: Any
) -> None:
    """Check a signature made by :func:`sign`, or raise :class:`Unauthorized`.

    A signature for another domain, another chain or another payload fails here, because all
    three are inside the signed bytes.
    """
    as_public_key(public_key).verify_raw(signature, signing_bytes(domain, chain_id, payload))
