"""Four validator processes on loopback under a stream of signed transfers.

Measures committed transactions per second and the latency from submission (the RPC call that
admitted the transaction) to commit (the moment the poller sees the block on node 0), p50 and
p99. Transfers are signed before the run; each sender submits to one node (so its nonces reach
the proposer in order), at a fixed offered rate. Prints one JSON line.

    .venv/bin/python benchmarks/consensus.py [--rate 2500] [--seconds 20] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from optex.chain import SignedTx, Transfer, sign_tx
from optex.chain.consensus import TimeoutConfig
from optex.node import LocalCluster, MempoolConfig, RpcClient

TIMEOUTS = TimeoutConfig(
    propose_ms=2000,
    propose_delta_ms=500,
    prevote_ms=300,
    prevote_delta_ms=150,
    precommit_ms=300,
    precommit_delta_ms=150,
    commit_ms=50,
)
SENDERS = 8
BLOCK_MAX_TXS = 2_000
MEMPOOL_MAX_TXS = 10_000
BATCH = 100


def _sign_all(cluster: LocalCluster, total: int) -> list[list[SignedTx]]:
    """Per sender, its transfers in nonce order."""
    per_sender = -(-total // SENDERS)
    out = []
    for s in range(SENDERS):
        key = cluster.network.users[f"user{s}"]
        dest = f"user{(s + 1) % SENDERS}"
        out.append(
            [
                sign_tx(key, Transfer(chain_id="optex-devnet", nonce=n + 1, source=f"user{s}",
                                      destination=dest, asset="USDC", amount=1))
                for n in range(per_sender)
            ]
        )  # fmt: skip
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(rate: int, seconds: float, keep: Path | None = None) -> dict[str, object]:
    """One run; the figures as a dict. ``keep``: leave the homes and logs there."""
    total = int(rate * seconds)
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalCluster(
            keep or Path(tmp),
            4,
            genesis_time_ms=time.time_ns() // 1_000_000,
            timeouts=TIMEOUTS,
            mempool=MempoolConfig(max_txs=MEMPOOL_MAX_TXS, block_max_txs=BLOCK_MAX_TXS),
            users=SENDERS,
            log_level="INFO" if keep else "WARNING",
        ) as cluster,
    ):
        streams = _sign_all(cluster, total)
        cluster.start_all()
        if not cluster.wait_for([0, 1, 2, 3], 2, 60):
            raise SystemExit("the network did not start")
        submitted: dict[str, float] = {}
        refused = 0
        committed: dict[str, float] = {}
        ok = 0
        lock = threading.Lock()
        done = threading.Event()

        def submit(sender: int) -> None:
            nonlocal refused
            client = cluster.client(sender % 4)
            txs = streams[sender]
            interval = BATCH / (rate / SENDERS)
            start = time.monotonic()
            for k in range(0, len(txs), BATCH):
                delay = start + (k // BATCH) * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                now = time.monotonic()
                results = client.broadcast_txs(txs[k : k + BATCH])
                with lock:
                    for r in results:
                        if "hash" in r:
                            submitted[r["hash"]] = now
                        else:
                            refused += 1
            client.close()

        def poll() -> None:
            nonlocal ok
            client: RpcClient = cluster.client(0)
            height = client.status()["height"] + 1
            while not done.is_set():
                if client.status()["height"] < height:
                    time.sleep(0.02)
                    continue
                block = client.block(height)
                now = time.monotonic()
                with lock:
                    for digest, result in zip(block["tx_hashes"], block["results"], strict=True):
                        committed[digest] = now
                        ok += result["code"] == 0
                height += 1
            client.close()

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        senders = [threading.Thread(target=submit, args=(s,)) for s in range(SENDERS)]
        t0 = time.monotonic()
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if all(h in committed for h in submitted):
                    break
            time.sleep(0.1)
        done.set()
        poller.join(5)
        with lock:
            latencies = [committed[h] - t for h, t in submitted.items() if h in committed]
            last = max((committed[h] for h in submitted if h in committed), default=t0)
            count = len(latencies)
        common = min(cluster.height(i) for i in range(4))
        roots = set()
        for i in range(4):
            client = cluster.client(i)
            roots.add(client.block(common)["header"]["state_root"])
            client.close()
    return {
        "case": "four_validators_loopback_transfers",
        "offered_tx_per_s": rate,
        "submitted": len(submitted),
        "refused_by_mempool": refused,
        "committed": count,
        "committed_ok": ok,
        "committed_tx_per_s": round(count / max(last - t0, 1e-9), 1),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p99_s": round(_percentile(latencies, 0.99), 3) if latencies else None,
        "common_height": common,
        "distinct_state_roots_at_common_height": len(roots),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    """Parse the flags, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2500, help="offered transactions per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="a few seconds at a low rate")
    parser.add_argument("--keep", type=Path, help="keep the node homes and logs in this new dir")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds = 200, 2.0
    print(json.dumps(run(args.rate, args.seconds, args.keep)))


if __name__ == "__main__":
    main()
