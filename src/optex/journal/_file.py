"""The embedded journal: one append-only file with a checksum on every record.

Layout: an 8-byte magic, then records of ``length u32 | crc32 u32 | body`` where the body is
``seq u64 | msg_id_length u16 | msg_id | payload`` (big-endian). Opening the file scans it:

- a last record that is cut short or fails its checksum is a torn write from a crash: it was
  never acknowledged (appends acknowledge after the write returns), so it is truncated away;
- a bad record with valid data after it, or a gap in the sequence, is corruption, and the
  journal refuses to open (:class:`JournalCorrupt`) rather than replay a history it cannot
  trust.

Message ids of the last ``dedupe_window`` entries are kept (and rebuilt on open), so an append
retried after a crash is recognised, as JetStream's duplicate window does.

A lock file (``flock``) fences a second writer on the same host.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

from optex.core import InvalidInput
from optex.journal._api import (
    AppendResult,
    FsyncPolicy,
    JournalCorrupt,
    JournalEntry,
    JournalReason,
    check_append,
    fenced,
)

MAGIC: Final = b"OPTEXJ\x00\x01"
_FRAME = struct.Struct(">II")
_BODY_HEAD = struct.Struct(">QH")


class FileJournal:
    """An append-only journal in one local file (the embedded default)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
        fsync_interval_ms: int = 5,
        dedupe_window: int = 100_000,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fsync_interval_ns = fsync_interval_ms * 1_000_000
        self._last_sync_ns = 0
        self._dedupe_window = dedupe_window
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._last_seq = 0
        self.truncated_bytes = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_suffix(self.path.suffix + ".lock"), "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise fenced(0) from None
        self._file = open(self.path, "a+b")  # noqa: SIM115 - lives as long as the journal
        self._recover()

    @property
    def last_seq(self) -> int:
        """The sequence of the last entry, 0 when empty."""
        return self._last_seq

    def _recover(self) -> None:
        size = os.fstat(self._file.fileno()).st_size
        if size == 0:
            self._file.write(MAGIC)
            self._sync(force=True)
            return
        end = MAGIC_LEN
        for offset, entry, record_end in self._scan(size):
            self._remember(entry.msg_id, entry.seq)
            self._last_seq = entry.seq
            end = record_end
            del offset
        if end < size:
            self.truncated_bytes = size - end
            self._file.truncate(end)
            self._sync(force=True)

    def _scan(self, size: int) -> Iterator[tuple[int, JournalEntry, int]]:
        """Valid records in order; stops at a torn tail, raises on corruption before it."""
        with open(self.path, "rb") as reader:
            if reader.read(MAGIC_LEN) != MAGIC:
                raise JournalCorrupt(f"{self.path} is not an optex journal")
            offset = MAGIC_LEN
            expected_seq = 1
            while offset < size:
                frame = reader.read(_FRAME.size)
                if len(frame) < _FRAME.size:
                    return  # torn frame header at the tail
                length, crc = _FRAME.unpack(frame)
                body = reader.read(length)
                record_end = offset + _FRAME.size + length
                if len(body) < length:
                    return  # torn body at the tail
                if zlib.crc32(body) != crc or length < _BODY_HEAD.size:
                    if record_end >= size:
                        return  # the last record was half-written
                    raise JournalCorrupt(f"{self.path}: bad checksum at byte {offset}")
                entry = _decode_body(body)
                if entry.seq != expected_seq:
                    raise JournalCorrupt(
                        f"{self.path}: sequence {entry.seq} at byte {offset}, "
                        f"expected {expected_seq}"
                    )
                yield offset, entry, record_end
                expected_seq += 1
                offset = record_end

    def _remember(self, msg_id: str, seq: int) -> None:
        self._recent[msg_id] = seq
        if len(self._recent) > self._dedupe_window:
            self._recent.popitem(last=False)

    def append_sync(self, payload: bytes, msg_id: str) -> AppendResult:
        """Append one command and apply the fsync policy before returning."""
        return self.append_many_sync([(payload, msg_id)])[0]

    def append_many_sync(self, items: list[tuple[bytes, str]]) -> list[AppendResult]:
        """Append a batch with one write and at most one fsync (group commit)."""
        if self._file.closed:
            raise InvalidInput(JournalReason.JOURNAL_CLOSED)
        encoded = [(check_append(payload, msg_id), bytes(payload)) for payload, msg_id in items]
        results: list[AppendResult] = []
        chunks: list[bytes] = []
        seq = self._last_seq
        batch_ids: dict[str, int] = {}
        for msg_id_bytes, payload in encoded:
            msg_id = msg_id_bytes.decode("ascii")
            known = batch_ids.get(msg_id) or self._recent.get(msg_id)
            if known is not None:
                results.append(AppendResult(known, duplicate=True))
                continue
            seq += 1
            body = _BODY_HEAD.pack(seq, len(msg_id_bytes)) + msg_id_bytes + payload
            chunks.append(_FRAME.pack(len(body), zlib.crc32(body)) + body)
            batch_ids[msg_id] = seq
            results.append(AppendResult(seq))
        if chunks:
            self._file.write(b"".join(chunks))
            self._sync()
            for msg_id, entry_seq in batch_ids.items():
                self._remember(msg_id, entry_seq)
            self._last_seq = seq
        return results

    def _sync(self, *, force: bool = False) -> None:
        self._file.flush()
        if self.fsync is FsyncPolicy.NEVER and not force:
            return
        now = time.monotonic_ns()
        if (
            force
            or self.fsync is FsyncPolicy.ALWAYS
            or now - self._last_sync_ns >= self._fsync_interval_ns
        ):
            os.fsync(self._file.fileno())
            self._last_sync_ns = now

    def read_sync(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[JournalEntry]:
        """Entries from ``from_seq`` through ``to_seq`` (default: the last one now)."""
        self._file.flush()
        last = self._last_seq if to_seq is None else min(to_seq, self._last_seq)
        size = os.fstat(self._file.fileno()).st_size
        for _, entry, _ in self._scan(size):
            if entry.seq > last:
                return
            if entry.seq >= from_seq:
                yield entry

    async def append(self, payload: bytes, msg_id: str) -> AppendResult:
        """Append one command (see :meth:`append_sync`)."""
        return self.append_sync(payload, msg_id)

    async def read(
        self, from_seq: int = 1, to_seq: int | None = None
    ) -> AsyncIterator[JournalEntry]:
        """Entries from ``from_seq`` through ``to_seq`` (default: the last one now)."""
        for entry in self.read_sync(from_seq, to_seq):
            yield entry

    def close_sync(self) -> None:
        """Flush, fsync and release the file and its lock."""
        if not self._file.closed:
            self._sync(force=True)
            self._file.close()
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    async def close(self) -> None:
        """Flush, fsync and release the file and its lock."""
        self.close_sync()


MAGIC_LEN: Final = len(MAGIC)


def _decode_body(body: bytes) -> JournalEntry:
    seq, id_length = _BODY_HEAD.unpack_from(body)
    start = _BODY_HEAD.size
    msg_id = body[start : start + id_length].decode("ascii", errors="replace")
    return JournalEntry(seq, msg_id, body[start + id_length :])
