"""Orders per second through the gateway, and latency from send to acknowledgement and to fill.

Starts a real ``optex engine`` (file journal, ``--fsync always``: every acknowledged order is on
disk) and a real ``optex gateway`` on loopback, provisions accounts (API keys and owner-signed
delegations of the gateway key), then drives them with Deribit JSON-RPC clients:

* ``ws``: ``--connections`` WebSocket connections, each authenticated with ``public/auth`` and
  keeping ``--window`` ``private/buy``/``private/sell`` requests in flight (closed loop); about
  half the orders cross. Acknowledgement latency is send → reply; fill latency is send → the
  reply that carries the order's first fill (an aggressive order). A second run
  (``ws_subscribed``) subscribes every connection to ``user.trades.any.any.raw`` and also
  measures the crossing order's send → the resting order's owner receiving its fill
  notification (sampled: only notices that arrive after the crossing order's reply can be
  matched to its send time, which biases the figure upwards). Each client cancels all its
  orders every 100 orders, so an account keeps at most a few dozen resting.
* ``http``: the same over HTTP GET with the ``deri-hmac-sha256`` header (as ccxt sends), with
  ``--connections`` concurrent keep-alive clients, one request in flight each.

Every order is signed by the gateway with the delegated key and verified by the engine. The
goal on a 2-core machine: at least 3,000 orders per second over WebSocket with p99
acknowledgement under 20 ms. One JSON line of figures.

    python benchmarks/gateway.py [--quick] [--orders N] [--connections C] [--window W] [--devnet]

``--devnet`` runs the same load against a whole ``optex devnet`` (validators, settlement,
market makers and index feed running beside the engine and gateway) with its four users, and
adds the CPU seconds each process role used during each WebSocket run (``cpu_seconds``) and how
long settlement took to catch up after the load (``settlement_catch_up_s``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
import msgspec
import websockets

from optex.core import instrument_from_name
from optex.crypto import PrivateKey
from optex.exchange import Deposit, EngineClient, SetPrices
from optex.gateway import Credentials, GatewayConfig, Limits, init_home, provision_account
from optex.market import AddInstrument
from optex.risk import Mark

PERP = "BTC-PERPETUAL"
INDEX = 100_000_000_000
PASSWORD = "benchmark password"  # noqa: S105
ENGINE = "import sys; from optex.cli._engine import main; sys.exit(main(sys.argv[1:]))"
GATEWAY = "import sys; from optex.cli._gateway import main; sys.exit(main(sys.argv[1:]))"


def spawn(
    code: str, args: list[str], address: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str, int]:
    address.unlink(missing_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OPTEX_GATEWAY_PASSWORD": PASSWORD},
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            record = json.loads(address.read_text())
            if record["pid"] == process.pid:
                return process, record["host"], int(record["port"])
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{code} did not start")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def order_params(rng: random.Random, n: int, centre: float) -> tuple[str, dict[str, Any]]:
    """A limit order within 5 ticks of ``centre`` on either side: about half cross."""
    side = "private/buy" if n % 2 else "private/sell"
    price = centre + rng.randint(-5, 5) * 0.5
    return side, {"instrument_name": PERP, "amount": 0.001, "type": "limit", "price": price}


async def ws_client(
    url: str,
    credentials: Credentials,
    *,
    orders: int,
    window: int,
    seed: int,
    results: dict[str, list[float]],
    sends: dict[str, float],
    subscribe: bool,
    centre: float = 100_000.0,
) -> None:
    decoder = msgspec.json.Decoder()
    encoder = msgspec.json.Encoder()
    rng = random.Random(seed)
    async with websockets.connect(url, max_queue=None) as socket:
        ids = itertools.count(1)
        waiting: dict[int, asyncio.Future[Any]] = {}

        async def read() -> None:
            async for text in socket:
                received = time.perf_counter()
                message = decoder.decode(text)
                if "id" in message and message["id"] in waiting:
                    waiting.pop(message["id"]).set_result((message, received))
                elif message.get("method") == "subscription":
                    for trade in message["params"]["data"]:
                        if trade.get("liquidity") == "M" and trade["trade_id"] in sends:
                            results["maker_fill"].append(received - sends[trade["trade_id"]])

        reader = asyncio.get_running_loop().create_task(read())

        async def call(method: str, params: dict[str, Any]) -> tuple[Any, float]:
            request_id = next(ids)
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            waiting[request_id] = future
            await socket.send(
                encoder.encode(
                    {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
                )
            )
            return await future

        await call(
            "public/auth",
            {
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
        )
        if subscribe:
            await call("private/subscribe", {"channels": ["user.trades.any.any.raw"]})
        counter = itertools.count()

        async def worker() -> None:
            while (n := next(counter)) < orders:
                method, params = order_params(rng, n, centre)
                sent = time.perf_counter()
                reply, received = await call(method, params)
                if "error" in reply:
                    results["errors"].append(1)
                    continue
                results["ack"].append(received - sent)
                trades = reply["result"]["trades"]
                if trades:
                    results["fill"].append(received - sent)
                    for trade in trades:
                        sends[trade["trade_id"]] = sent
                if n % 100 == 99:
                    await call("private/cancel_all", {})

        await asyncio.gather(*(worker() for _ in range(window)))
        await call("private/cancel_all", {})
        reader.cancel()


def signed_get(
    client: httpx.AsyncClient, credentials: Credentials, method: str, params: dict[str, Any]
) -> Any:
    query = urllib.parse.urlencode(params)
    uri = f"/api/v2/{method}?{query}"
    ts = int(time.time() * 1000)
    nonce = os.urandom(6).hex()
    text = f"{ts}\n{nonce}\nGET\n{uri}\n\n"
    sig = hmac.new(credentials.client_secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    header = f"deri-hmac-sha256 id={credentials.client_id},ts={ts},sig={sig},nonce={nonce}"
    return client.get(uri, headers={"Authorization": header})


async def http_client(
    base: str,
    credentials: Credentials,
    orders: int,
    seed: int,
    results: dict[str, list[float]],
    *,
    centre: float = 100_000.0,
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for n in range(orders):
            method, params = order_params(rng, n, centre)
            sent = time.perf_counter()
            reply = (await signed_get(client, credentials, method, params)).json()
            received = time.perf_counter()
            if "error" in reply:
                results["errors"].append(1)
                continue
            results["ack"].append(received - sent)
            if reply["result"]["trades"]:
                results["fill"].append(received - sent)
        await signed_get(client, credentials, "private/cancel_all", {})


def summary(results: dict[str, list[float]], elapsed: float) -> dict[str, Any]:
    ms = 1000.0
    return {
        "orders_per_s": round(len(results["ack"]) / elapsed),
        "ack_p50_ms": round(percentile(results["ack"], 0.5) * ms, 2),
        "ack_p99_ms": round(percentile(results["ack"], 0.99) * ms, 2),
        "fill_p50_ms": round(percentile(results["fill"], 0.5) * ms, 2),
        "fill_p99_ms": round(percentile(results["fill"], 0.99) * ms, 2),
        "orders": len(results["ack"]),
        "fills_on_arrival": len(results["fill"]),
        "errors": len(results["errors"]),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="optex-gateway-bench-"))
    home = root / "gateway"
    limits = Limits(
        rate_max_credits=10**12, rate_refill_per_second=10**12, max_connections_per_ip=1000
    )
    init_home(home, password=PASSWORD, config=GatewayConfig(limits=limits), scrypt_n=2**14)
    accounts = [f"trader{n}" for n in range(args.connections)]
    credentials = {
        account: provision_account(home, account, PrivateKey.generate(), password=PASSWORD)
        for account in accounts
    }
    (root / "engine").mkdir()
    engine_args = [
        "--home",
        str(root / "engine"),
        "--delegations",
        str(home / "delegations.json"),
        "--fsync",
        args.fsync,
        "--snapshot-every",
        "1000000",
    ]
    engine, host, port = spawn(
        ENGINE, engine_args, root / "engine" / "engine.json", root / "engine.log"
    )
    gateway = None
    try:
        client = await EngineClient.connect(host, port)
        await client.submit(AddInstrument(0, instrument_from_name(PERP)))
        for account in accounts:
            await client.submit(Deposit(0, account, 10**15))
        await client.submit(SetPrices(0, {"BTC": INDEX}, {PERP: Mark(INDEX)}))
        await client.close()
        gateway, ghost, gport = spawn(
            GATEWAY,
            ["--home", str(home), "--engine", f"{host}:{port}", "--listen", "127.0.0.1:0"],
            home / "gateway-address.json",
            root / "gateway.log",
        )
        figures = {"benchmark": "gateway", "engine_fsync": args.fsync}
        clients = [credentials[a] for a in accounts]
        await run_load(figures, f"{ghost}:{gport}", clients, args, centre=100_000.0)
        return figures
    finally:
        for process in (gateway, engine):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


async def run_load(
    figures: dict[str, Any],
    address: str,
    clients: list[Credentials],
    args: argparse.Namespace,
    *,
    centre: float,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
) -> None:
    """The WebSocket runs (without and with a subscription) and the HTTP run, one connection
    per entry of ``clients`` (an account may appear more than once). ``cpu_probe``, when
    given, reads CPU seconds per process role; the WebSocket run reports what each role used."""
    ws_url = f"ws://{address}/ws/api/v2"
    figures.update(connections=len(clients), window=args.window)
    per_client = args.orders // len(clients)
    for label, subscribe in (("ws", False), ("ws_subscribed", True)):
        results: dict[str, list[float]] = {"ack": [], "fill": [], "maker_fill": [], "errors": []}
        sends: dict[str, float] = {}
        cpu_before = cpu_probe() if cpu_probe else {}
        started = time.perf_counter()
        await asyncio.gather(
            *(
                ws_client(
                    ws_url,
                    credential,
                    orders=per_client,
                    window=args.window,
                    seed=n,
                    results=results,
                    sends=sends,
                    subscribe=subscribe,
                    centre=centre,
                )
                for n, credential in enumerate(clients)
            )
        )
        figures[label] = summary(results, time.perf_counter() - started)
        if cpu_probe:
            cpu_after = cpu_probe()
            figures[label]["cpu_seconds"] = {
                role: round(cpu_after[role] - cpu_before.get(role, 0.0), 2) for role in cpu_after
            }
        if subscribe:
            notices = results["maker_fill"]
            figures[label]["maker_fill_notice_p50_ms"] = round(percentile(notices, 0.5) * 1000, 2)
            figures[label]["maker_fill_notice_p99_ms"] = round(percentile(notices, 0.99) * 1000, 2)
            figures[label]["maker_fill_notices"] = len(notices)
    results = {"ack": [], "fill": [], "maker_fill": [], "errors": []}
    http_orders = max(1, args.http_orders // len(clients))
    started = time.perf_counter()
    await asyncio.gather(
        *(
            http_client(f"http://{address}", credential, http_orders, n, results, centre=centre)
            for n, credential in enumerate(clients)
        )
    )
    figures["http"] = summary(results, time.perf_counter() - started)


def cpu_by_role(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by ``root_pid``'s process tree, by role (the
    ``optex`` subcommand or module each process runs), and by this benchmark's own process
    (``load``): where the machine's two cores go while the load runs."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    commands: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError):
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    roles: dict[str, float] = {"load": used.get(os.getpid(), 0.0)}
    for pid, seconds in used.items():
        ancestor = pid
        while ancestor not in (root_pid, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor != root_pid:
            continue
        words = commands[pid]
        role = (
            "devnet"
            if pid == root_pid
            else next(
                (w for w in words if w in ("engine", "gateway", "settle", "optex.node")), words[-1]
            )
        )
        roles[role] = roles.get(role, 0.0) + seconds
    return roles


async def settlement_catch_up(home: Path, timeout_s: float = 600.0) -> float | None:
    """Seconds from the end of the load until ``optex settle`` has replayed the engine's
    journal up to where it was then and has no fill left to send (``None``: not within
    ``timeout_s``). The devnet runs settlement below the trading path's priority, so during a
    burst it falls behind; this is how far."""
    engine = json.loads((home / "engine" / "engine.json").read_text())
    client = await EngineClient.connect(engine["host"], int(engine["port"]))
    try:
        target = (await client.status()).last_seq
    finally:
        await client.close()
    started = time.perf_counter()
    status_file = home / "settle" / "status.json"
    while time.perf_counter() - started < timeout_s:
        try:
            status = json.loads(status_file.read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("journal_seq", 0) >= target and status.get("queued_fills", 1) == 0:
            return round(time.perf_counter() - started, 1)
        await asyncio.sleep(0.2)
    return None


async def devnet_async(args: argparse.Namespace) -> dict[str, Any]:
    """The same load against ``optex devnet``: four validators, the engine (``--fsync
    interval``, as the devnet runs it), the gateway, the settlement batcher replaying the
    journal, the index feed and the market makers requoting 46 books every second."""
    root = Path(tempfile.mkdtemp(prefix="optex-gateway-devnet-bench-"))
    home = root / "devnet"
    # The devnet keeps a gateway.json it finds: lift the per-client rate limit, which would
    # otherwise be what is measured.
    (home / "gateway").mkdir(parents=True)
    limits = Limits(
        rate_max_credits=10**12, rate_refill_per_second=10**12, max_connections_per_ip=1000
    )
    config = GatewayConfig(limits=limits)
    (home / "gateway" / "gateway.json").write_bytes(msgspec.json.encode(config))
    log = (root / "devnet.log").open("w")
    devnet = subprocess.Popen(
        [sys.executable, "-m", "optex", "devnet", "--home", str(home), "--gateway-port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while "running" not in (root / "devnet.log").read_text():
            if devnet.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "devnet.log").read_text())
            time.sleep(0.2)
        address = json.loads((home / "gateway" / "gateway-address.json").read_text())
        users = json.loads((home / "credentials.json").read_text())
        credentials = [Credentials(u["account"], u["client_id"], u["client_secret"]) for u in users]
        clients = [credentials[n % len(credentials)] for n in range(args.connections)]
        host_port = f"{address['host']}:{address['port']}"
        async with httpx.AsyncClient(base_url=f"http://{host_port}/api/v2") as http:
            ticker = (await http.get("/public/ticker", params={"instrument_name": PERP})).json()
        if "result" not in ticker:
            raise RuntimeError(f"the gateway refused public/ticker: {ticker}")
        centre = round(ticker["result"]["mark_price"] * 2) / 2
        figures: dict[str, Any] = {
            "benchmark": "gateway",
            "mode": "devnet",
            "engine_fsync": "interval",
        }
        await run_load(
            figures,
            host_port,
            clients,
            args,
            centre=centre,
            cpu_probe=lambda: cpu_by_role(devnet.pid),
        )
        figures["settlement_catch_up_s"] = await settlement_catch_up(home)
        return figures
    finally:
        devnet.send_signal(signal.SIGINT)
        devnet.wait(timeout=60)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument("--orders", type=int, default=30_000)
    parser.add_argument("--http-orders", type=int, default=4_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--fsync", default="always", choices=("always", "interval", "never"))
    parser.add_argument(
        "--devnet", action="store_true", help="run the load against a full optex devnet"
    )
    args = parser.parse_args()
    if args.quick:
        args.orders, args.http_orders = 2_000, 400
    run = devnet_async if args.devnet else main_async
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
