"""JSON-RPC over WebSocket: the three grants of ``public/auth``, subscriptions fed by the
engine's stream, heartbeats, cancel-on-disconnect and the per-connection limits."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import pytest
import websockets

from tests.gateway.kit import CALL, PERP, Exchange, Rest, Ws

pytestmark = pytest.mark.integration


@pytest.fixture
async def ws(exchange: Exchange) -> AsyncIterator[Ws]:
    socket = await websockets.connect(exchange.ws_url)
    client = Ws(socket)
    yield client
    await client.close()


async def connect(exchange: Exchange) -> Ws:
    return Ws(await websockets.connect(exchange.ws_url))


async def test_client_credentials_give_a_token_and_a_session(exchange: Exchange, ws: Ws) -> None:
    result = await ws.login(exchange.credentials["erin"])
    assert result["token_type"] == "bearer"  # noqa: S105 - the scheme name
    assert result["expires_in"] > 0 and result["refresh_token"]
    assert "trade:read_write" in result["scope"]
    summary = await ws.call("private/get_account_summary", currency="USDC")
    assert summary["result"]["equity"] == 1_000_000.0


async def test_a_private_call_without_a_session_is_unauthorized(ws: Ws) -> None:
    reply = await ws.call("private/get_open_orders")
    assert reply["error"]["code"] == 13009


async def test_client_signature_authenticates_and_its_replay_is_refused(
    exchange: Exchange, ws: Ws
) -> None:
    credentials = exchange.credentials["erin"]
    ts = int(time.time() * 1000)
    nonce = "abc123"
    signature = hmac.new(
        credentials.client_secret.encode(), f"{ts}\n{nonce}\n".encode(), hashlib.sha256
    ).hexdigest()
    params = {
        "grant_type": "client_signature",
        "client_id": credentials.client_id,
        "timestamp": ts,
        "nonce": nonce,
        "signature": signature,
        "data": "",
    }
    assert "access_token" in (await ws.call("public/auth", **params))["result"]
    replay = await ws.call("public/auth", **params)
    assert replay["error"]["code"] == 13009
    expired = await ws.call("public/auth", **{**params, "timestamp": ts - 3_600_000})
    assert expired["error"]["code"] == 13009


async def test_a_refresh_token_rotates_and_a_reused_one_kills_the_family(
    exchange: Exchange, ws: Ws
) -> None:
    first = await ws.login(exchange.credentials["erin"])
    second = (
        await ws.call(
            "public/auth", grant_type="refresh_token", refresh_token=first["refresh_token"]
        )
    )["result"]
    assert second["access_token"] != first["access_token"]
    reused = await ws.call(
        "public/auth", grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert reused["error"]["code"] == 13009
    with Rest(exchange.url) as client:
        dead = client.get(
            "private/get_positions", {"Authorization": f"bearer {second['access_token']}"}
        )
    assert dead["error"]["code"] == 13009


async def test_book_and_trade_channels_follow_the_engine(exchange: Exchange) -> None:
    watcher, maker, taker = (
        await connect(exchange),
        await connect(exchange),
        await connect(exchange),
    )
    try:
        await maker.login(exchange.credentials["frank"])
        await taker.login(exchange.credentials["grace"])
        channels = [f"book.{PERP}.100ms", f"trades.{PERP}.raw", f"ticker.{PERP}.100ms"]
        subscribed = await watcher.call("public/subscribe", channels=channels)
        assert subscribed["result"] == channels
        snapshot = await watcher.notification(f"book.{PERP}.100ms")
        assert snapshot["type"] == "snapshot"
        await watcher.notification(f"ticker.{PERP}.100ms")
        placed = await maker.call(
            "private/sell", instrument_name=PERP, amount=0.5, type="limit", price=101_000
        )
        assert placed["result"]["order"]["order_state"] == "open"
        change = await watcher.notification(f"book.{PERP}.100ms")
        assert change["type"] == "change"
        assert change["prev_change_id"] == snapshot["change_id"] < change["change_id"]
        assert ["new", 101_000.0, 0.5] in change["asks"]
        bought = await taker.call("private/buy", instrument_name=PERP, amount=0.2, type="market")
        assert bought["result"]["order"]["order_state"] == "filled"
        assert bought["result"]["trades"][0]["price"] == 101_000.0
        trades = await watcher.notification(f"trades.{PERP}.raw")
        assert [(t["price"], t["amount"], t["direction"]) for t in trades] == [
            (101_000.0, 0.2, "buy")
        ]
        change = await watcher.notification(f"book.{PERP}.100ms")
        assert ["change", 101_000.0, 0.3] in change["asks"]
        ticker = await watcher.notification(f"ticker.{PERP}.100ms")
        while ticker["last_price"] is None:
            ticker = await watcher.notification(f"ticker.{PERP}.100ms")
        assert (ticker["last_price"], ticker["best_ask_price"]) == (101_000.0, 101_000.0)
    finally:
        await maker.call("private/cancel_all")
        for client in (watcher, maker, taker):
            await client.close()


async def test_user_channels_see_the_sessions_orders_trades_and_portfolio(
    exchange: Exchange,
) -> None:
    mine, other = await connect(exchange), await connect(exchange)
    try:
        await mine.login(exchange.credentials["heidi"])
        await other.login(exchange.credentials["ivan"])
        channels = [
            f"user.orders.{CALL}.raw",
            "user.trades.option.BTC.100ms",
            "user.portfolio.usdc",
        ]
        assert (await mine.call("private/subscribe", channels=channels))["result"] == channels
        await mine.notification("user.portfolio.usdc")
        placed = await mine.call("private/buy", instrument_name=CALL, amount=0.1, price=4_500)
        order_id = placed["result"]["order"]["order_id"]
        order = await mine.notification(f"user.orders.{CALL}.raw")
        assert (order["order_id"], order["order_state"]) == (order_id, "open")
        await other.call("private/sell", instrument_name=CALL, amount=0.1, price=4_500)
        order = await mine.notification(f"user.orders.{CALL}.raw")
        assert (order["order_id"], order["order_state"]) == (order_id, "filled")
        trades = await mine.notification("user.trades.option.BTC.100ms")
        assert [(t["order_id"], t["direction"], t["liquidity"]) for t in trades] == [
            (order_id, "buy", "M")
        ]
        assert trades[0]["fee"] > 0
        portfolio = await mine.notification("user.portfolio.usdc")
        assert portfolio["balance"] < 1_000_000.0
    finally:
        await mine.close()
        await other.close()


async def test_private_channels_need_a_session_and_bad_channels_are_refused(ws: Ws) -> None:
    private = await ws.call("public/subscribe", channels=[f"user.orders.{CALL}.raw"])
    assert private["error"]["code"] == 13009
    for bad in (
        ["book.NOPE-PERPETUAL.100ms"],
        ["weather.today"],
        [f"book.{PERP}.1ms"],
        ["x" * 200],
    ):
        reply = await ws.call("public/subscribe", channels=bad)
        assert reply["error"]["code"] == -32602, bad
    not_a_list = await ws.call("public/subscribe", channels="book.BTC-PERPETUAL.100ms")
    assert not_a_list["error"]["code"] == -32602


async def test_subscriptions_per_connection_are_limited(ws: Ws) -> None:
    channels = [f"ticker.{PERP}.100ms", f"trades.{PERP}.raw", f"trades.{CALL}.raw"]
    assert len((await ws.call("public/subscribe", channels=channels))["result"]) == 3
    more = [
        f"ticker.{CALL}.100ms",
        f"trades.{PERP}.100ms",
        f"trades.{CALL}.100ms",
        "trades.any.any.raw",
    ]
    refused = await ws.call("public/subscribe", channels=more)
    assert refused["error"]["code"] == 11050
    assert refused["error"]["data"]["reason"] == "too_many_subscriptions"
    assert await ws.call("public/unsubscribe", channels=[f"trades.{CALL}.raw"])
    assert (await ws.call("public/subscribe", channels=more[:3]))["result"] == more[:3]


async def test_an_unanswered_heartbeat_closes_the_connection(ws: Ws) -> None:
    assert (await ws.call("public/set_heartbeat", interval=1))["result"] == "ok"
    request = await asyncio.wait_for(ws.notifications.get(), 5)
    assert request == {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
    assert "result" in await ws.call("public/test")
    request = await asyncio.wait_for(ws.notifications.get(), 5)
    assert request["params"]["type"] == "test_request"
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.socket.wait_closed(), 5)
        await ws.socket.recv()


async def test_cancel_on_disconnect_cancels_the_accounts_orders(exchange: Exchange) -> None:
    client = await connect(exchange)
    await client.login(exchange.credentials["judy"])
    assert (await client.call("private/enable_cancel_on_disconnect"))["result"] == "ok"
    await client.call("private/buy", instrument_name=CALL, amount=0.01, price=3_000)
    await client.call("private/buy", instrument_name=CALL, amount=0.01, price=3_005)
    with Rest(exchange.url, exchange.credentials["judy"]) as rest:
        assert len(rest.get("private/get_open_orders")["result"]) == 2
        await client.close()
        for _ in range(100):
            if not rest.get("private/get_open_orders")["result"]:
                break
            await asyncio.sleep(0.05)
        assert rest.get("private/get_open_orders")["result"] == []


async def test_orders_stay_when_cancel_on_disconnect_is_off(exchange: Exchange) -> None:
    client = await connect(exchange)
    await client.login(exchange.credentials["judy"])
    await client.call("private/buy", instrument_name=CALL, amount=0.01, price=3_000)
    await client.close()
    await asyncio.sleep(0.3)
    with Rest(exchange.url, exchange.credentials["judy"]) as rest:
        assert len(rest.get("private/get_open_orders")["result"]) == 1
        assert rest.get("private/cancel_all")["result"] == 1


async def test_malformed_and_oversized_messages_get_errors_and_the_connection_lives(
    ws: Ws,
) -> None:
    await ws.socket.send("{broken")
    assert (await asyncio.wait_for(ws.notifications.get(), 5))["error"]["code"] == -32700
    await ws.socket.send(json.dumps({"id": 1, "method": "public/test", "params": "x" * 70_000}))
    assert (await asyncio.wait_for(ws.notifications.get(), 5))["error"]["code"] == 11050
    await ws.socket.send(json.dumps([{"id": 2, "method": "public/test"}]))
    assert (await asyncio.wait_for(ws.notifications.get(), 5))["error"]["code"] == -32600
    unknown = await ws.call("private/launch_rockets")
    assert unknown["error"]["code"] == -32601
    assert "result" in await ws.call("public/get_time")


async def test_connections_per_address_are_limited(exchange: Exchange) -> None:
    clients = []
    try:
        with pytest.raises(websockets.InvalidStatus):
            for _ in range(20):
                clients.append(await websockets.connect(exchange.ws_url))
        assert len(clients) == 12
    finally:
        for client in clients:
            await client.close()
    await asyncio.sleep(0.2)
    again = await websockets.connect(exchange.ws_url)
    await again.close()
