"""Commands per second through the sequencer, the journal and the engine pipeline.

Each case runs ``--clients`` concurrent closed-loop submitters (each waits for its receipt
before sending the next command), so the sequencer's group commit batches what arrives while a
write is on its way to the disk. Latency is from ``submit`` to the receipt with the command's
events (journaled, matched with the risk check, risk applied). Cases:

* ``file-always``: the file journal with ``fsync=always`` (an acknowledged command survives
  power loss), group commit: one write and one fsync per batch;
* ``file-interval``: the file journal with ``fsync=interval`` (5 ms);
* ``file-always-1-client``: the same with one client, so no batching: the unloaded latency;
* ``jetstream``: NATS JetStream at ``--nats`` (each append acknowledged by the server), or
  marked unavailable when no server answers.

One JSON line per case.

    python benchmarks/engine_service.py [--quick] [--commands N] [--clients C] [--nats URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from optex.core import ManualClock, instrument_from_name
from optex.exchange import Command, Deposit, Pipeline, Sequencer, SetPrices
from optex.journal import FileJournal, FsyncPolicy, JetStreamJournal, Journal
from optex.market import AddInstrument, CancelOrder, NewOrder, Side
from optex.risk import Mark

PERP = "BTC-PERPETUAL"
INDEX = 100_000_000_000
ACCOUNTS = [f"acct{n}" for n in range(16)]


def setup() -> list[Command]:
    return [
        AddInstrument(0, instrument_from_name(PERP)),
        *[Deposit(0, a, 10**15) for a in ACCOUNTS],
        SetPrices(0, {"BTC": INDEX}, {PERP: Mark(INDEX)}),
    ]


def stream(seed: int, count: int) -> list[Command]:
    """70% limit orders around the index (about a third cross), 30% cancels."""
    rng = random.Random(seed)
    instrument = instrument_from_name(PERP)
    commands: list[Command] = []
    for n in range(count):
        account = rng.choice(ACCOUNTS)
        if rng.random() < 0.7:
            price = INDEX + rng.randint(-30, 30) * 50 * instrument.tick_size
            quantity = rng.randint(1, 10) * instrument.lot_size
            commands.append(
                NewOrder(0, account, PERP, rng.choice((Side.BUY, Side.SELL)), quantity, price)
            )
        else:
            commands.append(CancelOrder(0, account, order_id=rng.randint(1, n + 1)))
    return commands


async def run_case(
    name: str, journal: Journal, commands: list[Command], clients: int
) -> dict[str, Any]:
    pipeline = Pipeline()
    clock = ManualClock(1_790_000_000_000)
    sequencer = Sequencer(journal, pipeline.apply, clock=clock)
    for command in setup():
        await sequencer.submit(command)
    latencies: list[float] = []
    shares = [commands[i::clients] for i in range(clients)]

    async def client(mine: list[Command]) -> None:
        for command in mine:
            started = time.perf_counter()
            await sequencer.submit(command)
            latencies.append(time.perf_counter() - started)

    batches_before = sequencer.batches
    started = time.perf_counter()
    await asyncio.gather(*(client(share) for share in shares))
    elapsed = time.perf_counter() - started
    await sequencer.close()
    latencies.sort()
    return {
        "case": name,
        "commands": len(commands),
        "clients": clients,
        "commands_per_s": round(len(commands) / elapsed),
        "p50_us": round(latencies[len(latencies) // 2] * 1e6, 1),
        "p99_us": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6, 1),
        "mean_batch": round(len(commands) / max(1, sequencer.batches - batches_before), 1),
        "state_hash": pipeline.state_hash().hex()[:16],
    }


def nats_answers(url: str) -> bool:
    host, port = url.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    count = 1_000 if args.quick else args.commands
    commands = stream(1, count)
    with tempfile.TemporaryDirectory() as home:
        for name, policy in (
            ("file-always", FsyncPolicy.ALWAYS),
            ("file-interval", FsyncPolicy.INTERVAL),
        ):
            journal = FileJournal(Path(home) / f"{name}.optexj", fsync=policy)
            try:
                print(json.dumps(await run_case(name, journal, commands, args.clients)), flush=True)
            finally:
                await journal.close()
        journal = FileJournal(Path(home) / "single.optexj", fsync=FsyncPolicy.ALWAYS)
        try:
            single = commands[: max(200, count // 10)]
            print(
                json.dumps(await run_case("file-always-1-client", journal, single, 1)), flush=True
            )
        finally:
            await journal.close()
    if not nats_answers(args.nats):
        print(json.dumps({"case": "jetstream", "unavailable": f"no NATS at {args.nats}"}))
        return
    stream_name = f"BENCH_{uuid.uuid4().hex[:12]}"
    jetstream = await JetStreamJournal.connect(args.nats, stream=stream_name)
    try:
        js_commands = commands[: max(200, count // 4)]
        print(
            json.dumps(await run_case("jetstream", jetstream, js_commands, args.clients)),
            flush=True,
        )
    finally:
        await jetstream.delete_stream()
        await jetstream.close()


if __name__ == "__main__":
    asyncio.run(main())
