"""A connection to the engine service that survives the engine's restarts.

The engine writes its listening address to ``HOME/engine.json`` once it is ready; a restarted
engine listens on a new port. :class:`EngineLink` reads the file again and reconnects whenever
the connection fails, and retries the command with the same idempotency key, so a command the
engine journaled before it died is recognised as a duplicate rather than applied twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from optex.exchange import Command, EngineClient, Receipt, Status

log = logging.getLogger("optex.settlement")


class EngineLink:
    """Submit commands to the engine whose home is ``home``, reconnecting as needed."""

    def __init__(self, home: Path, retry_s: float = 0.2) -> None:
        self.home = home
        self.retry_s = retry_s
        self._client: EngineClient | None = None

    async def _connect(self) -> EngineClient:
        while True:
            try:
                record = json.loads((self.home / "engine.json").read_text())
                if record.get("role") == "primary":
                    return await EngineClient.connect(record["host"], int(record["port"]))
            except (OSError, ValueError, KeyError):
                pass
            await asyncio.sleep(self.retry_s)

    async def submit(self, command: Command, key: str) -> Receipt:
        """Submit ``command`` under idempotency ``key``, retrying until the engine answers.

        A refusal (an ``OptexError``) is raised; a lost connection is retried with the same key.
        """
        while True:
            if self._client is None:
                self._client = await self._connect()
            try:
                return await self._client.submit(command, key)
            except (ConnectionError, OSError) as exc:
                log.info("engine connection lost (%s); reconnecting", exc)
                await self.close()
                await asyncio.sleep(self.retry_s)

    async def status(self) -> Status:
        """The engine's last applied sequence and state hash (waits for an engine to answer)."""
        while True:
            if self._client is None:
                self._client = await self._connect()
            try:
                return await self._client.status()
            except (ConnectionError, OSError):
                await self.close()
                await asyncio.sleep(self.retry_s)

    async def close(self) -> None:
        """Close the connection, if any."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
