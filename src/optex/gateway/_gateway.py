"""The gateway's core, free of HTTP and WebSocket: authenticate, limit, check, dispatch.

:meth:`Gateway.call` is the one path every request takes, whatever its transport:

1. look the method up in the table (``method_not_found``);
2. authenticate a private method's session — a WebSocket connection's token (or an
   ``access_token`` parameter), or an HTTP request's ``Authorization`` header
   (``deri-hmac-sha256``, ``bearer``, ``Basic``) over the raw request target;
3. charge the rate limiter (per account and per IP; a failed authentication is charged to the
   IP, so guessing costs credits too) and check the session's scope;
4. check and convert the parameters against the table;
5. run the handler, which talks to the engine through :class:`~optex.gateway._link.EngineLink`.

Every refusal is an :class:`~optex.core.OptexError` with an optex reason; the transport turns it
into Deribit's error shape (``_errors``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from optex.core import InvalidInput, OptexError, Unauthorized, asset
from optex.crypto import (
    ApiKeyStore,
    Authenticator,
    PrivateKey,
    RateLimit,
    RateLimiter,
    Session,
    TokenStore,
)
from optex.gateway._channels import Hub
from optex.gateway._home import API_KEYS_FILE, GatewayConfig, load_api_keys, master_key
from optex.gateway._link import EngineLink
from optex.gateway._methods import Method, parse_params
from optex.gateway._reasons import GatewayReason
from optex.gateway._sessions import SessionFile

log = logging.getLogger("optex.gateway")
SETTLEMENT: Final = "USDC"
_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True)
class HttpAuth:
    """What an HTTP request's signature covers: the header, method, raw target and body."""

    header: str
    method: str
    uri: str
    body: str


@dataclass(eq=False)
class Connection:
    """One WebSocket connection's state: its session, subscriptions' outbox and options."""

    ip: str | None
    max_queue: int
    settlement_scale: int = 10**6
    session: Session | None = None
    access_token: str | None = None
    cancel_on_disconnect: bool = False
    heartbeat_s: int = 0
    heartbeat_answered: bool = True
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    overflowed: bool = False

    @property
    def account(self) -> str | None:
        """The authenticated account, if any."""
        return None if self.session is None else self.session.account

    def send(self, message: Mapping[str, Any]) -> None:
        """Queue a message; a client that does not read is dropped, never waited for."""
        if self.overflowed:
            return
        if self.queue.qsize() >= self.max_queue:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(_ENCODER.encode(message).decode())

    def notify(self, channel: str, data: Any) -> None:
        """Queue a ``subscription`` notification."""
        self.send(
            {
                "jsonrpc": "2.0",
                "method": "subscription",
                "params": {"channel": channel, "data": data},
            }
        )


@dataclass
class Call:
    """One request as a handler sees it."""

    gateway: Gateway
    method: Method
    args: dict[str, Any]
    session: Session | None
    ip: str | None
    now_ms: int
    connection: Connection | None = None

    @property
    def account(self) -> str:
        """The session's account (private methods always have one)."""
        if self.session is None:
            raise Unauthorized(GatewayReason.AUTHORIZATION_REQUIRED)
        return self.session.account


class Gateway:
    """The state one gateway process holds: keys, sessions, limits, the engine link, the hub."""

    def __init__(
        self,
        home: Path,
        config: GatewayConfig,
        gateway_key: PrivateKey,
        engine: tuple[str, int],
        methods: Mapping[str, Method],
    ) -> None:
        self.home = home
        self.config = config
        self.key = gateway_key
        self.methods = methods
        self._master = master_key(gateway_key)
        self.authenticator = Authenticator(ApiKeyStore(self._master), TokenStore(keep_changes=True))
        # Sessions survive a restart: bad token files stop the gateway here, before it
        # listens (see _sessions).
        self.sessions = SessionFile(home, gateway_key)
        self.sessions.load(self.authenticator.tokens, now_ms())
        self._keys_stamp: tuple[int, int] | None = None
        self._reload_keys()
        limits = config.limits
        bucket = RateLimit(
            max_credits=limits.rate_max_credits, refill_per_second=limits.rate_refill_per_second
        )
        self.limiter = RateLimiter(bucket, bucket)
        self.link = EngineLink(*engine)
        self.hub = Hub(self.link)
        self.connections: dict[str, int] = {}
        self.settlement_scale = asset(SETTLEMENT).scale
        self._nonces = itertools.count(time.time_ns() // 1000)
        self.started_ms = 0
        self._wallet_locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        """Connect to the engine and start the subscription hub."""
        await self.link.start()
        self.hub.start()
        self.started_ms = now_ms()

    async def close(self) -> None:
        """Stop the hub and close the engine connections."""
        await self.hub.close()
        await self.link.close()
        self.sessions.close()

    def wallet_lock(self, account: str) -> asyncio.Lock:
        """The lock an account's wallet calls (withdraw, address book) hold: one at a time per
        account, so the daily limit and single-use codes are checked against settled state."""
        lock = self._wallet_locks.get(account)
        if lock is None:
            lock = self._wallet_locks[account] = asyncio.Lock()
        return lock

    def next_nonce(self) -> int:
        """A nonce for a gateway-signed order: never reused by this key (microsecond time at
        start, then counting up)."""
        return next(self._nonces)

    async def save_tokens(self) -> None:
        """Write the token store to the home if it changed (``public/auth`` and
        ``private/logout`` call this before answering; a request using a token never does)."""
        await self.sessions.save(self.authenticator.tokens, now_ms())

    # API keys ------------------------------------------------------------------------------

    def _reload_keys(self) -> None:
        """Read the API keys again if the file changed (keys provisioned or revoked while the
        gateway runs); the replay cache of signed requests is kept."""
        path = self.home / API_KEYS_FILE
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._keys_stamp:
            return
        store = ApiKeyStore(self._master, nonces=self.authenticator.keys.nonces)
        store.restore(load_api_keys(self.home))
        self.authenticator.keys = store
        self._keys_stamp = stamp

    def reload_keys(self) -> None:
        """Pick up API keys provisioned since the last look (``public/auth`` calls this: a
        client logging in with a just-provisioned key must not need a private call first)."""
        self._reload_keys()

    # Calling -------------------------------------------------------------------------------

    def _session(
        self,
        *,
        method: Method,
        params: Mapping[str, Any],
        ip: str | None,
        connection: Connection | None,
        http: HttpAuth | None,
        now: int,
    ) -> Session | None:
        if not method.private:
            return None
        self._reload_keys()
        token = params.get("access_token")
        if isinstance(token, str):
            return self.authenticator.authenticate_token(token, ip=ip, now_ms=now)
        if connection is not None:
            if connection.access_token is None:
                raise Unauthorized(GatewayReason.AUTHORIZATION_REQUIRED)
            session = self.authenticator.authenticate_token(
                connection.access_token, ip=ip, now_ms=now
            )
            connection.session = session
            return session
        if http is None or not http.header:
            raise Unauthorized(GatewayReason.AUTHORIZATION_REQUIRED)
        return self.authenticator.authenticate_http(
            http.header, method=http.method, uri=http.uri, body=http.body, ip=ip, now_ms=now
        )

    async def call(
        self,
        name: Any,
        params: Any,
        *,
        ip: str | None,
        connection: Connection | None = None,
        http: HttpAuth | None = None,
        text: bool = False,
    ) -> Any:
        """Run one request; its ``result``, or an ``OptexError`` to answer with."""
        method = self.methods.get(name) if isinstance(name, str) else None
        if method is None:
            raise InvalidInput(GatewayReason.METHOD_NOT_FOUND, f"no method {name!r:.60}")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InvalidInput(GatewayReason.INVALID_PARAMS, "params must be an object")
        if method.websocket_only and connection is None:
            raise InvalidInput(GatewayReason.WEBSOCKET_REQUIRED, f"{method.name} needs WebSocket")
        now = now_ms()
        try:
            session = self._session(
                method=method, params=params, ip=ip, connection=connection, http=http, now=now
            )
        except OptexError:
            self.limiter.charge(method.name, account=None, ip=ip, now_ms=now)
            raise
        self.limiter.charge(
            method.name, account=None if session is None else session.account, ip=ip, now_ms=now
        )
        if session is not None and method.scope is not None:
            session.scopes.require(*method.scope)
        args = parse_params(method, params, text=text)
        return await method.handler(Call(self, method, args, session, ip, now, connection))


def now_ms() -> int:
    """Wall-clock milliseconds (the gateway is the imperative shell; time is read here)."""
    return time.time_ns() // 1_000_000
