"""``Client``: the same client for code without an event loop.

Design: the sync client runs an :class:`AsyncClient` on an event loop in one background
thread and waits for each call's result. The alternative, httpx over HTTP for requests plus a
thread for subscriptions, was rejected because it would be two clients with two auth paths
(HTTP signatures per request and a WebSocket session) that could disagree, and because
subscriptions and cancel-on-disconnect exist only on the WebSocket: with one connection, an
order placed through the sync client is covered by cancel-on-disconnect exactly as in the async
one. Every method has the async method's name, parameters and result type (the wrappers are
generated from the async methods, so they cannot drift apart).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from optex.client._async import AsyncClient
from optex.client._auth import Credentials
from optex.client._errors import ClientError, ClientReason
from optex.client._models import AuthToken
from optex.client._subscriptions import Notification, Subscription
from optex.crypto import OrderIntent, PrivateKey, SignedOrder

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Client, P], R]:
    """A sync method that runs ``method`` on the client's loop and waits for its result."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(method(self.aio, *args, **kwargs))

    call.__name__ = method.__name__
    call.__qualname__ = f"Client.{method.__name__}"
    call.__doc__ = method.__doc__
    return call


class BlockingSubscription:
    """A :class:`Subscription` read from synchronous code: ``for note in sub`` or ``get()``."""

    def __init__(self, client: Client, subscription: Subscription) -> None:
        self._client = client
        self.subscription = subscription
        self.channels = subscription.channels

    def get(self, timeout: float | None = None) -> Notification:
        """The next notification; ``TimeoutError`` if none comes within ``timeout`` seconds,
        ``StopIteration`` once the subscription has ended."""

        async def next_one() -> Notification | None:
            # the timeout runs on the loop, where taking an item from the queue cannot be
            # interrupted: a notification is either returned or left queued, never lost
            try:
                async with asyncio.timeout(timeout):
                    return await anext(self.subscription)
            except StopAsyncIteration:
                return None

        note = self._client._run(next_one())
        if note is None:
            raise StopIteration
        return note

    def __iter__(self) -> BlockingSubscription:
        return self

    def __next__(self) -> Notification:
        return self.get()

    def close(self) -> None:
        """Unsubscribe and end the iterator."""
        self._client._run(self.subscription.close())

    def __repr__(self) -> str:
        return f"Blocking{self.subscription!r}"


class Client:
    """The synchronous client: ``with Client(url, credentials=...) as client: client.buy(...)``.

    Takes :class:`AsyncClient`'s arguments; ``aio`` is the async client it drives (its loop
    runs in a daemon thread named ``optex-client``). Calls block the calling thread only; any
    number of threads may call at once, and their requests are in flight together.
    """

    def __init__(self, url: str, **options: Any) -> None:
        # built first, so bad arguments are refused before a thread exists; its asyncio
        # objects bind to the loop below when first used there
        self.aio = AsyncClient(url, **options)
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="optex-client")
        self._thread.daemon = True
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, R]) -> R:
        if self._closed:
            coro.close()
            raise ClientError(ClientReason.CLIENT_CLOSED)
        if threading.current_thread() is self._thread:
            coro.close()
            raise ClientError(
                ClientReason.INVALID_ARGUMENT, "a blocking call from the client's own loop"
            )
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __enter__(self) -> Self:
        try:
            self.connect()
        except BaseException:
            self.close()  # stop the loop thread: nothing else will
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """Whether the connection is up and restored."""
        return self.aio.connected

    @property
    def token(self) -> AuthToken | None:
        """The current tokens, or ``None`` before a login."""
        return self.aio.token

    def close(self) -> None:
        """Close the connection and stop the loop thread."""
        if self._closed:
            return
        try:
            self._run(self.aio.close())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def auth(self, credentials: Credentials | None = None) -> AuthToken:
        """``public/auth`` (see :meth:`AsyncClient.auth`)."""
        return self._run(self.aio.auth(credentials))

    def subscribe(self, *channels: str) -> BlockingSubscription:
        """Subscribe to ``channels``; iterate the result (blocking) for notifications."""
        return BlockingSubscription(self, self._run(self.aio.subscribe(*channels)))

    def unsubscribe(self, *targets: BlockingSubscription | str) -> None:
        """End subscriptions, given or by channel name (see :meth:`AsyncClient.unsubscribe`)."""
        self._run(
            self.aio.unsubscribe(
                *(t.subscription if isinstance(t, BlockingSubscription) else t for t in targets)
            )
        )

    def sign_order(self, intent: OrderIntent, trading_key: PrivateKey) -> SignedOrder:
        """See :meth:`AsyncClient.sign_order` (no I/O: runs in the calling thread)."""
        return self.aio.sign_order(intent, trading_key)

    connect = _blocking(AsyncClient.connect)
    drop_connection = _blocking(AsyncClient.drop_connection)
    call = _blocking(AsyncClient.call)
    refresh_auth = _blocking(AsyncClient.refresh_auth)
    set_heartbeat = _blocking(AsyncClient.set_heartbeat)
    disable_heartbeat = _blocking(AsyncClient.disable_heartbeat)
    test = _blocking(AsyncClient.test)
    enable_cancel_on_disconnect = _blocking(AsyncClient.enable_cancel_on_disconnect)
    disable_cancel_on_disconnect = _blocking(AsyncClient.disable_cancel_on_disconnect)
    optex_status = _blocking(AsyncClient.optex_status)
    get_instruments = _blocking(AsyncClient.get_instruments)
    get_order_book = _blocking(AsyncClient.get_order_book)
    ticker = _blocking(AsyncClient.ticker)
    get_last_trades_by_instrument = _blocking(AsyncClient.get_last_trades_by_instrument)
    buy = _blocking(AsyncClient.buy)
    sell = _blocking(AsyncClient.sell)
    edit = _blocking(AsyncClient.edit)
    cancel = _blocking(AsyncClient.cancel)
    cancel_all = _blocking(AsyncClient.cancel_all)
    place_signed_order = _blocking(AsyncClient.place_signed_order)
    send_signed_order = _blocking(AsyncClient.send_signed_order)
    get_open_orders_by_currency = _blocking(AsyncClient.get_open_orders_by_currency)
    get_open_orders_by_instrument = _blocking(AsyncClient.get_open_orders_by_instrument)
    get_order_state = _blocking(AsyncClient.get_order_state)
    get_user_trades_by_instrument = _blocking(AsyncClient.get_user_trades_by_instrument)
    get_account_summary = _blocking(AsyncClient.get_account_summary)
    get_positions = _blocking(AsyncClient.get_positions)
