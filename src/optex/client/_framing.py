"""JSON-RPC 2.0 framing as Deribit uses it: requests out, three kinds of message in.

Pure functions over bytes, so the framing is tested without a socket. A request always carries
named ``params`` (Deribit supports neither positional params nor batches). An incoming message
is one of:

* a **response**: ``id`` with ``result`` or ``error``; ``result`` is kept as raw JSON and
  decoded later into the type the caller asked for, so one reader serves every method;
* a **subscription notification**: ``method: "subscription"``, ``params: {channel, data}``;
* a **heartbeat**: ``method: "heartbeat"``, ``params: {type}``; ``type: "test_request"`` must
  be answered with ``public/test`` or the server closes the connection.

Anything else is malformed and refused with ``ClientReason.MALFORMED_MESSAGE``.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

from optex.client._errors import ApiError, ClientError, ClientReason

T = TypeVar("T")

JSONRPC: Final = "2.0"
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
"""Largest message accepted from the server (a full order book of a busy market fits easily)."""

_encoder = msgspec.json.Encoder()


class RpcError(msgspec.Struct, frozen=True):
    """The ``error`` member of a response."""

    code: int
    message: str
    data: Any = None


class _Incoming(msgspec.Struct, frozen=True):
    jsonrpc: str
    id: int | str | None = None
    # an empty Raw means "absent" (a union with None is not supported for Raw); a JSON null
    # result is Raw(b"null"), a real answer of some methods
    result: msgspec.Raw = msgspec.Raw()
    error: RpcError | None = None
    method: str | None = None
    params: msgspec.Raw = msgspec.Raw()


class _NotificationParams(msgspec.Struct, frozen=True):
    channel: str
    data: msgspec.Raw


class _HeartbeatParams(msgspec.Struct, frozen=True):
    type: str


class Response(msgspec.Struct, frozen=True):
    """An answer to request ``id``: exactly one of ``result`` (raw JSON) or ``error``."""

    id: int | str
    result: msgspec.Raw | None
    error: RpcError | None

    def value(self, kind: type[T]) -> T:
        """The result decoded as ``kind``, or :class:`ApiError` if the server refused."""
        if self.error is not None:
            raise ApiError(self.error.code, self.error.message, self.error.data)
        if self.result is None:
            raise ClientError(ClientReason.MALFORMED_MESSAGE, "a response without a result")
        return decode_result(self.result, kind)


class Publication(msgspec.Struct, frozen=True):
    """A subscription message: ``channel`` and its ``data`` (raw JSON until decoded)."""

    channel: str
    data: msgspec.Raw


class Heartbeat(msgspec.Struct, frozen=True):
    """A heartbeat; ``type == "test_request"`` asks for a ``public/test`` answer."""

    type: str

    @property
    def wants_answer(self) -> bool:
        """Whether the server waits for ``public/test`` before it gives up on the connection."""
        return self.type == "test_request"


Message = Response | Publication | Heartbeat


def encode_request(request_id: int | str, method: str, params: dict[str, Any]) -> bytes:
    """One JSON-RPC request. ``None`` values are dropped: Deribit treats absent as default."""
    if not isinstance(params, dict):
        raise ClientError(ClientReason.INVALID_ARGUMENT, "params are an object (a dict)")
    body = {k: v for k, v in params.items() if v is not None}
    return _encoder.encode({"jsonrpc": JSONRPC, "id": request_id, "method": method, "params": body})


def decode_message(data: bytes | str) -> Message:
    """Classify one frame from the server; refuse anything that is not Deribit's JSON-RPC."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ClientError(ClientReason.MALFORMED_MESSAGE, "the message is too large")
    try:
        message = msgspec.json.decode(raw, type=_Incoming)
        if message.jsonrpc != JSONRPC:
            raise ClientError(ClientReason.MALFORMED_MESSAGE, "jsonrpc is not '2.0'")
        if message.id is not None and message.method is None:
            has_result = len(message.result) > 0
            if has_result == (message.error is not None):
                raise ClientError(
                    ClientReason.MALFORMED_MESSAGE, "a response has exactly one of result, error"
                )
            return Response(message.id, message.result if has_result else None, message.error)
        if message.method == "subscription" and len(message.params) > 0:
            params = msgspec.json.decode(message.params, type=_NotificationParams)
            return Publication(params.channel, params.data)
        if message.method == "heartbeat" and len(message.params) > 0:
            beat = msgspec.json.decode(message.params, type=_HeartbeatParams)
            return Heartbeat(beat.type)
    except msgspec.DecodeError as exc:
        raise ClientError(ClientReason.MALFORMED_MESSAGE, str(exc)) from None
    raise ClientError(ClientReason.MALFORMED_MESSAGE, "neither a response nor a notification")


def decode_result(raw: msgspec.Raw | bytes, kind: type[T]) -> T:
    """Decode a result (or notification data) into ``kind``, refusing a wrong shape."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as exc:
        raise ClientError(
            ClientReason.MALFORMED_MESSAGE, f"the result is not a {_name(kind)}: {exc}"
        ) from None


def _name(kind: object) -> str:
    return getattr(kind, "__name__", None) or str(kind)
