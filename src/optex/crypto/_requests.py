"""Deribit request signatures: the strings to sign, the ``Authorization`` header, replay cache.

``client_signature`` (``public/auth``): ``StringToSign = Timestamp "\\n" Nonce "\\n" Data``.
HTTP: ``Authorization: deri-hmac-sha256 id=ID,ts=TS,sig=SIG,nonce=NONCE`` with
``StringToSign = TS "\\n" NONCE "\\n" METHOD "\\n" URI "\\n" BODY "\\n"``, URI being the raw
request target (path and query exactly as received; re-encoding the query would break valid
signatures or, worse, let two different requests share one). Signature: lower-case hex
HMAC-SHA256 under the client secret. Timestamps must be within 60 s of the server clock.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import hmac
import re
from hashlib import sha256
from typing import Final

import msgspec

from optex.core import Conflict, InvalidInput, LimitExceeded, Unauthorized
from optex.crypto._reasons import SecurityReason

SIGNATURE_WINDOW_MS: Final = 60_000
MAX_HEADER_LENGTH: Final = 1024
MAX_NONCE_LENGTH: Final = 64
MAX_CLIENT_ID_LENGTH: Final = 64
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=\-]{1,256}")
_FIELD_VALUE = re.compile(r"[A-Za-z0-9_.~\-]+")
_HEX_SIG = re.compile(r"[0-9a-f]{64}|[0-9a-f]{128}")
_HMAC_FIELDS: Final = ("id", "ts", "sig", "nonce")


def client_signature_string(timestamp: int, nonce: str, data: str = "") -> str:
    """Deribit's ``public/auth`` ``client_signature`` string to sign."""
    return f"{timestamp}\n{nonce}\n{data}"


def http_string_to_sign(timestamp: int, nonce: str, method: str, uri: str, body: str) -> str:
    """Deribit's HTTP ``deri-hmac-sha256`` string to sign (``uri`` = raw path and query)."""
    return f"{timestamp}\n{nonce}\n{method.upper()}\n{uri}\n{body}\n"


def hmac_signature(secret: bytes, string_to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256, as Deribit expects it."""
    return hmac.new(secret, string_to_sign.encode("utf-8"), sha256).hexdigest()


class HmacCredentials(msgspec.Struct, frozen=True):
    """The fields of a ``deri-hmac-sha256`` header."""

    client_id: str
    timestamp: int
    signature: str
    nonce: str


class BearerCredentials(msgspec.Struct, frozen=True):
    """``Authorization: bearer TOKEN``."""

    token: str

    def __repr__(self) -> str:
        return "BearerCredentials(<hidden>)"


class BasicCredentials(msgspec.Struct, frozen=True):
    """``Authorization: Basic BASE64(id:secret)``."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"BasicCredentials(client_id={self.client_id!r}, client_secret=<hidden>)"


Credentials = HmacCredentials | BearerCredentials | BasicCredentials


def _malformed(message: str) -> Unauthorized:
    return Unauthorized(SecurityReason.MALFORMED_AUTH, message)


def check_client_id(client_id: object) -> str:
    """A client id: 1-64 ASCII letters, digits and ``_.~-``."""
    if (
        not isinstance(client_id, str)
        or len(client_id) > MAX_CLIENT_ID_LENGTH
        or not _FIELD_VALUE.fullmatch(client_id)
    ):
        raise _malformed("the client id is not valid")
    return client_id


def check_nonce(nonce: object) -> str:
    """A nonce: 1-64 ASCII letters, digits and ``_.~-``."""
    if (
        not isinstance(nonce, str)
        or len(nonce) > MAX_NONCE_LENGTH
        or not _FIELD_VALUE.fullmatch(nonce)
    ):
        raise _malformed(f"the nonce must be 1-{MAX_NONCE_LENGTH} letters or digits")
    return nonce


def check_timestamp(timestamp: object) -> int:
    """A millisecond timestamp as an integer (decimal digits when it comes as text)."""
    if isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit():
        if len(timestamp) > 16:
            raise _malformed("the timestamp is too long")
        timestamp = int(timestamp)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp < 2**63:
        raise _malformed("the timestamp must be milliseconds since the epoch")
    return timestamp


def check_signature_hex(signature: object) -> str:
    """A signature as lower-case hex: 64 digits (HMAC-SHA256) or 128 (Ed25519)."""
    if not isinstance(signature, str) or not _HEX_SIG.fullmatch(signature):
        raise _malformed("the signature must be lower-case hex")
    return signature


def parse_authorization(header: str) -> Credentials:
    """Parse an HTTP ``Authorization`` header: ``deri-hmac-sha256``, ``bearer`` or ``Basic``.

    Every field must appear exactly once; oversized, duplicated, unknown or non-ASCII input is
    refused as ``malformed_auth`` before anything is looked up.
    """
    if not isinstance(header, str) or len(header) > MAX_HEADER_LENGTH or not header.isascii():
        raise _malformed("the Authorization header is too long or not ASCII")
    scheme, _, rest = header.strip().partition(" ")
    rest = rest.strip()
    scheme = scheme.lower()
    if scheme == "bearer":
        if not _TOKEN_CHARS.fullmatch(rest):
            raise _malformed("the bearer token is not valid")
        return BearerCredentials(rest)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _malformed("the Basic credentials are not base64") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep or not secret:
            raise _malformed("Basic credentials are client_id:client_secret")
        return BasicCredentials(check_client_id(client_id), secret)
    if scheme != "deri-hmac-sha256":
        raise _malformed("unknown authorization scheme")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in _HMAC_FIELDS or name in fields:
            raise _malformed(f"bad or repeated field {name!r} in deri-hmac-sha256")
        fields[name] = value
    if set(fields) != set(_HMAC_FIELDS):
        raise _malformed("deri-hmac-sha256 needs id, ts, sig and nonce")
    return HmacCredentials(
        client_id=check_client_id(fields["id"]),
        timestamp=check_timestamp(fields["ts"]),
        signature=check_signature_hex(fields["sig"]),
        nonce=check_nonce(fields["nonce"]),
    )


def check_window(timestamp: int, now_ms: int, window_ms: int = SIGNATURE_WINDOW_MS) -> None:
    """Refuse a signed timestamp more than ``window_ms`` away from ``now_ms``, either way."""
    if abs(now_ms - timestamp) > window_ms:
        raise Unauthorized(SecurityReason.STALE_TIMESTAMP, timestamp=timestamp, server_time=now_ms)


class NonceCache:
    """Signed requests seen within the time window: a second use is refused.

    Keyed by ``(client_id, timestamp, nonce, signature)`` rather than the nonce alone, because
    ccxt sends ``nonce = timestamp`` and two different requests in one millisecond must both
    pass; the signature covers method, URI and body, so a true replay still collides. An entry
    can be dropped once its timestamp is outside the window, since the window check then
    refuses the request anyway.
    """

    def __init__(self, window_ms: int = SIGNATURE_WINDOW_MS, max_entries: int = 1_000_000):
        self.window_ms = window_ms
        self.max_entries = max_entries
        self._seen: set[tuple[str, int, str, str]] = set()
        self._order: list[tuple[int, tuple[str, int, str, str]]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def use(self, client_id: str, timestamp: int, nonce: str, signature: str, now_ms: int) -> None:
        """Record one use after the window check passed; raise if it was already used."""
        while self._order and self._order[0][0] < now_ms - self.window_ms:
            self._seen.discard(heapq.heappop(self._order)[1])
        key = (client_id, timestamp, nonce, signature)
        if key in self._seen:
            raise Conflict(SecurityReason.NONCE_REPLAYED)
        if len(self._seen) >= self.max_entries:
            raise LimitExceeded(SecurityReason.TOO_MANY_REQUESTS, "too many signed requests")
        self._seen.add(key)
        heapq.heappush(self._order, (timestamp, key))


def decode_hex_signature(signature: str) -> bytes:
    """The bytes of a hex signature already checked by :func:`check_signature_hex`."""
    try:
        return bytes.fromhex(signature)
    except ValueError:
        raise InvalidInput(SecurityReason.MALFORMED_AUTH, "not hex") from None
