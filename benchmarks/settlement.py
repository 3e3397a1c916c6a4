"""Fills settled on chain per second, end to end: journal → ``optex settle`` → four validators.

An in-process engine (sequencer and pipeline, as ``optex engine`` runs them) first journals
``--fills`` crossing pairs of freshly signed orders between two accounts whose trading keys are
registered on chain, so every fill carries two signatures the ledger has never seen (the cold
case). Then ``optex settle`` starts as its own process against a four-validator network on
loopback and the clock runs from its start until its status shows every fill committed: that
covers its journal replay, batch building and signing, broadcasting, consensus, the ledger's
checks and the block scans. Prints one JSON line.

    .venv/bin/python benchmarks/settlement.py [--fills 3000] [--max-fills 300] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from optex.chain import RegisterTradingKey, dump_genesis, load_genesis, sign_tx
from optex.cli._node import FAST_TIMEOUTS
from optex.core import DEFAULT_LISTING_RULES, Clock, SystemClock, Unauthorized, instrument_from_name
from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    SecurityReason,
    Side,
    TradingKeyAuthorization,
    TradingScope,
    sign,
    sign_order,
)
from optex.exchange import Deposit, Pipeline, PlaceSignedOrder, Sequencer, SetPrices
from optex.journal import FileJournal, FsyncPolicy
from optex.market import AddInstrument
from optex.node import LocalCluster
from optex.risk import Mark

CHAIN = "optex-devnet"
PERP = "BTC-PERPETUAL"
INDEX = 100_000_000_000
TRADERS = ("user0", "user1")


class _Keys:
    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys

    def check(self, account: str, public_key: bytes, scope: TradingScope, now_ms: int) -> None:
        if self.keys.get(account) != public_key:
            raise Unauthorized(SecurityReason.DELEGATION_NOT_FOUND, account=account)


async def _journal(path: Path, traders: dict[str, PrivateKey], fills: int, clock: Clock) -> None:
    pipeline = Pipeline()
    journal = FileJournal(path, fsync=FsyncPolicy.NEVER)
    authority = _Keys({a: k.public_key.raw for a, k in traders.items()})
    sequencer = Sequencer(journal, pipeline.apply, clock=clock, chain_id=CHAIN, authority=authority)
    instrument = instrument_from_name(PERP)
    await sequencer.submit(AddInstrument(0, instrument))
    for account in TRADERS:
        await sequencer.submit(Deposit(0, account, 10**12))
    await sequencer.submit(SetPrices(0, {"BTC": INDEX}, {PERP: Mark(INDEX)}))
    expiry = clock.now_ms() + 3_600_000
    pending = []
    for n in range(fills):
        for side, account in ((Side.SELL, "user0"), (Side.BUY, "user1")):
            intent = OrderIntent(
                chain_id=CHAIN,
                account=account,
                instrument=PERP,
                side=side,
                order_type=OrderType.LIMIT,
                price=INDEX,
                quantity=instrument.lot_size,
                nonce=2 * n + (side is Side.BUY),
                expiry_ms=expiry,
            )
            pending.append(
                sequencer.accept(PlaceSignedOrder(0, sign_order(traders[account], intent)))
            )
    await asyncio.gather(*pending)
    await sequencer.close()
    await journal.close()


def _status(home: Path) -> dict[str, int]:
    try:
        data: dict[str, int] = json.loads((home / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def run(fills: int, max_fills: int) -> dict[str, object]:
    """Run the benchmark; its figures."""
    with tempfile.TemporaryDirectory(prefix="optex-settle-bench-") as tmp:
        root = Path(tmp)
        cluster = LocalCluster(
            root / "chain", 4, genesis_time_ms=time.time_ns() // 1_000_000, timeouts=FAST_TIMEOUTS
        )
        homes = [root / "chain", *cluster.network.homes]
        for home in homes:
            genesis = load_genesis(home / "genesis.json")
            listed = {"BTC": DEFAULT_LISTING_RULES["BTC"]}
            genesis = msgspec.structs.replace(genesis, underlyings=listed)
            (home / "genesis.json").write_text(dump_genesis(genesis) + "\n")
        traders = {a: PrivateKey.generate() for a in TRADERS}
        engine_home = root / "engine"
        engine_home.mkdir()
        asyncio.run(_journal(engine_home / "journal.optexj", traders, fills, SystemClock()))
        with cluster:
            cluster.start_all()
            if not cluster.wait_for([0, 1, 2, 3], 2, 60):
                raise SystemExit("the network did not start")
            client = cluster.client(0)
            for account, trader in traders.items():
                owner = cluster.network.users[account]
                message = TradingKeyAuthorization(
                    chain_id=CHAIN,
                    account=account,
                    trading_key=trader.public_key.raw,
                    scopes=(TradingScope.CANCEL, TradingScope.TRADE),
                    not_before_ms=0,
                    expiry_ms=time.time_ns() // 1_000_000 + 86_400_000,
                    nonce=1,
                )
                signature = sign(owner, "delegate/v1", CHAIN, message)
                body = RegisterTradingKey(
                    chain_id=CHAIN, nonce=1, authorization=message, owner_signature=signature
                )
                client.broadcast_tx(sign_tx(owner, body))
            start_height = cluster.height(0)
            cluster.wait_for([0], start_height + 2, 30)
            settle_home = root / "settle"
            settle_home.mkdir()
            command = [
                sys.executable, "-m", "optex.cli._settle",
                "--engine-home", str(engine_home),
                "--node", f"http://127.0.0.1:{cluster.rpc_port(0)}",
                "--operator-key", str(root / "chain" / "keys" / "operator.json"),
                "--password-file", str(root / "chain" / "devnet-password.txt"),
                "--home", str(settle_home),
                "--max-fills", str(max_fills),
                "--log-level", "WARNING",
            ]  # fmt: skip
            begin = time.monotonic()
            with (settle_home / "settle.log").open("wb") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            try:
                first = None
                height0 = cluster.height(0)
                deadline = begin + 600
                while time.monotonic() < deadline:
                    status = _status(settle_home)
                    committed = status.get("committed_fills", 0)
                    if first is None and committed:
                        first = time.monotonic()
                    if committed + status.get("refused_fills", 0) >= fills:
                        break
                    time.sleep(0.02)
                end = time.monotonic()
                blocks = cluster.height(0) - height0
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
            status = _status(settle_home)
    elapsed = end - begin
    steady = end - (first or begin)
    return {
        "benchmark": "settlement",
        "validators": 4,
        "fills": fills,
        "committed_fills": status.get("committed_fills", 0),
        "refused_fills": status.get("refused_fills", 0),
        "batches": status.get("committed_batches", 0),
        "max_fills_per_batch": max_fills,
        "blocks": blocks,
        "seconds": round(elapsed, 2),
        "fills_per_s": round(status.get("committed_fills", 0) / elapsed, 1),
        "fills_per_s_after_first_commit": round((status.get("committed_fills", 0)) / steady, 1)
        if steady > 0
        else None,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    """Parse the options, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=3000)
    parser.add_argument("--max-fills", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="300 fills")
    args = parser.parse_args()
    print(json.dumps(run(300 if args.quick else args.fills, args.max_fills)))


if __name__ == "__main__":
    main()
