"""AsyncClient against a real engine and gateway: login, trading, subscriptions, refresh,
heartbeats, cancel-on-disconnect, signed orders."""

from __future__ import annotations

import asyncio

import pytest

from optex.client import (
    AccountSummary,
    ApiError,
    AsyncClient,
    ClientError,
    ClientReason,
    ClientSignature,
    Order,
    UserTrade,
)
from optex.core import Side
from optex.crypto import DERIBIT_ERROR_CODES, PrivateKey, SecurityReason
from tests.client.kit import (
    CALL,
    PERP,
    Exchange,
    credentials_login,
    delegate,
    intent,
    next_note,
    signature_login,
    wait_until,
)

pytestmark = pytest.mark.integration


def frames_sent(log: list[str]) -> object:
    def trace(direction: str, frame: str | bytes) -> None:
        if direction == "send":
            log.append(frame if isinstance(frame, str) else frame.decode())

    return trace


async def test_signature_login_never_sends_the_secret_through_refresh_and_reconnect(
    exchange: Exchange,
) -> None:
    secret = exchange.credentials["alice"].client_secret
    sent: list[str] = []
    async with AsyncClient(
        exchange.ws_url,
        credentials=signature_login(exchange, "alice"),
        trace=frames_sent(sent),  # type: ignore[arg-type]
    ) as client:
        assert client.token is not None and "trade:read_write" in client.token.scope
        summary = await client.get_account_summary("USDC")
        assert summary.currency == "USDC" and summary.balance > 0
        await client.refresh_auth()
        await client.drop_connection()
        await wait_until(lambda: client.reconnects == 1, "the client reconnected")
        assert (await client.get_account_summary("USDC")).balance == summary.balance
    assert any('"client_signature"' in frame for frame in sent)
    assert any('"refresh_token"' in frame for frame in sent)
    assert not [frame for frame in sent if secret in frame]


async def test_credentials_login_reaches_private_methods(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url, credentials=credentials_login(exchange, "bob")) as c:
        assert isinstance(await c.get_positions(), list)
        assert (await c.get_account_summary("USDC")).currency == "USDC"


@pytest.mark.parametrize(
    ("login", "reason"),
    [
        (lambda cid: ClientSignature(cid, "not the secret"), SecurityReason.INVALID_SIGNATURE),
        (lambda cid: ClientSignature("nobody", "x"), SecurityReason.INVALID_CREDENTIALS),
    ],
)
async def test_a_bad_secret_is_refused_with_deribits_code(
    exchange: Exchange, login: object, reason: SecurityReason
) -> None:
    credentials = login(exchange.credentials["carol"].client_id)  # type: ignore[operator]
    client = AsyncClient(exchange.ws_url, credentials=credentials)
    with pytest.raises(ApiError) as caught:
        await client.connect()
    assert caught.value.code == DERIBIT_ERROR_CODES[reason]
    assert caught.value.code in (13004, 13009)
    assert caught.value.data["reason"] == reason.reason
    assert not client.connected
    await client.close()


async def test_a_wrong_client_secret_with_client_credentials_is_13004(exchange: Exchange) -> None:
    from optex.client import ClientCredentials

    client_id = exchange.credentials["carol"].client_id
    client = AsyncClient(exchange.ws_url, credentials=ClientCredentials(client_id, "wrong"))
    with pytest.raises(ApiError) as caught:
        await client.connect()
    assert (caught.value.code, caught.value.message) == (13004, "invalid_credentials")
    await client.close()


async def test_private_methods_without_login_are_refused(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url) as client:
        assert {i.instrument_name for i in await client.get_instruments()} >= {PERP, CALL}
        with pytest.raises(ApiError) as caught:
            await client.get_open_orders_by_currency("BTC")
        assert caught.value.code == 13009


async def test_place_edit_cancel_and_the_order_is_gone(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "carol")) as c:
        placed = await c.buy(PERP, 0.01, price=97_000, label="carol-1")
        order = placed.order
        assert (order.direction, order.amount, order.price) == ("buy", 0.01, 97_000.0)
        assert order.order_state == "open" and order.label == "carol-1" and not placed.trades
        assert (await c.get_order_state(order.order_id)).order_state == "open"

        edited = await c.edit(order.order_id, 0.03, 96_500)
        assert (edited.order.amount, edited.order.price) == (0.03, 96_500.0)
        book = await c.get_order_book(PERP, depth=5)
        assert [96_500.0, 0.03] in [list(level) for level in book.bids]
        opened = await c.get_open_orders_by_instrument(PERP)
        assert [o.order_id for o in opened] == [order.order_id]
        assert [o.order_id for o in await c.get_open_orders_by_currency("BTC")] == [order.order_id]

        cancelled = await c.cancel(order.order_id)
        assert isinstance(cancelled, Order) and cancelled.order_state == "cancelled"
        assert await c.get_open_orders_by_instrument(PERP) == []
        with pytest.raises(ApiError) as caught:
            await c.cancel(order.order_id)
        assert (caught.value.code, caught.value.message) == (10004, "order_not_found")


async def test_an_order_off_the_tick_is_refused_and_nothing_rests(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "carol")) as c:
        with pytest.raises(ApiError) as caught:
            await c.sell(PERP, 0.01, price=101_000.3)
        assert caught.value.code == 10043
        assert caught.value.data["param"] == "price"
        assert await c.get_open_orders_by_instrument(PERP) == []


async def test_cancel_all_cancels_every_open_order(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "carol")) as c:
        for price in (95_000, 95_500, 96_000):
            await c.buy(PERP, 0.01, price=price)
        assert len(await c.get_open_orders_by_instrument(PERP)) == 3
        assert await c.cancel_all() == 3
        assert await c.get_open_orders_by_instrument(PERP) == []


async def test_many_requests_in_flight_each_get_their_own_answer(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "dave")) as c:
        prices = [95_000 + 10 * n for n in range(12)]
        placed = await asyncio.gather(*(c.buy(PERP, 0.01, price=p) for p in prices))
        assert [r.order.price for r in placed] == prices
        states = await asyncio.gather(
            *(c.get_order_state(r.order.order_id) for r in placed),
            c.ticker(PERP),
            c.ticker(CALL),
        )
        assert [s.price for s in states[:-2]] == prices  # type: ignore[union-attr]
        assert [s.instrument_name for s in states[-2:]] == [PERP, CALL]
        assert await c.cancel_all() == len(prices)


async def test_a_cross_between_two_clients_is_seen_on_both_users_trades(
    exchange: Exchange,
) -> None:
    async with (
        AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "erin")) as seller,
        AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "frank")) as buyer,
    ):
        seller_fills = await seller.subscribe("user.trades.any.any.raw")
        buyer_fills = await buyer.subscribe("user.trades.BTC-PERPETUAL.raw")
        public = await buyer.subscribe(f"trades.{PERP}.raw")
        resting = await seller.sell(PERP, 0.02, price=100_000)
        taking = await buyer.buy(PERP, 0.02, price=100_000)
        assert taking.order.order_state == "filled"
        assert [t.amount for t in taking.trades] == [0.02]

        maker = (await next_note(seller_fills)).data
        taker = (await next_note(buyer_fills)).data
        assert isinstance(maker[0], UserTrade) and isinstance(taker[0], UserTrade)
        assert maker[0].trade_id == taker[0].trade_id == taking.trades[0].trade_id
        assert (maker[0].order_id, maker[0].direction, maker[0].liquidity) == (
            resting.order.order_id,
            "sell",
            "M",
        )
        assert (taker[0].order_id, taker[0].direction, taker[0].liquidity) == (
            taking.order.order_id,
            "buy",
            "T",
        )
        assert (maker[0].price, maker[0].amount) == (100_000.0, 0.02)
        tape = (await next_note(public)).data
        assert [t.trade_id for t in tape] == [maker[0].trade_id]
        mine = await buyer.get_user_trades_by_instrument(PERP)
        assert maker[0].trade_id in [t.trade_id for t in mine.trades]
        portfolio = await buyer.subscribe("user.portfolio.usdc")
        assert isinstance((await next_note(portfolio)).data, AccountSummary)
        positions = {p.instrument_name: p for p in await buyer.get_positions()}
        assert positions[PERP].size == 0.02 and positions[PERP].direction == "buy"
        await seller_fills.close()
        assert not seller_fills.active
        # close the positions again so other tests see flat accounts
        await buyer.sell(PERP, 0.02, price=100_000, time_in_force="immediate_or_cancel")
        await seller.cancel_all()
        await buyer.cancel_all()


async def test_an_unknown_channel_is_refused_and_the_client_carries_on(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url) as client:
        with pytest.raises(ApiError) as caught:
            await client.subscribe("no.such.channel")
        assert caught.value.code == -32602
        ticker = await client.subscribe(f"ticker.{PERP}.100ms")
        note = await next_note(ticker)
        assert note.channel == f"ticker.{PERP}.100ms" and note.data.instrument_name == PERP


async def test_a_channel_is_unsubscribed_on_the_server_only_when_nothing_holds_it(
    exchange: Exchange,
) -> None:
    sent: list[str] = []
    channel = f"ticker.{CALL}.100ms"
    async with AsyncClient(exchange.ws_url, trace=frames_sent(sent)) as client:  # type: ignore[arg-type]
        first = await client.subscribe(channel)
        second = await client.subscribe(channel)
        assert sum("public/subscribe" in f for f in sent) == 1
        await first.close()
        assert not first.active and second.active
        assert not [f for f in sent if "unsubscribe" in f]
        await client.unsubscribe(channel)
        assert not second.active
        assert [f for f in sent if "public/unsubscribe" in f and channel in f]
        async for _ in second:  # drains what was queued, then ends
            pass


async def test_the_token_is_refreshed_before_it_expires(exchange: Exchange) -> None:
    # a one-second token: the client must refresh it at 0.8 s to stay logged in
    async with AsyncClient(
        exchange.ws_url, credentials=signature_login(exchange, "dave"), scope="expires:1"
    ) as client:
        first = client.token
        assert first is not None and first.expires_in == 1
        await wait_until(lambda: client.refreshes >= 1, "the token was refreshed")
        assert client.token is not None and client.token.access_token != first.access_token

        async def old_token_expired() -> bool:
            params = {"currency": "USDC", "access_token": first.access_token}
            try:
                await client.call("private/get_account_summary", params)
            except ApiError as exc:
                return exc.data["reason"] == "token_expired"
            return False

        expired = False
        async with asyncio.timeout(15):
            while not expired:
                expired = await old_token_expired()
                await asyncio.sleep(0.05)
        # the connection lives on past the first token's expiry on the refreshed one
        assert (await client.get_account_summary("USDC")).currency == "USDC"
        assert client.reconnects == 0


async def test_heartbeat_requests_are_answered_and_the_connection_stays(
    exchange: Exchange,
) -> None:
    received: list[str] = []

    def trace(direction: str, frame: str | bytes) -> None:
        if direction == "recv" and "test_request" in str(frame):
            received.append(str(frame))

    async with AsyncClient(
        exchange.ws_url,
        credentials=signature_login(exchange, "dave"),
        heartbeat_interval_s=1,
        trace=trace,
    ) as client:
        await wait_until(lambda: len(received) >= 3, "three heartbeats came")
        assert client.reconnects == 0 and client.connected
        assert (await client.get_account_summary("USDC")).currency == "USDC"


async def test_cancel_on_disconnect_holds_across_reconnects(exchange: Exchange) -> None:
    async with (
        AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "carol")) as trader,
        AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "carol")) as watcher,
    ):
        assert await trader.enable_cancel_on_disconnect() == "ok"
        for round_ in (1, 2):
            placed = await trader.buy(PERP, 0.01, price=95_000)
            await trader.drop_connection()
            await wait_until(lambda r=round_: trader.reconnects == r, "the trader reconnected")

            async def cancelled(order_id: str = placed.order.order_id) -> bool:
                return (await watcher.get_order_state(order_id)).order_state == "cancelled"

            async with asyncio.timeout(15):
                while not await cancelled():
                    await asyncio.sleep(0.02)


async def test_an_order_signed_with_the_users_own_key_is_placed(exchange: Exchange) -> None:
    trading_key = PrivateKey.generate()
    delegate(exchange, "dave", trading_key)
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "dave")) as c:
        first = await c.place_signed_order(intent("dave", Side.BUY, 95_000, 1_000_000), trading_key)
        second = await c.place_signed_order(
            intent("dave", Side.BUY, 95_500, 1_000_000), trading_key
        )
        assert (first.order.price, first.order.amount, first.order.order_state) == (
            95_000.0,
            0.01,
            "open",
        )
        assert second.order.order_id != first.order.order_id
        assert {o.order_id for o in await c.get_open_orders_by_instrument(PERP)} == {
            first.order.order_id,
            second.order.order_id,
        }
        await c.cancel_all()


async def test_an_order_signed_with_an_undelegated_key_is_refused(exchange: Exchange) -> None:
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "dave")) as c:
        with pytest.raises(ApiError) as caught:
            await c.place_signed_order(
                intent("dave", Side.BUY, 95_000, 1_000_000), PrivateKey.generate()
            )
        assert caught.value.data["reason"] == SecurityReason.DELEGATION_NOT_FOUND.reason
        assert caught.value.code == DERIBIT_ERROR_CODES[SecurityReason.DELEGATION_NOT_FOUND]
        assert await c.get_open_orders_by_instrument(PERP) == []


async def test_an_order_signed_for_another_account_is_refused(exchange: Exchange) -> None:
    trading_key = PrivateKey.generate()
    delegate(exchange, "erin", trading_key)
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "dave")) as c:
        with pytest.raises(ApiError):
            await c.place_signed_order(intent("erin", Side.BUY, 95_000, 1_000_000), trading_key)
    async with AsyncClient(exchange.ws_url, credentials=signature_login(exchange, "erin")) as c:
        assert await c.get_open_orders_by_instrument(PERP) == []


async def test_calls_after_close_and_to_a_closed_port_say_so(exchange: Exchange) -> None:
    client = AsyncClient(exchange.ws_url)
    await client.connect()
    await client.close()
    with pytest.raises(ClientError) as caught:
        await client.ticker(PERP)
    assert caught.value.code is ClientReason.CLIENT_CLOSED
    nowhere = AsyncClient("ws://127.0.0.1:9", reconnect=False)
    with pytest.raises(ClientError) as caught:
        await nowhere.connect()
    assert caught.value.code is ClientReason.NOT_CONNECTED
    not_a_socket = AsyncClient(exchange.ws_url.replace("/ws/api/v2", "/api/v2/public/test"))
    with pytest.raises(ClientError) as caught:
        await not_a_socket.connect()
    assert caught.value.code is ClientReason.NOT_CONNECTED
