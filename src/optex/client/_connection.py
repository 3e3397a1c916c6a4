"""One WebSocket connection speaking JSON-RPC: ids, in-flight requests, the reader loop.

A :class:`Connection` knows nothing of auth or subscriptions; the client above it decides what
to send and what to do when the connection ends. Requests get ids from one counter shared by
every connection of a client, so an answer that arrives late on an old connection can never be
taken for the answer to a new request. Any number of requests may be in flight: each waits on
its own future, resolved by the reader when the answer with its id arrives, in whatever order
the server answers.

When the socket closes, every request still waiting fails with
``ClientError(CONNECTION_LOST)``: its fate on the server is unknown.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any, Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from optex.client._errors import ClientError, ClientReason
from optex.client._framing import (
    MAX_MESSAGE_BYTES,
    Heartbeat,
    Publication,
    Response,
    decode_message,
    encode_request,
)

log = logging.getLogger("optex.client")

OPEN_TIMEOUT_S: Final = 10.0


class Connection:
    """A JSON-RPC session over one WebSocket."""

    def __init__(
        self,
        ws: ClientConnection,
        ids: itertools.count[int],
        on_publication: Callable[[Publication], None],
        trace: Callable[[str, str | bytes], None] | None = None,
    ) -> None:
        self._ws = ws
        self._trace = trace
        self._ids = ids
        self._on_publication = on_publication
        self._pending: dict[int | str, asyncio.Future[Response]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="optex.client reader")

    @classmethod
    async def open(
        cls,
        url: str,
        ids: itertools.count[int],
        on_publication: Callable[[Publication], None],
        trace: Callable[[str, str | bytes], None] | None = None,
    ) -> Connection:
        """Open the socket (``ClientError(NOT_CONNECTED)`` if it cannot be opened)."""
        try:
            ws = await connect(
                url,
                open_timeout=OPEN_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
                # JSON-RPC has its own heartbeat (public/set_heartbeat); keep the protocol
                # ping too, it costs nothing and finds dead TCP paths sooner
                ping_interval=20,
                ping_timeout=20,
            )
        except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidURI) as exc:
            # InvalidHandshake: not a WebSocket endpoint, or refused (HTTP 4xx/5xx)
            raise ClientError(
                ClientReason.NOT_CONNECTED, f"cannot connect to {url}: {exc}"
            ) from exc
        return cls(ws, ids, on_publication, trace)

    @property
    def closed(self) -> bool:
        """Whether the socket has closed (the reader has stopped)."""
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        """Return once the connection has ended, for whatever reason."""
        await self._closed.wait()

    async def request(self, method: str, params: dict[str, Any], timeout_s: float) -> Response:
        """Send one request and wait for its answer (a :class:`Response`, result or error)."""
        if self.closed:
            raise ClientError(
                ClientReason.NOT_CONNECTED, "the connection is closed; nothing was sent"
            )
        request_id = next(self._ids)
        frame = encode_request(request_id, method, params)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        text = frame.decode("utf-8")
        if self._trace is not None:
            self._trace("send", text)
        try:
            try:
                await self._ws.send(text)
            except ConnectionClosed:
                raise ClientError(
                    ClientReason.CONNECTION_LOST, "the connection closed while sending"
                ) from None
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout_s)
            except TimeoutError:
                raise ClientError(
                    ClientReason.REQUEST_TIMEOUT, method=method, timeout_s=timeout_s
                ) from None
        finally:
            self._pending.pop(request_id, None)

    def send_in_background(self, method: str, params: dict[str, Any], timeout_s: float) -> None:
        """Send a request whose answer nobody waits for (the heartbeat's ``public/test``)."""
        task = asyncio.create_task(self._quietly(method, params, timeout_s))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quietly(self, method: str, params: dict[str, Any], timeout_s: float) -> None:
        try:
            (await self.request(method, params, timeout_s)).value(object)
        except Exception as exc:  # the connection's end is handled by the reader
            log.debug("background %s failed: %s", method, exc)

    async def close(self) -> None:
        """Close the socket and wait for the reader to finish."""
        await self._ws.close()
        await self._reader

    async def abort(self) -> None:
        """Drop the socket without a closing handshake (as a network failure would)."""
        self._ws.transport.abort()
        await self._reader

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                self._handle(frame)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("the connection reader failed")
            await self._ws.close()
        finally:
            self._closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        ClientError(
                            ClientReason.CONNECTION_LOST,
                            "the connection closed before the answer came",
                        )
                    )
            self._pending.clear()
            for task in list(self._background):
                task.cancel()

    def _handle(self, frame: str | bytes) -> None:
        if self._trace is not None:
            self._trace("recv", frame)
        try:
            message = decode_message(frame)
        except ClientError as exc:
            # a frame we cannot read is logged, not fatal: the request it answered (if any)
            # times out and says so, and every other request carries on
            log.warning("ignored a malformed message: %s", exc.message)
            return
        if isinstance(message, Response):
            future = self._pending.get(message.id)
            if future is not None and not future.done():
                future.set_result(message)
            else:
                log.debug("an answer to no waiting request: id %r", message.id)
        elif isinstance(message, Publication):
            self._on_publication(message)
        elif isinstance(message, Heartbeat) and message.wants_answer:
            self.send_in_background("public/test", {}, timeout_s=10.0)
