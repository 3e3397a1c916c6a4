"""Credentials for ``public/auth`` and the signature Deribit defines for ``client_signature``.

Two grants log in with an API key:

* ``client_credentials`` sends the client id and the **secret itself**. Simple, and safe only
  over TLS to a server you trust; it is Deribit's and ccxt's most common choice.
* ``client_signature`` sends ``HMAC-SHA256(secret, timestamp "\\n" nonce "\\n" data)`` as lower
  case hex (or, for an asymmetric key, an Ed25519 signature of the same string as 128 hex
  digits). The secret never leaves the machine; the server accepts a signature once, within
  60 s of its clock. This is the default the docs recommend.

Secrets are held in :class:`optex.crypto.Secret`, so they never appear in a ``repr`` or a log.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from optex.client._errors import ClientError, ClientReason
from optex.crypto import PrivateKey, Secret, client_signature_string, hmac_signature

NONCE_BYTES: Final = 12
"""Random bytes in a ``client_signature`` nonce (24 hex digits; the server allows 1-64)."""


def client_signature(secret: bytes | str, timestamp: int, nonce: str, data: str = "") -> str:
    """Deribit's ``client_signature``: lower-case hex HMAC-SHA256 of ``ts\\nnonce\\ndata``.

    Deribit's published example: secret ``ABCD``, timestamp ``1554883365000``, nonce
    ``fdbmmz79``, data ``""`` gives ``e20c9cd5...eb994``.
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac_signature(key, client_signature_string(timestamp, nonce, data))


def _secret(value: bytes | str | Secret) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or not value:
        raise ClientError(ClientReason.INVALID_ARGUMENT, "a client secret is a non-empty string")
    return Secret(value)


def _client_id(value: object) -> str:
    if not isinstance(value, str) or not value or not value.isascii():
        raise ClientError(ClientReason.INVALID_ARGUMENT, "a client id is a non-empty ASCII string")
    return value


class ClientCredentials:
    """``grant_type=client_credentials``: the secret is sent to the server (over TLS only)."""

    __slots__ = ("_secret", "client_id")

    def __init__(self, client_id: str, client_secret: bytes | str | Secret) -> None:
        self.client_id = _client_id(client_id)
        self._secret = _secret(client_secret)

    def auth_params(self, now_ms: int) -> dict[str, Any]:
        """The ``public/auth`` params (``now_ms`` is unused: this grant carries no time)."""
        del now_ms
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.reveal().decode("utf-8"),
        }

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=<hidden>)"


class ClientSignature:
    """``grant_type=client_signature``: a fresh signature per login; the secret stays here.

    ``key`` is the API key's HMAC secret, or a :class:`optex.crypto.PrivateKey` for an
    asymmetric (Ed25519) API key. ``data`` is Deribit's optional signed payload.
    """

    __slots__ = ("_key", "client_id", "data")

    def __init__(
        self, client_id: str, key: bytes | str | Secret | PrivateKey, *, data: str = ""
    ) -> None:
        self.client_id = _client_id(client_id)
        self.data = data
        self._key: PrivateKey | Secret = key if isinstance(key, PrivateKey) else _secret(key)

    def sign(self, timestamp: int, nonce: str) -> str:
        """The signature for one login at ``timestamp`` (ms) with ``nonce``."""
        if isinstance(self._key, PrivateKey):
            message = client_signature_string(timestamp, nonce, self.data).encode("utf-8")
            return self._key.sign_raw(message).hex()
        return client_signature(self._key.reveal(), timestamp, nonce, self.data)

    def auth_params(self, now_ms: int) -> dict[str, Any]:
        """The ``public/auth`` params: id, timestamp, random nonce, data and signature."""
        nonce = secrets.token_hex(NONCE_BYTES)
        return {
            "grant_type": "client_signature",
            "client_id": self.client_id,
            "timestamp": now_ms,
            "nonce": nonce,
            "data": self.data,
            "signature": self.sign(now_ms, nonce),
        }

    def __repr__(self) -> str:
        kind = "ed25519" if isinstance(self._key, PrivateKey) else "hmac"
        return f"ClientSignature(client_id={self.client_id!r}, key=<hidden {kind}>)"


Credentials = ClientCredentials | ClientSignature
