"""The embedded file journal: ordered, checksummed, idempotent, and honest after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import Conflict, InvalidInput
from optex.journal import (
    MAX_PAYLOAD_BYTES,
    FileJournal,
    FsyncPolicy,
    JournalCorrupt,
    JournalEntry,
    JournalReason,
)


def entries(journal: FileJournal) -> list[JournalEntry]:
    return list(journal.read_sync())


def test_appends_are_numbered_from_one_and_read_back_in_order(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path / "j", fsync=FsyncPolicy.NEVER)
    assert [journal.append_sync(f"c{i}".encode(), f"m{i}").seq for i in range(3)] == [1, 2, 3]
    assert [e.payload for e in entries(journal)] == [b"c0", b"c1", b"c2"]
    assert [e.seq for e in journal.read_sync(2, 2)] == [2]
    journal.close_sync()


def test_a_retried_message_id_returns_the_original_sequence_even_after_a_restart(
    tmp_path: Path,
) -> None:
    journal = FileJournal(tmp_path / "j")
    journal.append_sync(b"a", "order-1")
    journal.append_sync(b"b", "order-2")
    assert journal.append_sync(b"a", "order-1").duplicate
    journal.close_sync()
    reopened = FileJournal(tmp_path / "j")
    result = reopened.append_sync(b"a", "order-1")
    assert (result.seq, result.duplicate) == (1, True)
    assert reopened.last_seq == 2
    reopened.close_sync()


def test_a_batch_is_one_write_and_deduplicates_within_itself(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path / "j")
    results = journal.append_many_sync([(b"x", "a"), (b"y", "b"), (b"x", "a")])
    assert [(r.seq, r.duplicate) for r in results] == [(1, False), (2, False), (1, True)]
    assert journal.last_seq == 2
    journal.close_sync()


def test_a_torn_last_record_is_truncated_and_the_rest_survives(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = FileJournal(path)
    for i in range(5):
        journal.append_sync(b"payload-%d" % i, f"m{i}")
    journal.close_sync()
    full = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(full - 3)  # the crash cut the last record short
    reopened = FileJournal(path)
    assert reopened.last_seq == 4
    assert reopened.truncated_bytes > 0
    assert reopened.append_sync(b"next", "m-next").seq == 5
    reopened.close_sync()


def test_a_last_record_with_a_bad_checksum_is_a_torn_write(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = FileJournal(path)
    journal.append_sync(b"first", "a")
    journal.append_sync(b"second", "b")
    journal.close_sync()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    reopened = FileJournal(path)
    assert [e.payload for e in entries(reopened)] == [b"first"]
    reopened.close_sync()


def test_corruption_before_the_tail_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = FileJournal(path)
    for i in range(3):
        journal.append_sync(b"payload-%d" % i, f"m{i}")
    journal.close_sync()
    data = bytearray(path.read_bytes())
    data[20] ^= 0x01  # inside the first record's body
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match="bad checksum"):
        FileJournal(path)


def test_a_file_that_is_not_a_journal_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(b"not a journal at all")
    with pytest.raises(JournalCorrupt, match="not an optex journal"):
        FileJournal(path)


def test_a_second_writer_on_the_same_file_is_fenced(tmp_path: Path) -> None:
    first = FileJournal(tmp_path / "j")
    with pytest.raises(Conflict) as info:
        FileJournal(tmp_path / "j")
    assert info.value.code is JournalReason.SEQUENCER_FENCED
    first.close_sync()
    FileJournal(tmp_path / "j").close_sync()


@pytest.mark.parametrize(
    ("payload", "msg_id", "code"),
    [
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "m", JournalReason.PAYLOAD_TOO_LARGE),
        (b"x", "", JournalReason.INVALID_MSG_ID),
        (b"x", "a" * 129, JournalReason.INVALID_MSG_ID),
        (b"x", "naïve", JournalReason.INVALID_MSG_ID),
        (b"x", "line\nbreak", JournalReason.INVALID_MSG_ID),
        ("text", "m", JournalReason.PAYLOAD_TOO_LARGE),
    ],
)
def test_bad_appends_are_refused_and_write_nothing(
    tmp_path: Path, payload: bytes, msg_id: str, code: JournalReason
) -> None:
    journal = FileJournal(tmp_path / "j")
    journal.append_sync(b"ok", "ok")
    size = (tmp_path / "j").stat().st_size
    with pytest.raises(InvalidInput) as info:
        journal.append_many_sync([(b"fine", "fine"), (payload, msg_id)])
    assert info.value.code is code
    assert journal.last_seq == 1
    assert (tmp_path / "j").stat().st_size == size
    journal.close_sync()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(max_size=40), st.sampled_from([f"id{i}" for i in range(12)])),
        max_size=40,
    )
)
def test_the_journal_matches_a_list_and_a_dict_across_reopens(
    tmp_path_factory: pytest.TempPathFactory, appends: list[tuple[bytes, str]]
) -> None:
    path = tmp_path_factory.mktemp("j") / "journal"
    model: list[tuple[str, bytes]] = []
    seen: dict[str, int] = {}
    journal = FileJournal(path, fsync=FsyncPolicy.NEVER)
    for i, (payload, msg_id) in enumerate(appends):
        result = journal.append_sync(payload, msg_id)
        if msg_id in seen:
            assert result.duplicate and result.seq == seen[msg_id]
        else:
            model.append((msg_id, payload))
            seen[msg_id] = len(model)
            assert result.seq == len(model)
        if i % 7 == 6:
            journal.close_sync()
            journal = FileJournal(path, fsync=FsyncPolicy.NEVER)
    assert [(e.msg_id, e.payload) for e in entries(journal)] == model
    journal.close_sync()


WRITER = """
import sys
from optex.journal import FileJournal, FsyncPolicy
journal = FileJournal(sys.argv[1], fsync=FsyncPolicy.ALWAYS)
i = journal.last_seq
while True:
    i += 1
    result = journal.append_sync(b"command-%d" % i, "msg-%d" % i)
    print(result.seq, flush=True)
"""


def test_nothing_acknowledged_is_lost_when_the_writer_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "j"
    acknowledged: list[int] = []
    for _round in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None
        deadline = time.monotonic() + 30
        while len(acknowledged) < 50 * (_round + 1) and time.monotonic() < deadline:
            acknowledged.append(int(writer.stdout.readline()))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        journal = FileJournal(path)
        seqs = [e.seq for e in entries(journal)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert set(acknowledged) <= set(seqs)
        assert all(e.payload == b"command-%d" % e.seq for e in entries(journal))
        journal.close_sync()
