"""Consensus's file log with group commit: fsync before every signature, not every input.

:class:`optex.chain.consensus.FileWAL` fsyncs each record, and the state machine appends every
vote and proposal it accepts: about forty fsyncs per height per node, each several
milliseconds on a busy disk, all on the consensus path. :class:`SignSyncWAL` writes every
record to the file at once (so it survives the process being killed) but fsyncs only when it
appends a signing decision (``SignIntent``) or a decision (``Decided``). One fsync makes the
whole file durable, so every input that could have influenced a signature is on disk before the
signature is made: a power loss can only lose inputs that no signature depended on, which is
the same as not having received them. This is CometBFT's split between ``Write`` for peers'
messages and ``WriteSync`` for its own.

The log is also kept short. A ``Decided`` record starts a new file holding only that record
(written beside the log, fsynced, then renamed over it): what came before concerns decided
heights, at which the machine never signs again, and the decision itself is kept so that a node
that crashed before applying it to the ledger applies it on restart. A crash before the rename
leaves the old file, from which replay derives the same decision.

The file format is FileWAL's (``length | CRC32 | payload``), and opening, torn-tail truncation
and replay are FileWAL's own.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Final

import msgspec

from optex.chain.consensus import FileWAL

DURABLE_TAGS: Final = frozenset({"SignIntent", "Decided"})
_HEADER: Final = struct.Struct(">II")


class _Tagged(msgspec.Struct):
    tag: str = ""


_tag_decoder = msgspec.msgpack.Decoder(_Tagged)


class SignSyncWAL(FileWAL):
    """A :class:`FileWAL` that fsyncs before signatures and decisions only."""

    __slots__ = ()

    def append(self, record: bytes) -> None:
        """Write ``record``; fsync the file if it is a signing decision or a decision."""
        tag = _record_tag(record)
        if tag == "Decided":
            self._restart_with(record)
        elif tag in DURABLE_TAGS:
            super().append(record)
        else:
            self._file.write(_frame(record))
            self._file.flush()

    def _restart_with(self, record: bytes) -> None:
        fresh = self.path.with_name(self.path.name + ".next")
        with fresh.open("wb") as f:
            f.write(_frame(record))
            f.flush()
            os.fsync(f.fileno())
        self._file.close()
        os.replace(fresh, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._file = self.path.open("ab")


def _frame(record: bytes) -> bytes:
    return _HEADER.pack(len(record), zlib.crc32(record)) + record


def _record_tag(record: bytes) -> str:
    """The record's type tag; an unreadable record counts as a signing decision (synced)."""
    try:
        return _tag_decoder.decode(record).tag
    except msgspec.DecodeError:
        return "SignIntent"
