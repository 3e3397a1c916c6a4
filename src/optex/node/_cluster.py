"""A local network of node processes on loopback, for tests, benchmarks and a devnet.

Each node runs as ``python -m optex.node --home DIR`` in its own process (its own event loop),
with its log in ``DIR/node.log``. Ports are chosen free by binding to port 0 first; another
process could take one in between, which on a test machine is rare enough to accept.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from optex.chain.consensus import TimeoutConfig
from optex.node._client import RpcClient
from optex.node._config import PASSWORD_ENV, MempoolConfig
from optex.node._init import Network, init_network


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class LocalCluster:
    """``validators`` node processes started from a fresh :func:`init_network` under ``root``."""

    def __init__(
        self,
        root: Path,
        validators: int,
        *,
        genesis_time_ms: int,
        timeouts: TimeoutConfig | None = None,
        mempool: MempoolConfig | None = None,
        users: int = 4,
        gossip_ms: int = 200,
        log_level: str = "INFO",
    ) -> None:
        ports = free_ports(2 * validators)
        pairs = [(ports[2 * i], ports[2 * i + 1]) for i in range(validators)]
        self.network: Network = init_network(
            root,
            validators=validators,
            genesis_time_ms=genesis_time_ms,
            ports=pairs,
            users=users,
            timeouts=timeouts,
            mempool=mempool,
            gossip_ms=gossip_ms,
        )
        self.log_level = log_level
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * validators

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def rpc_port(self, i: int) -> int:
        """Node ``i``'s RPC port."""
        return self.network.configs[i].rpc_port

    def client(self, i: int) -> RpcClient:
        """A new RPC client of node ``i``."""
        return RpcClient("127.0.0.1", self.rpc_port(i))

    def start(self, i: int) -> None:
        """Start node ``i``'s process."""
        home = self.network.homes[i]
        env = {**os.environ, PASSWORD_ENV: self.network.password}
        with (home / "node.log").open("ab") as log:
            self.processes[i] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "optex.node", "--home", str(home),
                 "--log-level", self.log_level],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )  # fmt: skip

    def start_all(self) -> None:
        """Start every node."""
        for i in range(len(self.processes)):
            self.start(i)

    def kill(self, i: int) -> None:
        """SIGKILL node ``i``: no chance to flush or close anything."""
        process = self.processes[i]
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            self.processes[i] = None

    def stop_all(self) -> None:
        """SIGTERM every running node and wait for it."""
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for i, process in enumerate(self.processes):
            if process is not None:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self.processes[i] = None

    def status(self, i: int) -> dict[str, Any] | None:
        """Node ``i``'s status, or ``None`` if it does not answer."""
        client = self.client(i)
        try:
            return client.status()
        except OSError:
            return None
        finally:
            client.close()

    def height(self, i: int) -> int:
        """Node ``i``'s committed height, -1 if it does not answer."""
        status = self.status(i)
        return -1 if status is None else int(status["height"])

    def wait_for(self, nodes: list[int], height: int, timeout_s: float) -> bool:
        """Whether every node in ``nodes`` reached ``height`` within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.height(i) >= height for i in nodes):
                return True
            time.sleep(0.1)
        return False
