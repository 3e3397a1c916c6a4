"""The journal interface: an append-only, totally ordered log of commands.

Every command the exchange accepts is appended here before the engine sees it, and the engine
is a function of the journal: replaying it from a snapshot's sequence gives the same state. Each
entry carries the sequencer's message id, so a retried append is recognised and not written
twice, and appends can be fenced so that only one sequencer writes at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import Enum
from typing import Final, Protocol

import msgspec

from optex.core import Conflict, InvalidInput, InvariantViolation, ReasonCode, register_reasons

MAX_PAYLOAD_BYTES: Final = 1 << 20
MAX_MSG_ID_BYTES: Final = 128


class JournalReason(ReasonCode):
    """Reason codes of ``optex.journal`` (7000-7199)."""

    PAYLOAD_TOO_LARGE = 7000, "the command is larger than a journal record may be"
    INVALID_MSG_ID = 7001, "the message id is empty, too long or not printable ASCII"
    SEQUENCER_FENCED = 7002, "another sequencer has written to the journal; this one must stop"
    JOURNAL_CLOSED = 7003, "the journal is closed"
    INVALID_JOURNAL_URL = 7004, "the journal address is not a file path or nats:// URL"


register_reasons(JournalReason, range(7000, 7200))


class JournalCorrupt(InvariantViolation):
    """A record before the tail failed its checksum: the journal cannot be trusted to replay."""


class FsyncPolicy(Enum):
    """When appended records are forced to stable storage."""

    ALWAYS = "always"
    """fsync before an append returns: an acknowledged command survives power loss."""
    INTERVAL = "interval"
    """fsync at most every ``fsync_interval_ms``: survives a process crash, not power loss."""
    NEVER = "never"
    """Leave it to the operating system: for tests and simulations."""


class JournalEntry(msgspec.Struct, frozen=True):
    """One journaled command: its position, the sequencer's message id and its bytes."""

    seq: int
    msg_id: str
    payload: bytes


class AppendResult(msgspec.Struct, frozen=True):
    """Where an append landed; ``duplicate`` when the message id was already journaled."""

    seq: int
    duplicate: bool = False


class Journal(Protocol):
    """An append-only log of commands; the file and JetStream journals implement it."""

    @property
    def last_seq(self) -> int:
        """The sequence of the last entry, 0 when empty."""
        ...

    async def append(self, payload: bytes, msg_id: str) -> AppendResult:
        """Append one command; a message id seen before returns the original's sequence."""
        ...

    def read(self, from_seq: int = 1, to_seq: int | None = None) -> AsyncIterator[JournalEntry]:
        """Entries from ``from_seq`` to ``to_seq`` (default: the last at the time of the call)."""
        ...

    async def close(self) -> None:
        """Flush and release the journal."""
        ...


def check_append(payload: bytes, msg_id: str) -> bytes:
    """Validate an append's arguments; returns the message id as bytes."""
    if not isinstance(payload, bytes | bytearray):
        raise InvalidInput(JournalReason.PAYLOAD_TOO_LARGE, "a journal payload is bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(
            JournalReason.PAYLOAD_TOO_LARGE,
            f"a {len(payload)}-byte command is larger than {MAX_PAYLOAD_BYTES} bytes",
        )
    if (
        not isinstance(msg_id, str)
        or not msg_id
        or not msg_id.isascii()
        or not msg_id.isprintable()
        or len(msg_id) > MAX_MSG_ID_BYTES
    ):
        raise InvalidInput(JournalReason.INVALID_MSG_ID, f"bad message id {msg_id!r:.40}")
    return msg_id.encode("ascii")


def fenced(expected: int, actual: int | None = None) -> Conflict:
    """The error for a sequencer whose view of the journal's end is stale."""
    detail = f" (it is at {actual})" if actual is not None else ""
    return Conflict(
        JournalReason.SEQUENCER_FENCED,
        f"the journal moved past sequence {expected}{detail}: another sequencer is writing",
        expected=expected,
    )
