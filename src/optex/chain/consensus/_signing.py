"""The signing boundary: a ``Signer`` protocol, a ``Verify`` function and Ed25519 for both.

The state machine only sees these two shapes, so a hardware signer or another scheme slots in
without touching consensus. Ed25519 is provided because it is what the chain uses; its
signatures are deterministic, which lets a restarted validator re-create a vote it already
signed byte for byte. Verification is libsodium's (PyNaCl), the same verifier as
``optex.crypto``: it refuses small-order keys, with which OpenSSL accepts one "signature" for
every message, and every validator must apply the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

Verify = Callable[[bytes, bytes, bytes], bool]
"""``verify(public_key, message, signature) -> bool``."""


class Signer(Protocol):
    """A validator's signing key."""

    @property
    def public_key(self) -> bytes:
        """The raw public key, as listed in the validator set."""
        ...

    def sign(self, message: bytes) -> bytes:
        """The signature of ``message``."""
        ...


class Ed25519Signer:
    """An in-process Ed25519 key."""

    __slots__ = ("_key", "_public")

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_key(self) -> bytes:
        """The 32-byte raw public key."""
        return self._public

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
