"""A signed order whose answer was lost is sent again as the same bytes, and the exchange
answers the repeat with the original: one order, whatever happened to the answers. And a
login the server only defers on reconnect (rate limit) does not stop the client.

Through the shared engine and gateway processes; tests/devnet/test_kill_in_turn.py does the
same through real engine, validator and gateway kills.
"""

from __future__ import annotations

import asyncio
import json
import signal

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as serve_websocket

from optex.client import (
    ApiError,
    AsyncClient,
    ClientError,
    ClientReason,
    ClientSignature,
    Order,
    outcome_unknown,
    rate_limited_for_s,
)
from optex.core import Side
from optex.crypto import OrderIntent, PrivateKey
from tests.client.kit import PERP, Exchange, delegate, intent, signature_login, wait_until

LABEL = "resend"
"""These tests' orders (frank's other orders, from other test files, are not theirs)."""


def labelled(side: Side, price_usdc: int, quantity: int) -> OrderIntent:
    """frank's limit intent on the perpetual with this file's label."""
    return msgspec.structs.replace(
        intent("frank", side, price_usdc, quantity), client_order_id=LABEL
    )


def mine(orders: list[Order]) -> list[str]:
    """The ids of this file's orders among ``orders``."""
    return [o.order_id for o in orders if o.label == LABEL]


async def test_the_same_signed_order_sent_again_is_answered_with_the_original(
    exchange: Exchange,
) -> None:
    key = PrivateKey.generate()
    delegate(exchange, "frank", key)
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "frank")) as c:
        order = c.sign_order(labelled(Side.BUY, 95_000, 1_000_000), key)
        first = await c.send_signed_order(order)
        await c.cancel(first.order.order_id)
        again = await c.send_signed_order(order)
        assert again.order.order_id == first.order.order_id
        assert again.order.order_state == "cancelled"  # as it is now, not as it was
        assert mine(await c.get_open_orders_by_instrument(PERP)) == []


async def test_a_refused_order_sent_again_is_refused_the_same_way(exchange: Exchange) -> None:
    key = PrivateKey.generate()
    delegate(exchange, "frank", key)
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "frank")) as c:
        order = c.sign_order(labelled(Side.BUY, 95_000, 9 * 10**10), key)  # 900 BTC
        refusals = []
        for _ in range(2):
            with pytest.raises(ApiError) as refused:
                await c.send_signed_order(order)
            refusals.append((refused.value.code, refused.value.data["reason"]))
        assert refusals[0] == refusals[1] == (10009, "insufficient_margin")


async def test_another_order_reusing_a_nonce_is_still_refused_as_a_replay(
    exchange: Exchange,
) -> None:
    key = PrivateKey.generate()
    delegate(exchange, "frank", key)
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "frank")) as c:
        first = c.sign_order(labelled(Side.BUY, 95_000, 1_000_000), key)
        placed = await c.send_signed_order(first)
        other = msgspec.structs.replace(first.intent, price=94_000 * 1_000_000)
        with pytest.raises(ApiError) as refused:
            await c.place_signed_order(other, key)
        assert refused.value.data["reason"] == "order_replayed"
        opened = await c.get_open_orders_by_instrument(PERP)
        assert mine(opened) == [placed.order.order_id]
        await c.cancel_all()


async def test_an_answer_lost_with_the_connection_is_recovered_by_resending(
    exchange: Exchange,
) -> None:
    key = PrivateKey.generate()
    delegate(exchange, "frank", key)
    gateway = exchange.gateway.process
    assert gateway is not None
    sent: list[str] = []
    async with AsyncClient(
        exchange.ws_url,
        credentials=signature_login(exchange, "frank"),
        trace=lambda direction, frame: sent.append(direction + str(frame)),
    ) as c:
        order = c.sign_order(labelled(Side.BUY, 95_000, 1_000_000), key)
        gateway.send_signal(signal.SIGSTOP)  # the request is surely in flight when the line drops
        try:
            placing = asyncio.create_task(c.send_signed_order(order))
            await wait_until(
                lambda: any("optex_place_signed_order" in f for f in sent), "the order was sent"
            )
            await c.drop_connection()
        finally:
            gateway.send_signal(signal.SIGCONT)
        placed = await placing
        assert sum("optex_place_signed_order" in f for f in sent if f.startswith("send")) >= 2
        opened = await c.get_open_orders_by_instrument(PERP)
        assert mine(opened) == [placed.order.order_id]
        await c.cancel_all()


async def test_resending_can_be_turned_off_and_is_bounded(exchange: Exchange) -> None:
    key = PrivateKey.generate()
    delegate(exchange, "frank", key)
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "frank")) as c:
        order = c.sign_order(labelled(Side.BUY, 95_000, 1_000_000), key)
        with pytest.raises(ClientError) as caught:
            await c.send_signed_order(order, resend_for_s=-1)
        assert caught.value.code is ClientReason.INVALID_ARGUMENT
        with pytest.raises(ClientError) as caught:
            await c.send_signed_order(order, resend_for_s=float("nan"))
        assert caught.value.code is ClientReason.INVALID_ARGUMENT
        assert mine(await c.get_open_orders_by_instrument(PERP)) == []  # nothing was sent


def test_which_failures_leave_an_order_unknown() -> None:
    assert outcome_unknown(ClientError(ClientReason.CONNECTION_LOST))
    assert outcome_unknown(ClientError(ClientReason.REQUEST_TIMEOUT))
    assert outcome_unknown(ClientError(ClientReason.NOT_CONNECTED))
    assert outcome_unknown(ApiError(13028, "temporarily_unavailable"))
    assert not outcome_unknown(ClientError(ClientReason.CLIENT_CLOSED))
    assert not outcome_unknown(ApiError(10009, "not_enough_funds"))
    assert not outcome_unknown(ApiError(10028, "too_many_requests"))
    assert not outcome_unknown(ValueError("not a client failure"))
    assert rate_limited_for_s(ApiError(10028, "", {"retry_after_ms": 250})) == 0.25
    assert rate_limited_for_s(ApiError(10028, "", {"retry_after_ms": -5})) == 1.0
    assert rate_limited_for_s(ApiError(10028, "", "garbage")) == 1.0
    assert rate_limited_for_s(ApiError(13028, "")) is None


async def test_a_login_deferred_by_the_rate_limit_on_reconnect_is_tried_again() -> None:
    # A stand-in server, because the real gateway cannot be made to refuse exactly one login:
    # the first connection logs in and drops, the next login is refused with 10028 (as when a
    # restarted gateway's clients all log in at once), the one after succeeds.
    logins: list[str] = []

    async def serve(socket: ServerConnection) -> None:
        async for text in socket:
            request = json.loads(text)
            answer: dict[str, object] = {"jsonrpc": "2.0", "id": request["id"]}
            if request["method"] == "public/auth":
                logins.append("refused" if len(logins) == 1 else "granted")
                if logins[-1] == "refused":
                    answer["error"] = {
                        "code": 10028,
                        "message": "too_many_requests",
                        "data": {"reason": "too_many_requests", "retry_after_ms": 20},
                    }
                else:
                    token = {"access_token": "a", "refresh_token": "r", "expires_in": 900}
                    answer["result"] = token
                await socket.send(json.dumps(answer))
                if len(logins) == 1:
                    await socket.close()  # the drop that makes the client reconnect
            else:
                answer["result"] = "ok"
                await socket.send(json.dumps(answer))

    async with serve_websocket(serve, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        credentials = ClientSignature("id", "secret")
        async with AsyncClient(f"ws://127.0.0.1:{port}", credentials=credentials) as client:
            await wait_until(lambda: client.reconnects == 1, "the client logged in again")
            assert logins == ["granted", "refused", "granted"]
            assert await client.call("public/test") == "ok"
