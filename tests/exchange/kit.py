"""Shared builders for the optex.exchange tests: a market, a seeded order stream, processes."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from optex.core import instrument_from_name
from optex.exchange import Command, Deposit, SetPrices
from optex.market import AddInstrument, AmendOrder, CancelOrder, MassCancel, NewOrder, Side
from optex.risk import Mark

NATS_URL = os.environ.get("OPTEX_TEST_NATS", "nats://127.0.0.1:4222")
T0 = 1_790_000_000_000
PERP = "BTC-PERPETUAL"
CALL = "BTC-27DEC26-100000-C"
ACCOUNTS = ("alice", "bob", "carol", "dave")
INDEX = 100_000_000_000
"""100,000 USDC per BTC in base units."""
USDC = 1_000_000


def setup_commands(ts_ms: int = T0) -> list[Command]:
    """List two instruments, fund four accounts and set prices."""
    commands: list[Command] = [
        AddInstrument(ts_ms, instrument_from_name(PERP)),
        AddInstrument(ts_ms, instrument_from_name(CALL)),
    ]
    commands += [Deposit(ts_ms, account, 1_000_000 * USDC) for account in ACCOUNTS]
    commands.append(
        SetPrices(
            ts_ms,
            {"BTC": INDEX},
            {PERP: Mark(INDEX), CALL: Mark(5_000 * USDC, iv=0.6, forward=1e5, t=0.1, delta=0.5)},
        )
    )
    return commands


def order_stream(seed: int, count: int, ts_ms: int = T0 + 1) -> list[Command]:
    """A seeded mix of limit and market orders, cancels and amends that trade with each other."""
    rng = random.Random(seed)
    commands: list[Command] = []
    for n in range(count):
        ts = ts_ms + n
        account = rng.choice(ACCOUNTS)
        roll = rng.random()
        if roll < 0.75:
            name = rng.choice((PERP, PERP, CALL))
            mid = INDEX if name == PERP else 5_000 * USDC
            tick = instrument_from_name(name).tick_size
            offset = rng.randint(-20, 20) * tick * (50 if name == PERP else 1)
            commands.append(
                NewOrder(
                    ts,
                    account,
                    name,
                    rng.choice((Side.BUY, Side.SELL)),
                    rng.randint(1, 20) * instrument_from_name(name).lot_size,
                    mid + offset,
                    client_order_id=f"c{seed}-{n}",
                )
            )
        elif roll < 0.85:
            commands.append(CancelOrder(ts, account, order_id=rng.randint(1, max(1, n))))
        elif roll < 0.95:
            commands.append(
                AmendOrder(
                    ts,
                    account,
                    order_id=rng.randint(1, max(1, n)),
                    quantity=rng.randint(1, 20) * instrument_from_name(PERP).lot_size,
                )
            )
        else:
            commands.append(MassCancel(ts, account))
    return commands


def nats_answers() -> bool:
    """Whether a NATS server listens at NATS_URL."""
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


ENGINE = "import sys; from optex.cli._engine import main; sys.exit(main(sys.argv[1:]))"


class EngineProcess:
    """An ``optex engine`` in a real subprocess, built from the CLI module's own parser."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> tuple[str, int]:
        """Start it and wait for its address file; returns ``(host, port)``."""
        if self.running():
            raise RuntimeError("already running: kill or stop it first")
        address = self.home / "engine.json"
        address.unlink(missing_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "engine.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [sys.executable, "-c", ENGINE, "--home", str(self.home), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"engine exited: {(self.home / 'engine.log').read_text()}")
            try:
                record = json.loads(address.read_text())
                if record["pid"] == self.process.pid:
                    return record["host"], int(record["port"])
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            time.sleep(0.02)
        raise TimeoutError("the engine did not start")

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to flush, snapshot or say goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int:
        """SIGTERM and wait for a clean exit; its exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)
