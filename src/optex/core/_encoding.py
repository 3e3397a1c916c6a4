"""One canonical byte encoding for everything that is hashed or signed.

Anything hashed or signed in optex is encoded as MessagePack by msgspec with map keys in
sorted order, wrapped in an envelope ``["optex", domain, chain_id, payload]``. The domain tag
says what the bytes are for (``"order/v1"``, ``"block/v1"``) and the chain id which network, so
a signature made for one purpose or one chain never validates another (the rule CometBFT follows
when it signs only canonical forms that carry the chain id).

MessagePack integers are at most 64 bits wide; a 128-bit ledger value is hashed through
:func:`int128_bytes` instead, so that nothing is silently truncated.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final, TypeVar

import msgspec

from optex.core._errors import CoreReason, InvalidInput

T = TypeVar("T")

ENVELOPE_MAGIC: Final = "optex"
HASH_SIZE: Final = 32
MAX_DECODE_BYTES: Final = 4 * 1024 * 1024

_DOMAIN = re.compile(r"[a-z][a-z0-9_.-]{0,40}/v[0-9]{1,3}")
_CHAIN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")

_encoder = msgspec.msgpack.Encoder(order="sorted")


def encode(value: Any) -> bytes:
    """The canonical bytes of ``value``: the same value gives the same bytes everywhere."""
    try:
        return _encoder.encode(value)
    except (TypeError, OverflowError, msgspec.EncodeError) as exc:
        raise InvalidInput(CoreReason.ENCODING_FAILED, f"cannot encode canonically: {exc}") from exc


def decode(data: bytes, into: type[T]) -> T:
    """Decode canonical bytes into ``into``, strictly, or raise a clear error.

    Input larger than :data:`MAX_DECODE_BYTES` is refused before parsing.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(CoreReason.DECODING_FAILED, "expected bytes")
    if len(data) > MAX_DECODE_BYTES:
        raise InvalidInput(
            CoreReason.DECODING_FAILED, f"{len(data)} bytes is more than {MAX_DECODE_BYTES}"
        )
    try:
        return msgspec.msgpack.decode(data, type=into, strict=True)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec raises UnicodeDecodeError itself for a str field holding invalid UTF-8.
        raise InvalidInput(CoreReason.DECODING_FAILED, f"cannot decode: {exc}") from exc


def check_domain(domain: str, chain_id: str) -> None:
    """Refuse a domain tag or chain id that is not in its canonical form."""
    if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
        raise InvalidInput(
            CoreReason.INVALID_DOMAIN, f"domain tag {domain!r} must look like 'order/v1'"
        )
    if not isinstance(chain_id, str) or not _CHAIN_ID.fullmatch(chain_id):
        raise InvalidInput(
            CoreReason.INVALID_DOMAIN,
            f"chain id {chain_id!r} must be lower-case letters, digits and '-' (at most 48)",
        )


def signing_bytes(domain: str, chain_id: str, payload: Any) -> bytes:
    """The bytes that are hashed or signed for ``payload`` in ``domain`` on ``chain_id``."""
    check_domain(domain, chain_id)
    return encode((ENVELOPE_MAGIC, domain, chain_id, payload))


def content_hash(domain: str, chain_id: str, payload: Any) -> bytes:
    """SHA-256 of :func:`signing_bytes`: the identity of a signed or committed value."""
    return hashlib.sha256(signing_bytes(domain, chain_id, payload)).digest()


def int128_bytes(value: int) -> bytes:
    """A signed 128-bit integer as 16 big-endian bytes, for hashing ledger fields."""
    try:
        return value.to_bytes(16, "big", signed=True)
    except OverflowError as exc:
        raise InvalidInput(
            CoreReason.AMOUNT_OUT_OF_RANGE, f"{value} does not fit 128 bits"
        ) from exc
