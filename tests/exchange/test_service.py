"""The engine service as real processes on loopback: SIGKILL, restart, standby, JetStream."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import uuid
from pathlib import Path

import nats
import pytest

from optex.cli._engine import register
from optex.core import decode
from optex.exchange import Command, EngineClient, Event, Pipeline, Status
from optex.journal import FileFollower, JetStreamJournal
from optex.market import Fill
from tests.exchange.kit import NATS_URL, EngineProcess, nats_answers, order_stream, setup_commands

pytestmark = pytest.mark.integration


def test_the_cli_module_registers_engine_with_its_options() -> None:
    parser = argparse.ArgumentParser(prog="optex")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["engine", "--home", "home", "--journal", "nats://127.0.0.1:4222", "--standby"]
    )
    assert (args.command, args.home, args.journal, args.standby) == (
        "engine",
        Path("home"),
        "nats://127.0.0.1:4222",
        True,
    )
    assert callable(args.handler)


def replay_file(path: Path) -> Pipeline:
    """An uninterrupted, in-process replay of a whole file journal."""
    pipeline = Pipeline()
    follower = FileFollower(path)
    while entries := follower.poll():
        for entry in entries:
            pipeline.apply_entry(entry)
    return pipeline


async def submit_window(
    client: EngineClient, commands: list[Command], start: int, acked: dict[str, int]
) -> int:
    """Submit from ``start`` in windows of 8 concurrent commands until the connection dies;
    the index of the first command not known to be journaled."""
    index = start
    while index < len(commands):
        window = range(index, min(index + 8, len(commands)))
        results = await asyncio.gather(
            *(client.submit(commands[i], key=f"cmd-{i}") for i in window), return_exceptions=True
        )
        for i, result in zip(window, results, strict=True):
            if isinstance(result, BaseException):
                return i
            acked[f"cmd-{i}"] = result.seq
        index = window.stop
    return index


async def wait_for(client: EngineClient, last_seq: int, timeout_s: float = 20.0) -> Status:
    status = await client.status()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while status.last_seq < last_seq and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        status = await client.status()
    return status


async def test_sigkill_at_random_moments_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261123)
    commands = [*setup_commands(), *order_stream(42, 1500)]
    journal = tmp_path / "primary" / "journal.optexj"
    primary = EngineProcess(tmp_path / "primary", "--snapshot-every", "25")
    standby = EngineProcess(
        tmp_path / "standby", "--journal", str(journal), "--standby", "--snapshot-every", "40"
    )
    acked: dict[str, int] = {}
    next_index = 0
    kills = interrupted = 0
    try:
        host, port = primary.start()
        standby_address = standby.start()
        while next_index < len(commands):
            if not primary.running():
                host, port = primary.start()
            client = await EngineClient.connect(host, port)
            sender = asyncio.create_task(submit_window(client, commands, next_index, acked))
            if kills < 4:
                await asyncio.sleep(rng.uniform(0.02, 0.15))
                primary.kill()
                kills += 1
            next_index = await sender
            interrupted += next_index < len(commands)
            await client.close()
        if not primary.running():
            host, port = primary.start()
        status = await (await EngineClient.connect(host, port)).status()
        primary.kill()  # the last state must also survive a kill
        host, port = primary.start()
        after_restart = await (await EngineClient.connect(host, port)).status()
        follower = await EngineClient.connect(*standby_address)
        standby_status = await wait_for(follower, status.last_seq)
    finally:
        primary.kill()
        standby.kill()
    assert kills == 4 and interrupted >= 3, "the kills should land mid-stream"
    entries = [e for batch in iter(FileFollower(journal).poll, []) for e in batch]
    msg_ids = [e.msg_id for e in entries]
    assert len(msg_ids) == len(set(msg_ids)) == len(commands), "a command journaled twice or lost"
    by_seq = {e.seq: e.msg_id for e in entries}
    assert all(by_seq[seq] == f"k:{key}" for key, seq in acked.items())
    reference = replay_file(journal)
    assert status.last_seq == after_restart.last_seq == reference.last_seq == len(commands)
    assert status.state_hash == after_restart.state_hash == reference.state_hash().hex()
    assert standby_status.state_hash == reference.state_hash().hex()


@pytest.fixture
def nats_stream() -> str:
    if not nats_answers():
        if os.environ.get("CI"):
            pytest.fail(f"no NATS server answers at {NATS_URL}")
        pytest.skip(f"no NATS server at {NATS_URL}")
    return f"TEST_ENGINE_{uuid.uuid4().hex[:12]}"


async def test_the_jetstream_journal_end_to_end_with_a_standby_and_events_on_nats(
    tmp_path: Path, nats_stream: str
) -> None:
    common = ("--journal", NATS_URL, "--stream", nats_stream, "--snapshot-every", "30")
    primary = EngineProcess(tmp_path / "primary", *common)
    standby = EngineProcess(tmp_path / "standby", *common, "--standby")
    nc = await nats.connect(NATS_URL)
    published: list[Event] = []

    async def collect(msg: nats.aio.msg.Msg) -> None:
        published.append(decode(msg.data, Event))  # type: ignore[arg-type]

    await nc.subscribe("optex.events.fill", cb=collect)
    try:
        client = await EngineClient.connect(*primary.start())
        follower = await EngineClient.connect(*standby.start())
        commands = [*setup_commands(), *order_stream(8, 150)]
        receipts = await asyncio.gather(*(client.submit(c) for c in commands))
        fills = [e for r in receipts for e in r.events if isinstance(e, Fill)]
        status = await client.status()
        primary.kill()
        restarted = await EngineClient.connect(*primary.start())
        after_restart = await restarted.status()
        standby_status = await wait_for(follower, status.last_seq)
        await asyncio.sleep(0.2)
        await nc.flush()
    finally:
        primary.kill()
        standby.kill()
        await nc.close()
        journal = await JetStreamJournal.connect(NATS_URL, stream=nats_stream)
        await journal.delete_stream()
        await journal.close()
    assert status.last_seq == len(commands) and fills
    assert after_restart.state_hash == status.state_hash
    assert standby_status.state_hash == status.state_hash
    assert sorted(f.trade_id for f in published) == sorted(f.trade_id for f in fills)
