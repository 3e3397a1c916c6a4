"""The node's consensus log: every record kept, fsync only before signatures and decisions."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from optex.chain.consensus import (
    Commit,
    Decided,
    FileWAL,
    SignIntent,
    Step,
    Timeout,
    TimeoutKind,
    Value,
    Vote,
    VoteType,
)
from optex.node import SignSyncWAL

_encode = msgspec.msgpack.Encoder(order="sorted").encode


def test_inputs_are_written_at_once_but_only_signing_decisions_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    wal = SignSyncWAL(tmp_path / "consensus.wal")
    vote = _encode(Vote(VoteType.PREVOTE, 1, 0, b"\x01" * 32, b"\x02" * 20, b"\x03" * 64))
    timeout = _encode(Timeout(TimeoutKind.PROPOSE, 1, 0))
    intent = _encode(SignIntent(Step.PREVOTE, 1, 0, b"\x01" * 32))
    wal.append(vote)
    wal.append(timeout)
    assert synced == []
    # Written through to the file: a killed process loses nothing it appended.
    assert list(FileWAL(tmp_path / "consensus.wal").replay()) == [vote, timeout]
    wal.append(intent)
    assert len(synced) == 1
    wal.close()
    assert list(SignSyncWAL(tmp_path / "consensus.wal").replay()) == [vote, timeout, intent]


def test_an_unreadable_record_is_treated_as_a_signing_decision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    wal = SignSyncWAL(tmp_path / "consensus.wal")
    wal.append(b"\xc1not msgpack")
    assert len(synced) == 1


def test_a_decision_starts_a_new_log_that_keeps_only_the_decision(tmp_path: Path) -> None:
    path = tmp_path / "consensus.wal"
    wal = SignSyncWAL(path)
    for round_ in range(3):
        wal.append(_encode(Timeout(TimeoutKind.PROPOSE, 1, round_)))
    wal.append(_encode(SignIntent(Step.PREVOTE, 1, 2, None)))
    value = Value(b"\x05" * 32, b"block")
    decided = _encode(Decided(1, 2, value, Commit(1, 2, b"\x05" * 32, ())))
    wal.append(decided)
    after = _encode(Timeout(TimeoutKind.COMMIT, 2, 0))
    wal.append(after)
    wal.close()
    assert list(SignSyncWAL(path).replay()) == [decided, after]
    assert not (tmp_path / "consensus.wal.next").exists()
