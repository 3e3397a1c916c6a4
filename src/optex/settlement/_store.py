"""The batcher's durable records: a small checkpoint written at every decision, and a snapshot.

Both are written atomically (a temporary file beside the target, fsynced, renamed over it, the
directory fsynced), so a process killed at any moment leaves the old record or the new one.

* :class:`Checkpoint` (``checkpoint.bin``): the journal position through which every fill is
  decided (committed on chain, or refused and reported), the chain height scanned, and the
  batch in flight, written *before* it is broadcast. A restarted batcher resubmits exactly
  those bytes and waits for their outcome before it builds anything new, so a batch is never
  rebuilt differently around fills the chain may already hold.
* :class:`Snapshot` (``snapshot.bin``): the batcher's pipeline, its collector and the fills not
  yet decided at the snapshot's journal sequence, so a restart replays only the journal after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, TypeVar

import msgspec

from optex.chain import SignedTx
from optex.core import OptexError, decode, encode
from optex.journal import write_atomic
from optex.settlement._collect import CollectorState, PendingFill, Position
from optex.settlement._reasons import SettlementReason

CHECKPOINT_FILE: Final = "checkpoint.bin"
SNAPSHOT_FILE: Final = "snapshot.bin"
_T = TypeVar("_T")


class Checkpoint(msgspec.Struct, frozen=True):
    """Where settlement stands; see the module docstring."""

    settled_seq: int = 0
    settled_index: int = -1
    height: int = 0
    inflight: SignedTx | None = None
    inflight_seq: int = 0
    inflight_index: int = 0
    inflight_count: int = 0
    committed_fills: int = 0
    committed_batches: int = 0
    refused_fills: int = 0

    @property
    def settled(self) -> Position:
        """The position through which every fill is decided."""
        return (self.settled_seq, self.settled_index)


class Snapshot(msgspec.Struct, frozen=True):
    """The batcher's replay state at a journal sequence."""

    pipeline: bytes
    collector: CollectorState
    queue: list[PendingFill]


def _load(path: Path, kind: type[_T]) -> _T | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return decode(data, kind)
    except (OptexError, ValueError) as exc:
        raise BadCheckpoint(f"{path} does not decode: {exc}") from None


def load_checkpoint(home: Path) -> Checkpoint:
    """The checkpoint in ``home``, or a fresh one."""
    return _load(home / CHECKPOINT_FILE, Checkpoint) or Checkpoint()


def save_checkpoint(home: Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically."""
    write_atomic(home / CHECKPOINT_FILE, encode(checkpoint))


def load_state(home: Path) -> Snapshot | None:
    """The snapshot in ``home``, if any."""
    return _load(home / SNAPSHOT_FILE, Snapshot)


def save_state(home: Path, snapshot: Snapshot) -> None:
    """Write the snapshot atomically."""
    write_atomic(home / SNAPSHOT_FILE, encode(snapshot))


class BadCheckpoint(OptexError):
    """A checkpoint or snapshot that cannot be read: start-up refuses rather than guess."""

    def __init__(self, message: str) -> None:
        super().__init__(SettlementReason.BAD_CHECKPOINT, message)
