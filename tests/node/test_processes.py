"""Four validator processes on loopback: crashes, restarts, catch-up and no fork."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from optex.node import LocalCluster, RpcClient
from tests.node.kit import FAST, transfer


class _Stream(threading.Thread):
    """Submits signed transfers to whichever node answers, until stopped."""

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.key = cluster.network.users["user0"]
        self.nonce = 0
        self.accepted = 0
        self.halt = threading.Event()

    def run(self) -> None:
        clients = [self.cluster.client(i) for i in range(4)]
        target = 0
        while not self.halt.is_set():
            batch = [transfer(self.key, self.nonce + k + 1) for k in range(20)]
            client: RpcClient = clients[target % 4]
            try:
                results = client.broadcast_txs(batch)
            except OSError:
                target += 1
                continue
            self.nonce += len(batch)
            self.accepted += sum("hash" in r for r in results)
            time.sleep(0.05)


def _roots(cluster: LocalCluster, nodes: list[int], height: int) -> set[str]:
    roots = set()
    for i in nodes:
        client = cluster.client(i)
        try:
            roots.add(client.block(height)["header"]["state_root"])
        finally:
            client.close()
    return roots


def test_validators_survive_a_crash_catch_up_and_stop_without_a_quorum(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, 4, genesis_time_ms=time.time_ns() // 1_000_000, timeouts=FAST)
    stream = _Stream(cluster)
    with cluster:
        cluster.start_all()
        assert cluster.wait_for([0, 1, 2, 3], 3, 30), "the network did not start committing"
        stream.start()
        # One of four crashes: the other three keep committing.
        cluster.kill(3)
        h = max(cluster.height(i) for i in range(3))
        assert cluster.wait_for([0, 1, 2], h + 5, 20), "three of four validators stalled"
        # It restarts, catches up, and agrees on the state at a common height.
        cluster.start(3)
        target = max(cluster.height(i) for i in range(3)) + 2
        assert cluster.wait_for([0, 1, 2, 3], target, 30), "the restarted validator lags"
        assert len(_roots(cluster, [0, 1, 2, 3], target)) == 1
        # Two of four crash: no quorum, no commits.
        cluster.kill(2)
        cluster.kill(3)
        time.sleep(1.5)
        stalled = [cluster.height(i) for i in (0, 1)]
        time.sleep(2.0)
        assert [cluster.height(i) for i in (0, 1)] == stalled, "committed without a quorum"
        # One returns: commits resume, with no fork.
        cluster.start(2)
        resumed = max(stalled) + 3
        assert cluster.wait_for([0, 1, 2], resumed, 30), "commits did not resume"
        stream.halt.set()
        stream.join(5)
        common = min(cluster.height(i) for i in (0, 1, 2))
        assert len(_roots(cluster, [0, 1, 2], common)) == 1
        hashes = set()
        for i in (0, 1, 2):
            client = cluster.client(i)
            hashes.add(client.block(common)["hash"])
            client.close()
        assert len(hashes) == 1
        client = cluster.client(0)
        committed = sum(len(client.block(h)["tx_hashes"]) for h in range(1, common + 1))
        client.close()
    assert stream.accepted > 0
    assert committed > 0
