"""Shared builders for the gateway tests: a real engine and a real gateway process, accounts
provisioned with owner-signed delegations, and small JSON-RPC clients."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from optex.core import instrument_from_name
from optex.crypto import AllowedAddress, PrivateKey
from optex.exchange import Command, Deposit, EngineClient, SetPrices
from optex.gateway import (
    Credentials,
    GatewayConfig,
    Limits,
    WithdrawalPolicy,
    init_home,
    provision_account,
)
from optex.gateway._addresses import GuardStore
from optex.market import AddInstrument
from optex.risk import Mark
from tests.exchange.kit import EngineProcess

PASSWORD = "gateway test password"  # noqa: S105 - a test fixture
PERP = "BTC-PERPETUAL"
CALL = "BTC-27DEC26-100000-C"
INDEX = 100_000_000_000
"""100,000 USDC per BTC in base units."""
USDC = 1_000_000
ACCOUNTS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
"""Accounts provisioned on the shared exchange; each test file trades with its own."""
GATEWAY = "import sys; from optex.cli._gateway import main; sys.exit(main(sys.argv[1:]))"


def setup_commands(ts_ms: int, accounts: tuple[str, ...]) -> list[Command]:
    """List a perpetual and a call, fund the accounts, set index and marks (with IV, greeks)."""
    commands: list[Command] = [
        AddInstrument(ts_ms, instrument_from_name(PERP)),
        AddInstrument(ts_ms, instrument_from_name(CALL)),
    ]
    commands += [Deposit(ts_ms, account, 1_000_000 * USDC) for account in accounts]
    commands.append(
        SetPrices(
            ts_ms,
            {"BTC": INDEX},
            {
                PERP: Mark(INDEX),
                CALL: Mark(
                    5_000 * USDC,
                    iv=0.6,
                    forward=100_000.0,
                    t=0.1,
                    delta=0.52,
                    gamma=0.00001,
                    vega=120.0,
                    theta=-80.0,
                ),
            },
        )
    )
    return commands


class GatewayProcess:
    """``optex gateway`` in a real subprocess."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> tuple[str, int]:
        """Start it and wait for its address file."""
        address = self.home / "gateway-address.json"
        address.unlink(missing_ok=True)
        log = open(self.home / "gateway.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [sys.executable, "-c", GATEWAY, "--home", str(self.home), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OPTEX_GATEWAY_PASSWORD": PASSWORD},
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {(self.home / 'gateway.log').read_text()}")
            try:
                record = json.loads(address.read_text())
                if record["pid"] == self.process.pid:
                    return record["host"], int(record["port"])
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            time.sleep(0.02)
        raise TimeoutError("the gateway did not start")

    def stop(self) -> int:
        """SIGTERM and wait."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@dataclass
class Exchange:
    """A running engine and gateway with provisioned accounts."""

    engine: EngineProcess
    gateway: GatewayProcess
    engine_address: tuple[str, int]
    url: str
    ws_url: str
    home: Path
    credentials: dict[str, Credentials]
    owners: dict[str, PrivateKey]

    def stop(self) -> None:
        """Stop both processes."""
        self.gateway.stop()
        self.engine.stop()

    async def submit(self, *commands: Command) -> None:
        """Submit administrative commands straight to the engine."""
        client = await EngineClient.connect(*self.engine_address)
        try:
            for command in commands:
                await client.submit(command)
        finally:
            await client.close()


def start_exchange(
    root: Path,
    accounts: tuple[str, ...] = ("alice", "bob"),
    limits: Limits | None = None,
    gateway_args: tuple[str, ...] = (),
    engine_args: tuple[str, ...] = (),
    *,
    withdrawals: WithdrawalPolicy | None = None,
) -> Exchange:
    """An engine (with the gateway's delegations file) and a gateway on free loopback ports."""
    home = root / "gateway"
    config = GatewayConfig(limits=limits or Limits(), withdrawals=withdrawals or WithdrawalPolicy())
    init_home(home, password=PASSWORD, config=config, scrypt_n=2**14)
    owners = {account: PrivateKey.generate() for account in accounts}
    credentials = {
        account: provision_account(home, account, owners[account], password=PASSWORD)
        for account in accounts
    }
    engine = EngineProcess(
        root / "engine",
        "--delegations",
        str(home / "delegations.json"),
        "--fsync",
        "never",
        *engine_args,
    )
    address = engine.start()
    exchange = Exchange(engine, GatewayProcess(home), address, "", "", home, credentials, owners)
    asyncio.run(exchange.submit(*setup_commands(int(time.time() * 1000), accounts)))
    host, port = exchange_gateway(exchange, address, gateway_args)
    scheme = "https" if "--cert" in gateway_args else "http"
    exchange.url = f"{scheme}://{host}:{port}"
    exchange.ws_url = f"{'wss' if scheme == 'https' else 'ws'}://{host}:{port}/ws/api/v2"
    return exchange


def exchange_gateway(
    exchange: Exchange, address: tuple[str, int], gateway_args: tuple[str, ...]
) -> tuple[str, int]:
    """Start the exchange's gateway process pointed at its engine."""
    exchange.gateway.args = (
        "--engine",
        f"{address[0]}:{address[1]}",
        "--listen",
        "127.0.0.1:0",
        *gateway_args,
    )
    return exchange.gateway.start()


def deribit_signature(
    secret: str, ts: int, nonce: str, method: str, uri: str, *, body: str = ""
) -> str:
    """Deribit's ``deri-hmac-sha256`` signature."""
    text = f"{ts}\n{nonce}\n{method}\n{uri}\n{body}\n"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class Rest:
    """A small HTTP JSON-RPC client signing like ccxt does (GET, query string, HMAC header)."""

    def __init__(self, url: str, credentials: Credentials | None = None) -> None:
        self.url = url
        self.credentials = credentials
        self.http = httpx.Client(base_url=url, timeout=10, verify=False)  # noqa: S501

    def get(self, method: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        """GET /api/v2/<method>?params; the decoded response (result or error)."""
        query = urllib.parse.urlencode({k: _text(v) for k, v in params.items()})
        uri = f"/api/v2/{method}" + (f"?{query}" if query else "")
        sent = dict(headers or {})
        if method.startswith("private/") and self.credentials and "Authorization" not in sent:
            ts = int(time.time() * 1000)
            nonce = os.urandom(8).hex()
            sig = deribit_signature(self.credentials.client_secret, ts, nonce, "GET", uri)
            sent["Authorization"] = (
                f"deri-hmac-sha256 id={self.credentials.client_id},ts={ts},sig={sig},nonce={nonce}"
            )
        return self.http.get(uri, headers=sent).json()

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> Rest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Ws:
    """A WebSocket JSON-RPC client that keeps notifications apart from replies."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.notifications: asyncio.Queue[Any] = asyncio.Queue()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for text in self.socket:
            message = json.loads(text)
            future = self.replies.pop(message.get("id"), None) if "id" in message else None
            if future is not None:
                future.set_result(message)
            else:
                await self.notifications.put(message)

    async def call(self, method: str, **params: Any) -> Any:
        """Send a request and wait for its reply (the whole envelope)."""
        request_id = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.replies[request_id] = future
        await self.socket.send(
            json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        )
        return await asyncio.wait_for(future, 10)

    async def notification(self, channel: str, timeout: float = 10) -> Any:
        """The next notification's data on ``channel`` (others are skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await asyncio.wait_for(self.notifications.get(), max(left, 0.01))
            params = message.get("params", {})
            if message.get("method") == "subscription" and params.get("channel") == channel:
                return params["data"]

    async def login(self, credentials: Credentials) -> Any:
        """``public/auth`` with client credentials."""
        reply = await self.call(
            "public/auth",
            grant_type="client_credentials",
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
        )
        assert "result" in reply, reply
        return reply["result"]

    async def close(self) -> None:
        """Close the socket."""
        await self.socket.close()
        self.reader.cancel()


def allow_address(home: Path, account: str, address: str, *, active_from_ms: int = 0) -> None:
    """Put ``address`` on ``account``'s withdrawal allowlist straight in the gateway home,
    usable from ``active_from_ms`` (tests that are not about the address book skip its TOTP
    code and delay this way; the address book's own tests go through the API)."""
    store = GuardStore(home)
    state = store.load(account)
    entry = AllowedAddress("USDC", address, "test", 0, active_from_ms)
    others = tuple(a for a in state.addresses if a.address != address)
    store.save(account, msgspec.structs.replace(state, addresses=(*others, entry)))
