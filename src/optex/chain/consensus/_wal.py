"""The write-ahead log boundary: a two-method interface, an in-memory log and a file log.

The state machine appends every accepted input and every signing decision before acting on it,
and replays the log on restart (CometBFT's rule), so a validator that crashes never signs two
different things for the same height, round and step. Records are opaque bytes here; the state
machine encodes them.

The file format is a sequence of ``length (4 bytes, big-endian) | CRC32 (4 bytes) | payload``.
``append`` returns only after ``fsync``, so a record that was appended survives a crash. A crash
in the middle of a write leaves a torn tail: a short header, a short payload or a CRC mismatch.
Opening the file truncates from the first such record, because nothing after a torn record was
ever acknowledged.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Protocol

from optex.chain.consensus._errors import ConsensusReason
from optex.core import InvalidInput

_HEADER: Final = struct.Struct(">II")
MAX_RECORD_BYTES: Final = 64 * 1024 * 1024


class WAL(Protocol):
    """A durable, append-only log of records."""

    def append(self, record: bytes) -> None:
        """Add ``record`` at the end; it is durable when this returns."""
        ...

    def replay(self) -> Iterator[bytes]:
        """Every record appended so far, oldest first."""
        ...


class MemoryWAL:
    """A log in a list: for tests, simulations and nodes that accept losing it on a crash.

    In the simulation it plays the disk: the list outlives the state machine that wrote it.
    """

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def append(self, record: bytes) -> None:
        """Keep ``record``."""
        self.records.append(bytes(record))

    def replay(self) -> Iterator[bytes]:
        """The records kept, oldest first."""
        return iter(list(self.records))


def _parse(data: bytes) -> tuple[list[bytes], int]:
    """The intact records of ``data`` and the offset where the intact prefix ends."""
    records: list[bytes] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if length > MAX_RECORD_BYTES or len(payload) != length or zlib.crc32(payload) != crc:
            break
        records.append(payload)
        offset = start + length
    return records, offset


class FileWAL:
    """A log in one append-only file with a length and CRC32 per record and fsync per append."""

    __slots__ = ("_file", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists():
            _, intact = _parse(self.path.read_bytes())
            if intact != self.path.stat().st_size:
                with self.path.open("r+b") as f:
                    f.truncate(intact)
                    f.flush()
                    os.fsync(f.fileno())
        self._file = self.path.open("ab")

    def append(self, record: bytes) -> None:
        """Write ``record`` and fsync before returning."""
        if len(record) > MAX_RECORD_BYTES:
            raise InvalidInput(ConsensusReason.WAL_CORRUPT, "record is too large for the log")
        self._file.write(_HEADER.pack(len(record), zlib.crc32(record)) + record)
        self._file.flush()
        os.fsync(self._file.fileno())

    def replay(self) -> Iterator[bytes]:
        """The intact records, oldest first, read from the file."""
        records, _ = _parse(self.path.read_bytes())
        return iter(records)

    def close(self) -> None:
        """Close the file; appends after this fail."""
        self._file.close()
