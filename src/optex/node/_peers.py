"""The peer-to-peer layer: a listener, dialers that reconnect, and one secret connection per peer.

It knows nothing of consensus: it hands each decoded :class:`~optex.node._wire.Message` and the
sending peer's node key to a callback, and sends encoded messages to one peer or to all. A
peer that sends a frame that fails authentication or does not decode is disconnected; a send
to a peer whose transport buffer is over :data:`MAX_BUFFERED_BYTES` is dropped (consensus
messages are re-gossiped, transactions reach the proposer through other peers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from optex.core import OptexError
from optex.node._config import PeerConfig
from optex.node._secret import SecretConnection, handshake
from optex.node._wire import Message, decode_message

MAX_BUFFERED_BYTES = 32 * 1024 * 1024
RECONNECT_S = 0.25

log = logging.getLogger("optex.node")

OnMessage = Callable[[bytes, Message], None]
OnConnect = Callable[[bytes], None]


class Peers:
    """The node's connections, keyed by the remote node key."""

    def __init__(
        self, node_key: Ed25519PrivateKey, on_message: OnMessage, on_connect: OnConnect
    ) -> None:
        self.node_key = node_key
        self.on_message = on_message
        self.on_connect = on_connect
        self.connections: dict[bytes, SecretConnection] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self, host: str, port: int, peers: tuple[PeerConfig, ...]) -> int:
        """Listen, dial the peers marked ``dial``; returns the bound port."""
        self._server = await asyncio.start_server(self._inbound, host, port)
        for peer in peers:
            if peer.dial:
                self._spawn(self._dial_loop(peer))
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the listener, every connection and every task."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.values()):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def send(self, peer: bytes, data: bytes) -> None:
        """Send to one peer if it is connected and keeping up."""
        conn = self.connections.get(peer)
        if conn is None or conn.closing:
            return
        if conn.buffered > MAX_BUFFERED_BYTES:
            return
        try:
            conn.send_nowait(data)
        except OptexError:
            conn.close()

    def broadcast(self, data: bytes, *, exclude: bytes | None = None) -> None:
        """Send to every connected peer but ``exclude``."""
        for peer in list(self.connections):
            if peer != exclude:
                self.send(peer, data)

    async def _inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                conn = await handshake(reader, writer, self.node_key)
            except OptexError as exc:
                log.info("dropped an inbound peer: %s", exc.message)
                writer.close()
                return
            if self._stopping:
                conn.close()
                return
            await self._serve(conn)
        except asyncio.CancelledError:
            # Shutdown cancels open connections; see RpcServer._serve for why this task ends
            # normally rather than cancelled (Python 3.11's start_server logs it as an ERROR).
            writer.close()

    async def _dial_loop(self, peer: PeerConfig) -> None:
        expected = bytes.fromhex(peer.id)
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(peer.host, peer.port)
            except OSError:
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                conn = await handshake(reader, writer, self.node_key, expected)
            except OptexError as exc:
                log.warning("dropped %s:%d: %s", peer.host, peer.port, exc.message)
                writer.close()
                await asyncio.sleep(RECONNECT_S)
                continue
            if self._stopping:
                # stop() came during the handshake. Its cancel can be lost there: Python 3.11's
                # wait_for returns a result that arrived together with the cancel and drops
                # the cancel, and this loop would then serve the connection for ever.
                conn.close()
                return
            await self._serve(conn)
            await asyncio.sleep(RECONNECT_S)

    async def _serve(self, conn: SecretConnection) -> None:
        peer = conn.remote_key
        old = self.connections.get(peer)
        if old is not None:
            old.close()
        self.connections[peer] = conn
        log.info("connected to peer %s", peer.hex()[:12])
        try:
            self.on_connect(peer)
            while True:
                message = decode_message(await conn.recv())
                self.on_message(peer, message)
        except (asyncio.IncompleteReadError, ConnectionError, msgspec.DecodeError) as exc:
            log.info("peer %s gone: %s", peer.hex()[:12], type(exc).__name__)
        except OptexError as exc:
            log.warning("dropped peer %s: %s", peer.hex()[:12], exc.message)
        finally:
            if self.connections.get(peer) is conn:
                del self.connections[peer]
            conn.close()
