"""The session under :class:`AsyncClient`: one WebSocket kept logged in, alive and subscribed.

What it keeps true for its user, so that a trading program does not have to:

* **Logged in.** ``connect()`` logs in with the client's credentials; the access token is
  refreshed with its ``refresh_token`` when ``refresh_fraction`` of its life has passed (on
  refusal, it logs in again with the credentials).
* **Alive.** With ``heartbeat_interval_s`` it asks the server for heartbeats
  (``public/set_heartbeat``) and answers each ``test_request`` with ``public/test``.
* **Connected.** When the connection drops, requests in flight fail with
  ``ClientError(CONNECTION_LOST)`` (their fate is unknown: look before resending an order),
  and the session reconnects with growing delays, logs in again, asks for heartbeats again,
  restores every live subscription and re-enables cancel-on-disconnect. Calls made meanwhile
  wait for the connection, within their timeout. A login refused on reconnect is final: the
  session stops and every waiting call and subscription gets the server's ``ApiError``.

The Deribit methods themselves live in :class:`~optex.client._async.AsyncClient`, which adds
them on top of :meth:`Session._call`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

from optex.client._auth import Credentials
from optex.client._connection import Connection
from optex.client._errors import (
    ENGINE_UNAVAILABLE,
    ApiError,
    ClientError,
    ClientReason,
    rate_limited_for_s,
)
from optex.client._framing import Publication
from optex.client._models import (
    AuthToken,
)
from optex.client._signed import DEFAULT_ORDER_LIFETIME_MS, NonceSource
from optex.client._subscriptions import (
    DEFAULT_QUEUE_SIZE,
    Subscription,
    decode_notification,
)
from optex.core import Clock, SystemClock

log = logging.getLogger("optex.client")

T = TypeVar("T")

WS_PATH: Final = "/ws/api/v2"
RECONNECT_DELAYS_S: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
"""Waits before successive reconnect attempts; the last repeats until one succeeds."""


def ws_url(url: str) -> str:
    """``ws://host:port`` → ``ws://host:port/ws/api/v2``; a URL with a path is kept as is."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ClientError(ClientReason.INVALID_ARGUMENT, "the URL must start with ws:// or wss://")
    if parts.path in ("", "/"):
        parts = parts._replace(path=WS_PATH)
    return urlunsplit(parts)


class Session:
    """One WebSocket session kept logged in, alive, connected and subscribed (see the module
    docstring); :class:`AsyncClient` documents the arguments."""

    def __init__(
        self,
        url: str,
        *,
        credentials: Credentials | None = None,
        scope: str | None = None,
        heartbeat_interval_s: int | None = None,
        reconnect: bool = True,
        request_timeout_s: float = 30.0,
        refresh_fraction: float = 0.8,
        order_lifetime_ms: int = DEFAULT_ORDER_LIFETIME_MS,
        subscription_queue_size: int = DEFAULT_QUEUE_SIZE,
        clock: Clock | None = None,
        trace: Callable[[str, str | bytes], None] | None = None,
    ) -> None:
        if not 0 < refresh_fraction < 1:
            raise ClientError(ClientReason.INVALID_ARGUMENT, "refresh_fraction is in (0, 1)")
        if request_timeout_s <= 0:
            raise ClientError(ClientReason.INVALID_ARGUMENT, "request_timeout_s is positive")
        self.url = ws_url(url)
        self.credentials = credentials
        self.scope = scope
        self.heartbeat_interval_s = heartbeat_interval_s
        self.reconnect = reconnect
        self.request_timeout_s = request_timeout_s
        self.refresh_fraction = refresh_fraction
        self.order_lifetime_ms = order_lifetime_ms
        self.subscription_queue_size = subscription_queue_size
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.nonces = NonceSource(self.clock)
        self.reconnects = 0
        """How many times the connection was restored."""
        self.refreshes = 0
        """How many times the access token was refreshed."""
        self._trace = trace
        self._ids = itertools.count(1)
        self._conn: Connection | None = None
        self._ready = asyncio.Event()
        self._token: AuthToken | None = None
        self._token_changed = asyncio.Event()
        self._token_deadline = 0.0
        self._subs: dict[str, list[Subscription]] = {}
        self._cancel_on_disconnect: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._failed: BaseException | None = None

    # Lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether the connection is up and restored (logged in, subscribed)."""
        return self._ready.is_set() and self._conn is not None and not self._conn.closed

    @property
    def token(self) -> AuthToken | None:
        """The current tokens (their ``repr`` hides them), or ``None`` before a login."""
        return self._token

    async def connect(self) -> None:
        """Open the connection and log in; raises if either fails (no retry the first time)."""
        if self._closing:
            raise ClientError(ClientReason.CLIENT_CLOSED)
        if self._conn is not None:
            return
        conn = await self._open()
        try:
            await self._restore(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._ready.set()
        self._spawn(self._supervise(), "supervisor")
        self._spawn(self._refresh_loop(), "token refresh")

    async def close(self) -> None:
        """Close the connection; subscriptions end, waiting calls fail with CLIENT_CLOSED."""
        if self._closing:
            return
        self._closing = True
        self._ready.set()  # wake waiting calls; they see _closing
        self._token_changed.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._conn is not None:
            await self._conn.close()
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.end()
        self._subs.clear()

    async def drop_connection(self) -> None:
        """Cut the socket without a goodbye, as a network failure would (for tests and drills);
        the client then reconnects as it would after any failure."""
        if self._conn is not None:
            await self._conn.abort()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"optex.client {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _open(self) -> Connection:
        return await Connection.open(self.url, self._ids, self._on_publication, self._trace)

    async def _restore(self, conn: Connection) -> None:
        """Bring a fresh connection to the state the user set up: login, heartbeat, channels,
        cancel-on-disconnect."""
        if self.credentials is not None:
            await self._login(conn)
        if self.heartbeat_interval_s is not None:
            interval = self.heartbeat_interval_s
            await self._request(conn, "public/set_heartbeat", {"interval": interval}, str)
        await self._resubscribe(conn)
        if self._cancel_on_disconnect is not None:
            params = {"scope": self._cancel_on_disconnect}
            await self._request(conn, "private/enable_cancel_on_disconnect", params, str)

    async def _supervise(self) -> None:
        while not self._closing:
            conn = self._conn
            if conn is None:
                return
            await conn.wait_closed()
            if self._closing:
                return
            self._ready.clear()
            if not self.reconnect:
                self._fail(ClientError(ClientReason.CONNECTION_LOST, "the connection closed"))
                return
            log.warning("connection to %s lost; reconnecting", self.url)
            await self._reconnect()

    async def _reconnect(self) -> None:
        for attempt in itertools.count():
            await asyncio.sleep(RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)])
            if self._closing:
                return
            try:
                conn = await self._open()
            except ClientError as exc:
                log.info("reconnect attempt %d failed: %s", attempt + 1, exc.message)
                continue
            try:
                await self._restore(conn)
            except ApiError as exc:
                await conn.close()
                wait_s = rate_limited_for_s(exc)
                if wait_s is not None or exc.code == ENGINE_UNAVAILABLE:
                    # Busy, not refused: a restarted gateway's clients all log in at once.
                    log.info("reconnect attempt %d deferred: %s", attempt + 1, exc.message)
                    await asyncio.sleep(wait_s or 0)
                    continue
                # the server is there and says no (a revoked key, a channel refused): retrying
                # would only repeat the refusal
                self._fail(exc)
                return
            except ClientError as exc:
                await conn.close()
                log.info("reconnect attempt %d lost the connection: %s", attempt + 1, exc.message)
                continue
            self._conn = conn
            self.reconnects += 1
            self._ready.set()
            log.info("reconnected to %s", self.url)
            return

    def _fail(self, error: BaseException) -> None:
        """The client cannot continue: fail everything that waits, end every subscription."""
        self._failed = error
        self._ready.set()  # wake waiting calls: they raise the error
        self._token_changed.set()  # and the refresh loop: it stops
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.end(error)
        self._subs.clear()

    # Requests -------------------------------------------------------------------------------

    async def _request(
        self, conn: Connection, method: str, params: dict[str, Any], kind: type[T]
    ) -> T:
        response = await conn.request(method, params, self.request_timeout_s)
        return response.value(kind)

    async def _call(self, method: str, params: dict[str, Any], kind: type[T]) -> T:
        """Send one request on the live connection, waiting for a reconnect if one is under
        way; the whole call is bounded by ``request_timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_s
        while True:
            self._check_usable()
            conn = self._conn
            if conn is None:
                raise ClientError(ClientReason.NOT_CONNECTED)
            if self._ready.is_set() and not conn.closed:
                break
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(max(remaining, 0)):
                    await self._ready.wait()
            except TimeoutError:
                raise ClientError(
                    ClientReason.NOT_CONNECTED, "still reconnecting when the timeout ran out"
                ) from None
            if conn is self._conn and conn.closed:
                # the supervisor has not noticed yet; let it run
                await asyncio.sleep(0)
        remaining = max(deadline - loop.time(), 0.001)
        response = await conn.request(method, params, remaining)
        return response.value(kind)

    def _check_usable(self) -> None:
        if self._closing:
            raise ClientError(ClientReason.CLIENT_CLOSED)
        if self._failed is not None:
            raise self._failed

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Any method by its Deribit name (``"public/get_time"``); the result as decoded JSON."""
        return await self._call(method, params or {}, Any)

    # Authentication -------------------------------------------------------------------------

    async def auth(self, credentials: Credentials | None = None) -> AuthToken:
        """``public/auth`` now; the credentials are kept for refreshes and reconnects."""
        if credentials is not None:
            self.credentials = credentials
        return await self._login(None)

    async def _login(self, conn: Connection | None) -> AuthToken:
        """Log in on ``conn`` (while restoring it) or on the live connection (``None``)."""
        if self.credentials is None:
            raise ClientError(ClientReason.NO_CREDENTIALS)
        params = self.credentials.auth_params(self.clock.now_ms())
        if self.scope is not None:
            params["scope"] = self.scope
        if conn is None:
            token = await self._call("public/auth", params, AuthToken)
        else:
            token = await self._request(conn, "public/auth", params, AuthToken)
        self._set_token(token)
        return token

    def _set_token(self, token: AuthToken) -> None:
        self._token = token
        life = max(token.expires_in, 0) * self.refresh_fraction
        self._token_deadline = asyncio.get_running_loop().time() + life
        self._token_changed.set()

    async def refresh_auth(self) -> AuthToken:
        """Exchange the refresh token for new tokens now (``grant_type=refresh_token``)."""
        if self._token is None:
            raise ClientError(ClientReason.NO_CREDENTIALS, "there is no token to refresh")
        params = {"grant_type": "refresh_token", "refresh_token": self._token.refresh_token}
        token = await self._call("public/auth", params, AuthToken)
        self._set_token(token)
        self.refreshes += 1
        return token

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing and self._failed is None:
            if self._token is None:
                self._token_changed.clear()
                await self._token_changed.wait()
                continue
            delay = self._token_deadline - loop.time()
            if delay > 0:
                self._token_changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._token_changed.wait()
                continue
            try:
                await self.refresh_auth()
            except ApiError as exc:
                if self._failed is not None:
                    return
                log.warning("token refresh refused (%s); logging in again", exc)
                try:
                    await self._login(None)
                except (ApiError, ClientError) as again:
                    log.warning("login after a refused refresh failed: %s", again)
                    await asyncio.sleep(RECONNECT_DELAYS_S[-1])
            except ClientError as exc:
                if exc.code is ClientReason.CLIENT_CLOSED:
                    return
                # a lost connection is restored (and logged in) by the supervisor
                log.info("token refresh did not complete: %s", exc.message)
                await asyncio.sleep(RECONNECT_DELAYS_S[0])

    # Session --------------------------------------------------------------------------------

    async def set_heartbeat(self, interval: int) -> str:
        """``public/set_heartbeat``: kept for reconnects too."""
        result = await self._call("public/set_heartbeat", {"interval": interval}, str)
        self.heartbeat_interval_s = interval
        return result

    async def disable_heartbeat(self) -> str:
        """``public/disable_heartbeat``."""
        result = await self._call("public/disable_heartbeat", {}, str)
        self.heartbeat_interval_s = None
        return result

    async def test(self) -> Any:
        """``public/test``: the server's version."""
        return await self._call("public/test", {}, Any)

    async def enable_cancel_on_disconnect(self, scope: str = "connection") -> str:
        """``private/enable_cancel_on_disconnect``: the server cancels this session's orders
        when the connection drops. Re-enabled on every reconnect."""
        result = await self._call("private/enable_cancel_on_disconnect", {"scope": scope}, str)
        self._cancel_on_disconnect = scope
        return result

    async def disable_cancel_on_disconnect(self, scope: str = "connection") -> str:
        """``private/disable_cancel_on_disconnect``."""
        result = await self._call("private/disable_cancel_on_disconnect", {"scope": scope}, str)
        self._cancel_on_disconnect = None
        return result

    # Subscriptions --------------------------------------------------------------------------

    async def subscribe(self, *channels: str) -> Subscription:
        """Subscribe to ``channels``; iterate the result for their notifications.

        Uses ``private/subscribe`` when logged in (``user.*`` and ``raw`` channels need it),
        ``public/subscribe`` otherwise. A channel the server does not confirm is refused.
        """
        if not channels or not all(isinstance(c, str) and c for c in channels):
            raise ClientError(ClientReason.INVALID_ARGUMENT, "name at least one channel")
        wanted = tuple(dict.fromkeys(channels))
        new = [c for c in wanted if c not in self._subs]
        sub = Subscription(wanted, self._release, self.subscription_queue_size)
        # register before asking, so notifications that race the answer are not dropped
        for channel in wanted:
            self._subs.setdefault(channel, []).append(sub)
        if new:
            try:
                await self._subscribe_channels(new)
            except BaseException:
                sub.end()
                for channel in wanted:
                    holders = self._subs.get(channel, [])
                    if sub in holders:
                        holders.remove(sub)
                    if not holders:
                        self._subs.pop(channel, None)
                raise
        return sub

    async def _subscribe_channels(self, channels: Sequence[str]) -> None:
        method = "private/subscribe" if self._token is not None else "public/subscribe"
        confirmed = await self._call(method, {"channels": list(channels)}, list[str])
        self._check_confirmed(channels, confirmed)

    async def _subscribe_on(self, conn: Connection, channels: Sequence[str]) -> None:
        method = "private/subscribe" if self._token is not None else "public/subscribe"
        params = {"channels": list(channels)}
        confirmed = await self._request(conn, method, params, list[str])
        self._check_confirmed(channels, confirmed)

    @staticmethod
    def _check_confirmed(channels: Sequence[str], confirmed: list[str]) -> None:
        missing = [c for c in channels if c not in confirmed]
        if missing:
            raise ClientError(ClientReason.CHANNEL_REFUSED, channels=missing)

    async def _resubscribe(self, conn: Connection) -> None:
        """Subscribe a restored connection to every live channel. A channel the server now
        refuses (its instrument expired, say) ends the subscriptions that held it, with the
        server's answer; the others carry on."""
        channels = list(self._subs)
        if not channels:
            return
        try:
            await self._subscribe_on(conn, channels)
            return
        except ApiError:
            pass
        except ClientError as exc:
            if exc.code is not ClientReason.CHANNEL_REFUSED:
                raise
        for channel in channels:
            try:
                await self._subscribe_on(conn, [channel])
            except ApiError as exc:
                refusal: BaseException = exc
            except ClientError as exc:
                if exc.code is not ClientReason.CHANNEL_REFUSED:
                    raise
                refusal = exc
            else:
                continue
            log.warning("the server refused channel %s on reconnect: %s", channel, refusal)
            for sub in list(self._subs.get(channel, [])):
                sub.end(refusal)

    async def unsubscribe(self, *targets: Subscription | str) -> None:
        """End subscriptions: the ones given, and every one holding a channel named (Deribit's
        ``unsubscribe`` takes channel names). Channels no live subscription holds any more are
        unsubscribed on the server."""
        chosen: dict[int, Subscription] = {}
        for target in targets:
            if isinstance(target, Subscription):
                chosen[id(target)] = target
            elif isinstance(target, str):
                for sub in self._subs.get(target, []):
                    chosen[id(sub)] = sub
            else:
                raise ClientError(ClientReason.INVALID_ARGUMENT, "a Subscription or channel name")
        for sub in chosen.values():
            await sub.close()

    def _release(self, sub: Subscription) -> asyncio.Task[None] | None:
        orphans = []
        for channel in sub.channels:
            holders = self._subs.get(channel)
            if holders is None:
                continue
            if sub in holders:
                holders.remove(sub)
            if not holders:
                del self._subs[channel]
                orphans.append(channel)
        if not orphans or self._closing or self._failed is not None or self._conn is None:
            return None
        return self._spawn(self._unsubscribe_channels(orphans), "unsubscribe")

    async def _unsubscribe_channels(self, channels: list[str]) -> None:
        method = "private/unsubscribe" if self._token is not None else "public/unsubscribe"
        try:
            await self._call(method, {"channels": channels}, list[str])
        except (ApiError, ClientError) as exc:
            # not fatal: the channels are gone from this client, stray notifications are dropped
            log.info("unsubscribe %s failed: %s", channels, exc)

    def _on_publication(self, publication: Publication) -> None:
        holders = self._subs.get(publication.channel)
        if not holders:
            return
        try:
            note = decode_notification(publication.channel, publication.data)
        except ClientError as exc:
            for sub in list(holders):
                sub.end(exc)
            return
        for sub in list(holders):
            sub.deliver(note)
