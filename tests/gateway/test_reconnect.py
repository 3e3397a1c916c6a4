"""The engine restarts under a running gateway: calls fail with Deribit's
temporarily_unavailable meanwhile, then work again, and book subscriptions resynchronise from a
new snapshot."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from optex.gateway import Limits
from tests.gateway.kit import PERP, Exchange, Rest, Ws, start_exchange

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Exchange]:
    port = free_port()
    running = start_exchange(
        tmp_path, ("kim", "lee"), Limits(), engine_args=("--listen", f"127.0.0.1:{port}")
    )
    try:
        yield running
    finally:
        running.stop()


async def test_the_gateway_survives_an_engine_restart(restartable: Exchange) -> None:
    watcher = Ws(await websockets.connect(restartable.ws_url))
    try:
        await watcher.call("public/subscribe", channels=[f"book.{PERP}.100ms"])
        first = await watcher.notification(f"book.{PERP}.100ms")
        assert first["type"] == "snapshot"
        with Rest(restartable.url, restartable.credentials["kim"]) as kim:
            kim.get("private/sell", instrument_name=PERP, amount="0.1", price="102000")
            await watcher.notification(f"book.{PERP}.100ms")
            assert restartable.engine.stop() == 0
            down = kim.get("public/ticker", instrument_name=PERP)
            assert (down["error"]["code"], down["error"]["message"]) == (
                13028,
                "temporarily_unavailable",
            )
            restartable.engine.start()
            snapshot = await watcher.notification(f"book.{PERP}.100ms", timeout=20)
            assert snapshot["type"] == "snapshot"
            assert ["new", 102_000.0, 0.1] in snapshot["asks"]
            ticker = kim.get("public/ticker", instrument_name=PERP)["result"]
            assert ticker["best_ask_price"] == 102_000.0
            placed = kim.get("private/sell", instrument_name=PERP, amount="0.1", price="103000")
            assert placed["result"]["order"]["order_state"] == "open"
            change = await watcher.notification(f"book.{PERP}.100ms")
            assert change["type"] == "change" and ["new", 103_000.0, 0.1] in change["asks"]
    finally:
        await watcher.close()
