"""The pipeline: deterministic, resumable from a snapshot, refusing what it cannot trust."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import InvariantViolation, encode
from optex.exchange import (
    Command,
    CommandFailed,
    Deposit,
    Deposited,
    Pipeline,
    SetPrices,
    SnapshotCorrupt,
    load_snapshot,
    save_snapshot,
)
from optex.journal import JournalEntry
from optex.market import (
    AmendOrder,
    CancelOrder,
    Fill,
    NewOrder,
    OrderAccepted,
    Side,
    TimeInForce,
)
from optex.risk import Mark
from tests.exchange.kit import CALL, PERP, T0, order_stream, setup_commands


def entries(seed: int, count: int) -> list[JournalEntry]:
    commands = [*setup_commands(), *order_stream(seed, count)]
    return [JournalEntry(n, f"s:0:{n}", encode(c)) for n, c in enumerate(commands, 1)]


def replay(journal: list[JournalEntry], pipeline: Pipeline | None = None) -> list[list[object]]:
    pipeline = pipeline if pipeline is not None else Pipeline()
    return [list(pipeline.apply_entry(e)) for e in journal if e.seq > pipeline.last_seq]


def test_a_seeded_stream_trades_and_the_risk_engine_sees_the_fills() -> None:
    pipeline = Pipeline()
    events = [e for batch in replay(entries(7, 300), pipeline) for e in batch]
    fills = [e for e in events if isinstance(e, Fill)]
    assert fills and any(isinstance(e, OrderAccepted) for e in events)
    assert sum(isinstance(e, Deposited) for e in events) == 4
    positions = {
        name: account.positions[PERP].quantity
        for name, account in pipeline.risk.ledger.accounts.items()
        if PERP in account.positions
    }
    assert positions and sum(positions.values()) == 0


def test_two_replays_of_one_journal_have_the_same_state_hash() -> None:
    journal = entries(3, 200)
    first, second = Pipeline(), Pipeline()
    assert replay(journal, first) == replay(journal, second)
    assert first.state_hash() == second.state_hash()
    assert first.state_hash() != Pipeline().state_hash()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.integers(1, 150), cut=st.floats(0, 1))
def test_snapshot_at_any_point_then_replaying_the_rest_equals_a_full_replay(
    seed: int, count: int, cut: float
) -> None:
    journal = entries(seed, count)
    full = Pipeline()
    full_events = replay(journal, full)
    point = int(cut * len(journal))
    head = Pipeline()
    replay(journal[:point], head)
    resumed = Pipeline.restore(head.snapshot())
    assert resumed.state_hash() == head.state_hash()
    assert replay(journal, resumed) == full_events[point:]
    assert resumed.state_hash() == full.state_hash()


def test_a_snapshot_file_round_trips_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    pipeline = Pipeline()
    replay(entries(11, 120), pipeline)
    path = tmp_path / "snapshot.bin"
    assert load_snapshot(path) is None
    save_snapshot(path, pipeline)
    restored = load_snapshot(path)
    assert restored is not None and restored.state_hash() == pipeline.state_hash()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt):
        load_snapshot(path)


def test_an_entry_out_of_order_or_twice_halts_the_pipeline() -> None:
    journal = entries(1, 5)
    pipeline = Pipeline()
    replay(journal[:3], pipeline)
    with pytest.raises(InvariantViolation):
        pipeline.apply_entry(journal[2])
    with pytest.raises(InvariantViolation):
        pipeline.apply_entry(journal[4])
    assert pipeline.last_seq == 3


def test_undecodable_bytes_become_a_command_failed_event_and_change_no_engine() -> None:
    pipeline = Pipeline()
    replay(entries(1, 0), pipeline)
    engine_hash = pipeline.engine.state_hash()
    (event,) = pipeline.apply_entry(JournalEntry(pipeline.last_seq + 1, "x", b"\xc1garbage"))
    assert isinstance(event, CommandFailed) and event.reason == "malformed_command"
    assert pipeline.engine.state_hash() == engine_hash


def test_prices_with_one_bad_mark_change_nothing() -> None:
    pipeline = Pipeline()
    replay(entries(1, 0), pipeline)
    before = pipeline.state_hash()
    bad = SetPrices(T0 + 5, {"BTC": 1}, {PERP: Mark(2), CALL: Mark(-1)})
    (event,) = pipeline.apply(pipeline.last_seq + 1, bad)
    assert isinstance(event, CommandFailed)
    assert pipeline.risk.prices.index["BTC"] != 1
    assert pipeline.engine.book(PERP).mark != 2
    assert pipeline.state_hash() != before  # only the sequence moved
    assert pipeline.engine.state_hash() == Pipeline.restore(pipeline.snapshot()).engine.state_hash()


_accounts = st.sampled_from(["alice", "bob", "carol", "zed"])  # zed never deposits
_GRID = {PERP: (100_000_000_000, 500_000 * 20, 10_000), CALL: (5_000_000_000, 5_000_000, 1_000_000)}


def _order(name: str) -> st.SearchStrategy[NewOrder]:
    mid, step, lot = _GRID[name]
    return st.builds(
        NewOrder,
        ts_ms=st.just(0),
        account=_accounts,
        instrument=st.just(name),
        side=st.sampled_from(Side),
        quantity=st.integers(0, 20).map(lambda n: n * lot),
        price=st.integers(-10, 10).map(lambda n: mid + n * step),
        tif=st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    )


_drawn = st.one_of(
    st.sampled_from([PERP, PERP, CALL, "ETH-PERPETUAL"]).flatmap(
        lambda name: _order(name if name in _GRID else PERP).map(
            lambda o: o if name in _GRID else msgspec.structs.replace(o, instrument=name)
        )
    ),
    st.builds(CancelOrder, ts_ms=st.just(0), account=_accounts, order_id=st.integers(1, 20)),
    st.builds(
        AmendOrder,
        ts_ms=st.just(0),
        account=_accounts,
        order_id=st.integers(1, 20),
        quantity=st.integers(1, 30).map(lambda n: n * 10_000),
    ),
    st.builds(Deposit, ts_ms=st.just(0), account=_accounts, amount=st.integers(-5, 10**12)),
    st.builds(
        SetPrices,
        ts_ms=st.just(0),
        index=st.fixed_dictionaries({"BTC": st.integers(95, 105).map(lambda n: n * 10**9)}),
        marks=st.fixed_dictionaries({PERP: st.integers(95, 105).map(lambda n: Mark(n * 10**9))}),
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    commands=st.lists(_drawn, min_size=20, max_size=80),
    steps=st.lists(st.integers(0, 50)),
    cut=st.data(),
)
def test_drawn_command_streams_resume_from_a_snapshot_with_the_same_events_and_hash(
    commands: list[Command], steps: list[int], cut: st.DataObject
) -> None:
    stamped = [*setup_commands()]
    now = T0
    for n, command in enumerate(commands):
        now += steps[n] if n < len(steps) else 1
        stamped.append(msgspec.structs.replace(command, ts_ms=now))
    journal = [JournalEntry(n, f"s:0:{n}", encode(c)) for n, c in enumerate(stamped, 1)]
    full = Pipeline()
    full_events = replay(journal, full)
    point = cut.draw(st.integers(0, len(journal)))
    head = Pipeline()
    replay(journal[:point], head)
    resumed = Pipeline.restore(head.snapshot())
    assert replay(journal, resumed) == full_events[point:]
    assert resumed.state_hash() == full.state_hash()
