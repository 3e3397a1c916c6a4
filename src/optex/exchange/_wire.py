"""The engine service's request protocol on loopback TCP, and its client.

Frames are a 4-byte big-endian length and a canonical msgpack body. A client sends
:class:`Request`\\ s with its own ids and may have many in flight (the sequencer groups them);
the service answers each with a :class:`Reply` carrying the same id, in completion order.

Operations: ``submit`` (a command, journaled and applied: a receipt), ``status``, ``query``
(read-only answers from the engine's live state, see ``_query``) and ``stream``: from then on
the service pushes one reply per journal entry applied, carrying its sequence and events, under
the stream request's id, until the connection closes (a reply with ``end`` set says the stream
stopped because the reader fell behind; reconnect and resynchronise). The gateway is this
protocol's main client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections.abc import AsyncIterator
from typing import Any, Final

import msgspec

from optex.core import InvalidInput, ReasonCode, decode, encode, registered_reason_tables
from optex.exchange._commands import Command, Event
from optex.exchange._reasons import ExchangeReason
from optex.exchange._sequencer import Receipt

MAX_FRAME_BYTES: Final = 4 << 20
_LENGTH: Final = struct.Struct(">I")


class Status(msgspec.Struct, frozen=True):
    """Where an engine is: its role, the last journal entry applied and its state hash."""

    role: str
    last_seq: int
    state_hash: str
    snapshot_seq: int
    journal: str


class Request(msgspec.Struct, frozen=True):
    """``submit`` (``command``: its canonical bytes; ``key``: an idempotency key), ``status``,
    ``query`` (``query``: its name, ``args``: its arguments) or ``stream``."""

    id: int
    op: str
    command: bytes | None = None
    key: str | None = None
    query: str | None = None
    args: dict[str, Any] = {}


class Reply(msgspec.Struct, frozen=True):
    """The answer to one request: a receipt, a status, a query's ``result``, one streamed
    journal entry (``seq`` and its ``events``; the first carries only the sequence the stream starts
    after; ``end``: the stream stopped), or a refusal
    (``code`` non-zero)."""

    id: int
    receipt: Receipt | None = None
    status: Status | None = None
    code: int = 0
    reason: str = ""
    message: str = ""
    result: Any = None
    seq: int = 0
    events: list[Event] = []
    end: bool = False


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """One frame's body, or ``None`` at a clean end of stream."""
    try:
        head = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME_BYTES:
        raise InvalidInput(ExchangeReason.COMMAND_TOO_LARGE, f"a {length}-byte frame")
    return await reader.readexactly(length)


def frame(value: msgspec.Struct) -> bytes:
    """A value as one frame."""
    body = encode(value)
    return _LENGTH.pack(len(body)) + body


def _reason(code: int) -> ReasonCode:
    for _, table in registered_reason_tables().values():
        try:
            return table(code)
        except ValueError:
            continue
    return ExchangeReason.COMMAND_FAILED


class EngineClient:
    """A connection to an engine service; many requests may be in flight at once."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        self._streams: dict[int, asyncio.Queue[Reply | None]] = {}
        self._task = asyncio.get_running_loop().create_task(self._read_replies())

    @classmethod
    async def connect(cls, host: str, port: int) -> EngineClient:
        """Connect to the service at ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (no more replies will come)."""
        return self._task.done()

    async def _read_replies(self) -> None:
        error: BaseException = ConnectionError("the engine service closed the connection")
        try:
            while (body := await read_frame(self._reader)) is not None:
                reply = decode(body, Reply)
                stream = self._streams.get(reply.id)
                if stream is not None:
                    stream.put_nowait(reply)
                    continue
                future = self._waiting.pop(reply.id, None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (OSError, asyncio.IncompleteReadError) as exc:
            error = ConnectionError(str(exc))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()
        for queue in self._streams.values():
            queue.put_nowait(None)

    async def _call(self, request: Request) -> Reply:
        if self._task.done():
            raise ConnectionError("the engine service closed the connection")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = future
        self._writer.write(frame(request))
        await self._writer.drain()
        reply = await future
        if reply.code:
            raise InvalidInput(_reason(reply.code), reply.message)
        return reply

    async def submit(self, command: Command | bytes, key: str | None = None) -> Receipt:
        """Submit a command; its receipt once journaled and applied, or the refusal raised."""
        data = command if isinstance(command, bytes) else encode(command)
        reply = await self._call(Request(next(self._ids), "submit", data, key))
        if reply.receipt is None:
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "the reply carries no receipt")
        return reply.receipt

    async def status(self) -> Status:
        """The engine's role, last applied sequence and state hash."""
        reply = await self._call(Request(next(self._ids), "status"))
        if reply.status is None:
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "the reply carries no status")
        return reply.status

    async def query(self, name: str, **args: Any) -> Any:
        """A read-only answer from the engine's live state (``_query`` lists the names)."""
        reply = await self._call(Request(next(self._ids), "query", query=name, args=args))
        return reply.result

    async def stream(self) -> AsyncIterator[tuple[int, list[Event]]]:
        """Every journal entry applied from now on, as ``(seq, events)``, in journal order.

        The first item is ``(last_seq, [])``: the sequence the stream starts after, so a reader
        knows that everything later will arrive.

        Ends when the connection closes; raises ``ConnectionError`` if the service stopped the
        stream because this reader fell behind (resynchronise from queries, then stream again).
        A connection that streams should be used for nothing else, so that a burst of events
        never delays another request's reply.
        """
        request_id = next(self._ids)
        queue: asyncio.Queue[Reply | None] = asyncio.Queue()
        self._streams[request_id] = queue
        try:
            self._writer.write(frame(Request(request_id, "stream")))
            await self._writer.drain()
            while (reply := await queue.get()) is not None:
                if reply.code:
                    raise InvalidInput(_reason(reply.code), reply.message)
                if reply.end:
                    raise ConnectionError(f"the engine stopped the stream: {reply.message}")
                yield reply.seq, reply.events
        finally:
            self._streams.pop(request_id, None)

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        self._task.cancel()
