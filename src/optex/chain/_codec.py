"""Canonical bytes of ledger records, with room for 128-bit amounts.

Records are encoded with :func:`optex.core.encode` (sorted MessagePack). MessagePack integers
stop at 64 bits, while a ledger field holds any signed 128-bit value; an integer outside the
64-bit range is therefore written as MessagePack extension 1 carrying
:func:`optex.core.int128_bytes`. Every integer still has exactly one encoding (in range: a plain
integer; out of range: the extension), so the bytes stay canonical and the state root does not
depend on how a value was reached.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

from optex.chain._reasons import ChainReason
from optex.core import InvalidInput, check_int128, encode, int128_bytes

T = TypeVar("T")

INT128_EXT: Final = 1
_MSGPACK_MIN: Final = -(2**63)
_MSGPACK_MAX: Final = 2**64 - 1


def _widen(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if _MSGPACK_MIN <= value <= _MSGPACK_MAX:
            return value
        return msgspec.msgpack.Ext(INT128_EXT, int128_bytes(check_int128(value)))
    if isinstance(value, dict):
        return {k: _widen(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_widen(v) for v in value]
    return value


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != INT128_EXT or len(data) != 16:
        raise InvalidInput(ChainReason.STORE_CORRUPT, f"unknown extension {code}")
    return int.from_bytes(data, "big", signed=True)


def encode_record(value: Any) -> bytes:
    """The canonical bytes of a ledger record (a msgspec Struct), 128-bit amounts included."""
    try:
        return encode(value)
    except InvalidInput:
        pass
    builtins = msgspec.to_builtins(value, builtin_types=(bytes,), order="sorted")
    return encode(_widen(builtins))


def decode_record(data: bytes, into: type[T]) -> T:
    """Decode bytes made by :func:`encode_record`, or raise a clear error."""
    try:
        return msgspec.msgpack.decode(data, type=into, strict=True)
    except msgspec.ValidationError:
        pass
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(ChainReason.STORE_CORRUPT, f"cannot decode record: {exc}") from exc
    try:
        raw = msgspec.msgpack.decode(data, ext_hook=_ext_hook)
        return msgspec.convert(raw, into, strict=True)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidInput(ChainReason.STORE_CORRUPT, f"cannot decode record: {exc}") from exc
