"""The engine service in this process: events, standby, recovery checks, the file follower."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from optex.core import InvalidInput, ManualClock, encode
from optex.exchange import (
    EngineClient,
    EngineService,
    EventBus,
    ServiceConfig,
    SnapshotCorrupt,
)
from optex.journal import FileFollower, FileJournal, FsyncPolicy
from optex.market import BookDelta
from tests.exchange.kit import T0, order_stream, setup_commands


def config(home: Path, **changes: object) -> ServiceConfig:
    options: dict[str, object] = {"snapshot_every": 10, "clock": ManualClock(T0)}
    options.update(changes)
    return ServiceConfig(home=home, **options)  # type: ignore[arg-type]


async def fill(service: EngineService, count: int, seed: int = 4) -> None:
    assert service.address is not None
    client = await EngineClient.connect(*service.address)
    try:
        for command in [*setup_commands(), *order_stream(seed, count)]:
            await client.submit(command)
    finally:
        await client.close()


async def test_subscribers_receive_every_commands_events_in_journal_order(tmp_path: Path) -> None:
    service = EngineService(config(tmp_path))
    await service.start()
    subscription = service.bus.subscribe()
    try:
        await fill(service, 60)
    finally:
        await service.stop()
    subscription.close()
    received = [item async for item in subscription]
    assert [item.seq for item in received] == list(range(1, 68))
    assert any(isinstance(e, BookDelta) for item in received for e in item.events)


async def test_a_subscriber_that_falls_behind_is_dropped_rather_than_waited_for() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=3)
    fast = bus.subscribe()
    for seq in range(1, 11):
        bus.publish(seq, [])
    fast.close()
    assert slow.overflowed
    assert [item.seq async for item in slow] == [1, 2, 3]
    assert [item.seq async for item in fast] == list(range(1, 11))


async def test_a_standby_follows_the_file_journal_and_refuses_submissions(tmp_path: Path) -> None:
    primary = EngineService(config(tmp_path / "primary"))
    await primary.start()
    journal = str(tmp_path / "primary" / "journal.optexj")
    standby = EngineService(config(tmp_path / "standby", journal=journal, standby=True))
    await standby.start()
    try:
        await fill(primary, 80)
        for _ in range(200):
            if standby.pipeline.last_seq == primary.pipeline.last_seq:
                break
            await asyncio.sleep(0.01)
        assert standby.status().state_hash == primary.status().state_hash
        assert standby.address is not None
        client = await EngineClient.connect(*standby.address)
        with pytest.raises(InvalidInput) as caught:
            await client.submit(setup_commands()[0])
        await client.close()
        assert caught.value.reason == "standby"
    finally:
        await standby.stop()
        await primary.stop()


async def test_a_restart_resumes_from_the_snapshot_and_the_journal(tmp_path: Path) -> None:
    service = EngineService(config(tmp_path, snapshot_every=1000))
    await service.start()
    await fill(service, 50)
    service.save_snapshot()
    await fill(service, 25, seed=5)  # not in the snapshot: replayed from the journal
    expected = service.status()
    await service.stop()
    (tmp_path / ".snapshot.bin.999.tmp").write_bytes(b"half a snapshot")
    again = EngineService(config(tmp_path))
    await again.start()
    try:
        assert again.status().state_hash == expected.state_hash
        assert not list(tmp_path.glob(".snapshot.bin.*"))
    finally:
        await again.stop()


async def test_a_snapshot_ahead_of_its_journal_is_refused(tmp_path: Path) -> None:
    service = EngineService(config(tmp_path / "a"))
    await service.start()
    await fill(service, 20)
    await service.stop()
    other = tmp_path / "b"
    other.mkdir()
    (other / "snapshot.bin").write_bytes((tmp_path / "a" / "snapshot.bin").read_bytes())
    with pytest.raises(SnapshotCorrupt):
        await EngineService(config(other)).start()


async def test_the_file_follower_returns_only_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = FileJournal(path, fsync=FsyncPolicy.NEVER)
    follower = FileFollower(path)
    try:
        await journal.append(encode(setup_commands()[0]), "a")
        assert [e.msg_id for e in follower.poll()] == ["a"]
        await journal.append(b"second", "b")
        whole = path.read_bytes()
        journal.close_sync()
        path.write_bytes(whole[:-3])  # the second record cut short, as by a crash mid-write
        assert follower.poll() == []
        path.write_bytes(whole)
        assert [e.payload for e in follower.poll()] == [b"second"]
    finally:
        journal.close_sync()
