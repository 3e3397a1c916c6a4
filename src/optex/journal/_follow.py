"""Following a journal that another process writes: a standby replica's input.

A :class:`FileFollower` reads a :class:`~optex.journal.FileJournal`'s file without taking its
writer lock, record by record from where it stopped, and returns only whole records whose
checksum holds: a record still being written (or a torn tail the writer will truncate on its
restart) is simply not there yet. It reads the journal's own record format, through the
journal's own decoder.

:func:`follow` turns any journal into an endless, ordered stream of entries from a sequence
on, polling the file follower or the journal's ``read`` (JetStream answers it from the server).
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

from optex.journal._api import Journal, JournalCorrupt, JournalEntry
from optex.journal._file import _BODY_HEAD, _FRAME, MAGIC, _decode_body


class FileFollower:
    """Reads a file journal's new records as they are written, never writing or locking."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self.last_seq = 0

    def poll(self, limit: int = 4096) -> list[JournalEntry]:
        """The whole records written since the last call (at most ``limit``)."""
        found: list[JournalEntry] = []
        try:
            file = open(self.path, "rb")  # noqa: SIM115 - closed below, read per poll
        except FileNotFoundError:
            return found
        with file:
            if self._offset == 0:
                if file.read(len(MAGIC)) != MAGIC:
                    return found  # not written yet, or being created
                self._offset = len(MAGIC)
            file.seek(self._offset)
            while len(found) < limit:
                frame = file.read(_FRAME.size)
                if len(frame) < _FRAME.size:
                    break
                length, crc = _FRAME.unpack(frame)
                body = file.read(length)
                if len(body) < length or length < _BODY_HEAD.size or zlib.crc32(body) != crc:
                    break  # not written whole yet
                entry = _decode_body(body)
                if entry.seq != self.last_seq + 1:
                    raise JournalCorrupt(
                        f"{self.path}: sequence {entry.seq} follows {self.last_seq}"
                    )
                found.append(entry)
                self.last_seq = entry.seq
                self._offset += _FRAME.size + length
        return found

    def skip_to(self, seq: int) -> None:
        """Read past the records up to ``seq`` (already applied from a snapshot)."""
        while self.last_seq < seq:
            if not self.poll(limit=min(4096, seq - self.last_seq)):
                raise JournalCorrupt(f"{self.path} ends at {self.last_seq}, before {seq}")


async def follow(
    source: Journal | FileFollower, from_seq: int, *, poll_s: float = 0.01
) -> AsyncIterator[JournalEntry]:
    """Every entry from ``from_seq`` on, in order, waiting for new ones forever."""
    if isinstance(source, FileFollower):
        source.skip_to(from_seq - 1)
        while True:
            entries = source.poll()
            for entry in entries:
                yield entry
            if not entries:
                await asyncio.sleep(poll_s)
    next_seq = from_seq
    while True:
        moved = False
        async for entry in source.read(next_seq):
            yield entry
            next_seq = entry.seq + 1
            moved = True
        if not moved:
            await asyncio.sleep(poll_s)
