"""The gateway's connections to the engine service, and the instruments it lists.

Two connections: one for submissions and queries (many in flight), and one that only streams
every applied journal entry, so that a burst of market data never delays an order's reply. The
gateway holds no trading state of its own: books, orders, balances and positions are read from
the engine (queries) and kept current by the stream; the instruments are cached because they
only change when one is listed or expires, and are read again on a miss.

If the engine goes away, calls fail with ``engine_unavailable`` (Deribit 13028) and the next
call reconnects; the stream reconnects by itself and tells its listeners that they may have
missed entries (``on_gap``), so that book subscriptions resynchronise from a new snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Final

import msgspec

from optex.core import Instrument, InvalidInput, NotFound
from optex.exchange import Command, EngineClient, Event, Receipt, Status
from optex.gateway._reasons import GatewayReason
from optex.market import MarketReason

Listener = Callable[[int, list[Event]], None]
RECONNECT_DELAY_S: Final = 0.5
INSTRUMENT_REFRESH_S: Final = 1.0


class EngineLink:
    """Requests to the engine service and the stream of its journal entries."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._client: EngineClient | None = None
        self._connecting = asyncio.Lock()
        self._stream_task: asyncio.Task[None] | None = None
        self.listeners: list[Listener] = []
        self.gap_listeners: list[Callable[[], None]] = []
        self.last_seq = 0
        self.instruments: dict[str, Instrument] = {}
        self.expired: set[str] = set()
        self._instruments_read = 0.0

    async def start(self) -> None:
        """Connect, read the instruments and start streaming."""
        await self._connected()
        await self.refresh_instruments()
        self._stream_task = asyncio.get_running_loop().create_task(self._pump())

    async def _connected(self) -> EngineClient:
        client = self._client
        if client is not None and not client.closed:
            return client
        async with self._connecting:
            if self._client is None or self._client.closed:
                try:
                    self._client = await EngineClient.connect(self.host, self.port)
                except OSError as exc:
                    raise InvalidInput(GatewayReason.ENGINE_UNAVAILABLE, str(exc)) from None
            return self._client

    async def submit(self, command: Command, key: str | None = None) -> Receipt:
        """Journal and apply a command (once per idempotency ``key``, if given); its receipt
        (refusals raise their optex reason)."""
        client = await self._connected()
        try:
            return await client.submit(command, key)
        except ConnectionError as exc:
            raise InvalidInput(GatewayReason.ENGINE_UNAVAILABLE, str(exc)) from None

    async def query(self, name: str, **args: Any) -> Any:
        """A read-only answer from the engine's live state."""
        client = await self._connected()
        try:
            return await client.query(name, **args)
        except ConnectionError as exc:
            raise InvalidInput(GatewayReason.ENGINE_UNAVAILABLE, str(exc)) from None

    async def status(self) -> Status:
        """The engine's role, last sequence and state hash."""
        client = await self._connected()
        try:
            return await client.status()
        except ConnectionError as exc:
            raise InvalidInput(GatewayReason.ENGINE_UNAVAILABLE, str(exc)) from None

    # Instruments ---------------------------------------------------------------------------

    async def refresh_instruments(self) -> None:
        """Read the listed instruments again."""
        listed = await self.query("instruments")
        self.instruments = {
            item["instrument"]["name"]: msgspec.convert(item["instrument"], Instrument)
            for item in listed
        }
        self.expired = {item["instrument"]["name"] for item in listed if item["expired"]}
        self._instruments_read = time.monotonic()

    async def instrument(self, name: str) -> Instrument:
        """A listed instrument, or ``unknown_instrument`` (Deribit 10020)."""
        found = self.instruments.get(name)
        if found is not None:
            return found
        if time.monotonic() - self._instruments_read > INSTRUMENT_REFRESH_S:
            await self.refresh_instruments()
            found = self.instruments.get(name)
        if found is None:
            raise NotFound(MarketReason.UNKNOWN_INSTRUMENT, f"{name!r:.70} is not listed")
        return found

    # Streaming -----------------------------------------------------------------------------

    async def _pump(self) -> None:
        first = True
        while True:
            stream_client: EngineClient | None = None
            try:
                stream_client = await EngineClient.connect(self.host, self.port)
                if not first:
                    for on_gap in self.gap_listeners:
                        on_gap()
                first = False
                async for seq, events in stream_client.stream():
                    self.last_seq = seq
                    for listener in self.listeners:
                        listener(seq, events)
            except (OSError, ConnectionError, InvalidInput):
                pass
            finally:
                if stream_client is not None:
                    await stream_client.close()
            first = False
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def close(self) -> None:
        """Stop streaming and close both connections."""
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream_task
        if self._client is not None:
            await self._client.close()
