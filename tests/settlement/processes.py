"""Real processes for the settlement tests: validators, the engine service and ``optex settle``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from optex.chain import dump_genesis, load_genesis
from optex.core import DEFAULT_LISTING_RULES
from optex.exchange import EngineClient, Pipeline
from optex.journal import FileFollower
from optex.node import LocalCluster
from tests.node.kit import FAST

REPO = Path(__file__).resolve().parents[2]


def cluster(root: Path, validators: int = 4) -> LocalCluster:
    """A local network whose genesis lists BTC's instruments (``optex node init`` lists none)."""
    network = LocalCluster(
        root, validators, genesis_time_ms=time.time_ns() // 1_000_000, timeouts=FAST
    )
    for path in [root / "genesis.json", *(home / "genesis.json" for home in network.network.homes)]:
        genesis = load_genesis(path)
        listed = msgspec.structs.replace(genesis, underlyings={"BTC": DEFAULT_LISTING_RULES["BTC"]})
        path.write_text(dump_genesis(listed) + "\n")
    return network


def spawn(args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """A child process of this interpreter, run from the repository, logging to ``log``."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **env}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, env=environment, cwd=REPO
        )


def engine(home: Path, keys: dict[str, bytes]) -> subprocess.Popen[bytes]:
    """The engine service with a key authority for ``keys`` (account -> trading key)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "keys.json").write_text(json.dumps({a: k.hex() for a, k in keys.items()}))
    (home / "engine.json").unlink(missing_ok=True)
    process = spawn(
        [
            "-m",
            "tests.settlement.engine_main",
            "--home",
            str(home),
            "--keys",
            str(home / "keys.json"),
        ],
        home / "engine.log",
    )
    wait_for((home / "engine.json").exists, "the engine did not start")
    return process


def settle(root: Path, engine_home: Path, home: Path, rpc_port: int) -> subprocess.Popen[bytes]:
    """``optex settle`` for the network at ``root`` (its operator key and devnet password)."""
    home.mkdir(parents=True, exist_ok=True)
    return spawn(
        [
            "-m", "optex.cli._settle",
            "--engine-home", str(engine_home),
            "--node", f"http://127.0.0.1:{rpc_port}",
            "--operator-key", str(root / "keys" / "operator.json"),
            "--password-file", str(root / "devnet-password.txt"),
            "--home", str(home),
            "--linger-ms", "50",
        ],
        home / "settle.log",
    )  # fmt: skip


def stop(process: subprocess.Popen[bytes] | None, *, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) a child and wait for it."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def status(home: Path) -> dict[str, Any]:
    """The settle process's ``status.json`` (empty before its first write)."""
    try:
        data: dict[str, Any] = json.loads((home / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def wait_for(condition: Any, message: str, timeout_s: float = 40.0) -> None:
    """Poll ``condition()`` until it holds; fail with ``message`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def replay(journal: Path) -> Pipeline:
    """The engine's state, replayed from its journal file by a fresh pipeline."""
    pipeline = Pipeline()
    follower = FileFollower(journal)
    while entries := follower.poll():
        for entry in entries:
            pipeline.apply_entry(entry)
    return pipeline


async def connect(home: Path) -> EngineClient:
    """A client of the engine whose home is ``home``."""
    record = json.loads((home / "engine.json").read_text())
    return await EngineClient.connect(record["host"], int(record["port"]))
