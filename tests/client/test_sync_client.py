"""The synchronous Client: the same flow as the async one, from plain threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from optex.client import (
    ApiError,
    BlockingSubscription,
    Client,
    ClientError,
    ClientReason,
    ClientSignature,
)
from tests.client.kit import PERP, Exchange, signature_login

pytestmark = pytest.mark.integration


def test_the_sync_client_places_edits_cancels_and_sees_its_fills(exchange: Exchange) -> None:
    with (
        Client(exchange.ws_url, credentials=signature_login(exchange, "alice")) as maker,
        Client(exchange.ws_url, credentials=signature_login(exchange, "bob")) as taker,
    ):
        assert maker.connected and maker.token is not None
        fills = maker.subscribe("user.trades.any.any.raw")
        assert isinstance(fills, BlockingSubscription)

        placed = maker.sell(PERP, 0.01, price=100_500)
        edited = maker.edit(placed.order.order_id, 0.02, 100_000)
        assert (edited.order.amount, edited.order.price) == (0.02, 100_000.0)
        taken = taker.buy(PERP, 0.02, price=100_000)
        assert taken.order.order_state == "filled"

        note = fills.get(timeout=15)
        assert note.data[0].order_id == placed.order.order_id
        assert note.data[0].trade_id == taken.trades[0].trade_id
        with pytest.raises(TimeoutError):
            fills.get(timeout=0.2)
        fills.close()
        with pytest.raises(StopIteration):
            fills.get()

        resting = maker.buy(PERP, 0.01, price=95_000)
        assert maker.cancel(resting.order.order_id).order_state == "cancelled"
        with pytest.raises(ApiError) as caught:
            maker.cancel(resting.order.order_id)
        assert caught.value.code == 10004
        # flatten again for the other tests
        maker.buy(PERP, 0.02, price=100_000, time_in_force="immediate_or_cancel")
        taker.sell(PERP, 0.02, price=100_000, time_in_force="immediate_or_cancel")
        maker.cancel_all()
        taker.cancel_all()


def test_many_threads_share_one_sync_client(exchange: Exchange) -> None:
    with Client(exchange.ws_url) as client:
        started = threading.Barrier(8)

        def ask(n: int) -> str:
            started.wait()
            return client.ticker(PERP).instrument_name + f"/{n}"

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
        assert answers == [f"{PERP}/{n}" for n in range(8)]


def test_a_closed_sync_client_refuses_calls_and_closing_twice_is_harmless(
    exchange: Exchange,
) -> None:
    client = Client(exchange.ws_url)
    client.connect()
    client.close()
    client.close()
    with pytest.raises(ClientError) as caught:
        client.ticker(PERP)
    assert caught.value.code is ClientReason.CLIENT_CLOSED


def test_a_refused_login_raises_and_leaves_no_thread_behind(exchange: Exchange) -> None:
    def client_threads() -> int:
        return sum(t.name == "optex-client" for t in threading.enumerate())

    before = client_threads()
    client_id = exchange.credentials["alice"].client_id
    with (
        pytest.raises(ApiError) as caught,
        Client(exchange.ws_url, credentials=ClientSignature(client_id, "wrong")),
    ):
        pass
    assert caught.value.code == 13009
    with pytest.raises(ClientError):
        Client("http://not-a-websocket")
    assert client_threads() == before
