"""The write-ahead log: durable records, torn tails cut off, and restarts that never double sign."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import msgspec
import pytest

from optex.chain.consensus import (
    Broadcast,
    Decided,
    FileWAL,
    MemoryWAL,
    Proposal,
    ScheduleTimeout,
    SignIntent,
    Step,
    Timeout,
    TimeoutKind,
    Vote,
    VoteType,
    WalRecord,
)
from tests.chain.consensus.kit import App, Net, broadcasts, value, votes

A, B = value("block-a"), value("block-b")
_decoder = msgspec.msgpack.Decoder(WalRecord)


def test_file_wal_records_survive_reopening(tmp_path: Path) -> None:
    wal = FileWAL(tmp_path / "wal")
    for record in (b"one", b"", b"three" * 1000):
        wal.append(record)
    wal.close()
    assert list(FileWAL(tmp_path / "wal").replay()) == [b"one", b"", b"three" * 1000]


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00\x00",  # half a header
        struct.pack(">II", 10, zlib.crc32(b"0123456789")) + b"01234",  # half a payload
        struct.pack(">II", 3, zlib.crc32(b"abc") ^ 1) + b"abc",  # a checksum that fails
    ],
)
def test_a_torn_tail_is_truncated_on_open_and_appending_continues(
    tmp_path: Path, tail: bytes
) -> None:
    path = tmp_path / "wal"
    wal = FileWAL(path)
    wal.append(b"kept")
    wal.close()
    intact = path.stat().st_size
    with path.open("ab") as f:
        f.write(tail)
    reopened = FileWAL(path)
    assert path.stat().st_size == intact
    assert list(reopened.replay()) == [b"kept"]
    reopened.append(b"after")
    reopened.close()
    assert list(FileWAL(path).replay()) == [b"kept", b"after"]


class _SpySigner:
    """Signs only what the log already says it is about to sign."""

    def __init__(self, inner, wal: MemoryWAL) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.wal, self.signed = inner, wal, 0

    @property
    def public_key(self) -> bytes:
        return self.inner.public_key  # type: ignore[no-any-return]

    def sign(self, message: bytes) -> bytes:
        last = _decoder.decode(self.wal.records[-1])
        assert isinstance(last, SignIntent), "signed before logging the decision"
        self.signed += 1
        return self.inner.sign(message)  # type: ignore[no-any-return]


def test_every_input_and_signing_decision_is_logged_before_it_is_acted_on() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    wal = MemoryWAL()
    spy = _SpySigner(net.keys[me], wal)
    net.keys[me] = spy  # type: ignore[call-overload]
    m, _, _ = net.machine(me, wal=wal)
    proposal = net.proposal(0, A)
    m.handle(proposal)
    others = [i for i in range(4) if i != me]
    for i in others[:2]:
        m.handle(net.prevote(i, 0, A))
    kinds = [type(_decoder.decode(r)).__name__ for r in wal.records]
    assert kinds == ["Proposal", "SignIntent", "Vote", "Vote", "SignIntent"]
    assert spy.signed == 2


def _restart(net: Net, me: int, wal: MemoryWAL | FileWAL, app: App | None = None):  # type: ignore[no-untyped-def]
    return net.machine(me, app=app, wal=wal)


def test_a_restarted_proposer_re_proposes_the_logged_value_not_a_new_one() -> None:
    net = Net([1, 1, 1, 1])
    me = net.proposer(0)
    wal = MemoryWAL()
    _, _, out = net.machine(me, app=App([A]), wal=wal)
    first = broadcasts(out)
    m, app, out = _restart(net, me, wal, App([B]))
    assert app.asked == []
    again = broadcasts(out)
    assert [m for m in again if isinstance(m, Proposal)] == [first[0]]
    assert set(again) == set(first)
    assert m.step is Step.PREVOTE


def test_a_restarted_validator_resumes_its_round_lock_and_timeouts() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    wal = MemoryWAL()
    m, _, _ = net.machine(me, wal=wal)
    m.handle(net.proposal(0, A))
    others = [i for i in range(4) if i != me]
    for i in others[:2]:
        m.handle(net.prevote(i, 0, A))
    for i in others[:2]:
        m.handle(net.precommit(i, 0, B))
    signed_before = set(broadcasts(m.handle(net.prevote(others[2], 0, A)))) | {
        v for v in m.gossip() if isinstance(v, Vote) and v.validator == net.address(me)
    }
    r, _, out = _restart(net, me, wal)
    assert (r.round, r.step, r.locked_value, r.locked_round) == (0, Step.PRECOMMIT, A, 0)
    assert set(broadcasts(out)) == signed_before
    armed = [o.timeout for o in out if isinstance(o, ScheduleTimeout)]
    assert Timeout(TimeoutKind.PRECOMMIT, 1, 0) in armed
    assert Timeout(TimeoutKind.PROPOSE, 1, 0) in armed  # armed at round start, never fired


def test_a_restart_after_a_decision_reports_it_and_continues_at_the_next_height() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    wal = MemoryWAL()
    m, _, _ = net.machine(me, wal=wal)
    m.handle(net.proposal(0, A))
    for i in (i for i in range(4) if i != me):
        m.handle(net.precommit(i, 0, A))
    assert m.height == 2
    r, _, out = _restart(net, me, wal)
    assert [(o.height, o.value) for o in out if isinstance(o, Decided)] == [(1, A)]
    assert (r.height, r.step) == (2, Step.NEW_HEIGHT)
    assert Timeout(TimeoutKind.COMMIT, 2, 0) in [
        o.timeout for o in out if isinstance(o, ScheduleTimeout)
    ]
    assert r.validators.proposer == m.validators.proposer


def test_a_validator_never_signs_a_second_value_for_a_slot_it_signed_before_a_crash() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    wal = MemoryWAL()
    # The log holds a prevote for A at (1, 0) whose cause was lost, as if the application
    # had been non-deterministic: after the restart a proposal of B must not get a prevote.
    wal.append(msgspec.msgpack.encode(SignIntent(Step.PREVOTE, 1, 0, A.block_hash)))
    m, _, _ = net.machine(me, wal=wal)
    out = m.handle(net.proposal(0, B))
    assert votes(out, VoteType.PREVOTE) == []
    assert m.step is Step.PREVOTE


def test_a_restart_from_a_file_log_behaves_like_one_from_memory(tmp_path: Path) -> None:
    net = Net([1, 1, 1, 1])
    me = net.proposer(0)
    wal = FileWAL(tmp_path / "wal")
    _, _, out = net.machine(me, app=App([A]), wal=wal)
    wal.close()
    _, _, again = _restart(net, me, FileWAL(tmp_path / "wal"), App([B]))
    assert [o for o in again if isinstance(o, Broadcast)] == [
        o for o in out if isinstance(o, Broadcast)
    ]
