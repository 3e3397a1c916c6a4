"""The engine's order index (``queries.bin``) survives a crash at any point of writing a
snapshot: the records that match whichever snapshot is left are found at the restart.

Before, a SIGKILL between writing ``snapshot.bin`` and ``queries.bin`` left a new snapshot
beside records of the old one; the index started empty, and every order from before that
snapshot answered ``unknown_order`` (found by tests/devnet/test_kill_in_turn.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from optex.core import ManualClock
from optex.exchange import Command, EngineClient, EngineService, ServiceConfig
from optex.exchange import _service as service_module
from optex.journal import write_atomic
from tests.exchange.kit import T0, order_stream, setup_commands


class Crash(Exception):
    """The process dying mid-write, as far as the files on disk can tell."""


async def started(home: Path) -> EngineService:
    config = ServiceConfig(home=home, snapshot_every=100_000, clock=ManualClock(T0))
    service = EngineService(config)
    await service.start()
    return service


async def submit(service: EngineService, commands: list[Command]) -> None:
    assert service.address is not None
    client = await EngineClient.connect(*service.address)
    try:
        for command in commands:
            await client.submit(command)
    finally:
        await client.close()


@pytest.mark.parametrize("dies_writing", ["queries.bin", "snapshot.bin"])
async def test_a_crash_while_writing_a_snapshot_keeps_the_order_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dies_writing: str
) -> None:
    first = await started(tmp_path)
    await submit(first, [*setup_commands(), *order_stream(1, 40)])
    first.save_snapshot()  # a whole pair: snapshot.bin and queries.bin of one sequence
    before = {order_id: view.state for order_id, view in first.queries.orders.items()}
    assert before
    await submit(first, order_stream(2, 40, ts_ms=T0 + 1_000))
    after = {order_id: view.state for order_id, view in first.queries.orders.items()}

    def dying(path: Path, data: bytes) -> None:
        if Path(path).name == dies_writing:
            raise Crash(path)
        write_atomic(path, data)

    monkeypatch.setattr(service_module, "write_atomic", dying)
    with pytest.raises(Crash):
        first.save_snapshot()
    monkeypatch.undo()
    first.failure = Crash("gone")  # a failed service stops without a snapshot of its own
    await first.stop()

    second = await started(tmp_path)
    try:
        # Recovered from whichever snapshot the crash left, plus the journal after it: the
        # index knows every order, as it was when the first process died.
        assert {i: v.state for i, v in second.queries.orders.items()} == after
        assert set(before) <= set(after)
        assert second.pipeline.state_hash() == first.pipeline.state_hash()
    finally:
        await second.stop()
