"""The gateway process is killed and started again: the client logs in again, subscribes again
and carries on; a login refused on reconnect stops it. An exchange of its own, since these
tests kill its gateway."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from urllib.parse import urlsplit

import msgspec
import pytest

from optex.client import ApiError, AsyncClient, ClientError, ClientReason, Order
from optex.gateway import GatewayConfig
from tests.client.kit import PERP, Exchange, client_exchange, next_note, signature_login, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    running = client_exchange(tmp_path_factory.mktemp("reconnect"), ("alice", "bob"))
    try:
        yield running
    finally:
        running.stop()


def kill_gateway(exchange: Exchange) -> None:
    process = exchange.gateway.process
    assert process is not None
    process.send_signal(signal.SIGKILL)
    process.wait()


def restart_gateway(exchange: Exchange) -> None:
    """Start the gateway again on the port the clients know."""
    port = urlsplit(exchange.ws_url).port
    host, engine_port = exchange.engine_address
    exchange.gateway.args = ("--engine", f"{host}:{engine_port}", "--listen", f"127.0.0.1:{port}")
    exchange.gateway.start()


async def test_after_a_gateway_restart_the_client_logs_in_and_resubscribes(
    own_exchange: Exchange,
) -> None:
    async with AsyncClient(
        own_exchange.ws_url,
        credentials=signature_login(own_exchange, "alice"),
        heartbeat_interval_s=1,
    ) as client:
        orders = await client.subscribe("user.orders.any.any.raw")
        before = await client.buy(PERP, 0.01, price=95_000)
        assert (await next_note(orders)).data.order_id == before.order.order_id

        await asyncio.to_thread(kill_gateway, own_exchange)
        await wait_until(lambda: not client.connected, "the client saw the connection drop")
        # a call made while the gateway is down waits for the reconnect
        waiting = asyncio.create_task(client.get_order_state(before.order.order_id))
        await asyncio.sleep(0)
        assert not waiting.done()

        await asyncio.to_thread(restart_gateway, own_exchange)
        await wait_until(lambda: client.reconnects == 1, "the client reconnected")
        assert (await waiting).order_state == "open"

        after = await client.buy(PERP, 0.01, price=95_500)
        note = await next_note(
            orders,
            lambda n: isinstance(n.data, Order) and n.data.order_id == after.order.order_id,
        )
        assert note.channel == "user.orders.any.any.raw" and orders.active
        assert await client.cancel_all() == 2


async def test_a_login_refused_on_reconnect_stops_the_client(own_exchange: Exchange) -> None:
    bob = own_exchange.credentials["bob"].client_id
    async with AsyncClient(
        own_exchange.ws_url, credentials=signature_login(own_exchange, "bob")
    ) as client:
        trades = await client.subscribe("user.trades.any.any.raw")
        await asyncio.to_thread(kill_gateway, own_exchange)
        keys_file = own_exchange.home / "api-keys.json"
        keys = json.loads(keys_file.read_text())
        keys_file.write_text(json.dumps([k for k in keys if k["client_id"] != bob]))
        await asyncio.to_thread(restart_gateway, own_exchange)

        with pytest.raises(ApiError) as ended:
            await next_note(trades)
        assert ended.value.code == 13004
        with pytest.raises(ApiError) as refused:
            await client.get_positions()
        assert refused.value is ended.value
        assert not client.connected and client.reconnects == 0


async def test_a_request_cut_off_by_a_lost_connection_says_its_fate_is_unknown(
    own_exchange: Exchange,
) -> None:
    process = own_exchange.gateway.process
    assert process is not None
    sent: list[str] = []
    async with AsyncClient(
        own_exchange.ws_url,
        credentials=signature_login(own_exchange, "alice"),
        trace=lambda direction, frame: sent.append(f"{direction} {frame!s}"),
    ) as client:
        # a stopped gateway cannot answer: the request is surely in flight when the line drops
        process.send_signal(signal.SIGSTOP)
        try:
            placing = asyncio.create_task(client.buy(PERP, 0.01, price=95_000, label="unsure"))
            await wait_until(lambda: any("unsure" in f for f in sent), "the order was sent")
            await client.drop_connection()
            with pytest.raises(ClientError) as caught:
                await placing
            assert caught.value.code is ClientReason.CONNECTION_LOST
        finally:
            process.send_signal(signal.SIGCONT)
        await wait_until(lambda: client.reconnects == 1, "the client reconnected")
        # the order may or may not have been placed: look, do not resend blindly
        labels = [o.label for o in await client.get_open_orders_by_instrument(PERP)]
        assert labels in ([], ["unsure"])
        await client.cancel_all()


async def test_a_request_the_server_does_not_answer_times_out(own_exchange: Exchange) -> None:
    process = own_exchange.gateway.process
    assert process is not None
    async with AsyncClient(own_exchange.ws_url, request_timeout_s=0.5) as client:
        process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(ClientError) as caught:
                await client.ticker(PERP)
            assert caught.value.code is ClientReason.REQUEST_TIMEOUT
        finally:
            process.send_signal(signal.SIGCONT)
        assert (await client.ticker(PERP)).instrument_name == PERP


async def test_a_channel_refused_on_reconnect_ends_only_its_subscription(
    own_exchange: Exchange,
) -> None:
    config_file = own_exchange.home / "gateway.json"
    original = config_file.read_bytes()
    async with AsyncClient(own_exchange.ws_url) as client:
        kept = await client.subscribe(f"ticker.{PERP}.100ms", f"trades.{PERP}.raw")
        refused = await client.subscribe(f"book.{PERP}.100ms")
        # the restarted gateway allows two channels per connection instead of fifty
        config = msgspec.json.decode(original, type=GatewayConfig)
        limits = msgspec.structs.replace(config.limits, max_subscriptions=2)
        config_file.write_bytes(msgspec.json.encode(msgspec.structs.replace(config, limits=limits)))
        try:
            await asyncio.to_thread(kill_gateway, own_exchange)
            await asyncio.to_thread(restart_gateway, own_exchange)
            await wait_until(lambda: client.reconnects == 1, "the client reconnected")
        finally:
            config_file.write_bytes(original)
        with pytest.raises(ApiError) as ended:
            await next_note(refused, lambda _: False)  # what was queued, then the refusal
        assert ended.value.code == 11050 and not refused.active
        assert kept.active
        note = await next_note(kept, lambda n: n.channel == f"ticker.{PERP}.100ms")
        assert note.data.instrument_name == PERP
    await asyncio.to_thread(kill_gateway, own_exchange)
    await asyncio.to_thread(restart_gateway, own_exchange)
