"""Snapshot files: written atomically, checked on load.

Layout: an 8-byte magic, the SHA-256 of the body, then the body (``Pipeline.snapshot()``). A
snapshot is written to a temporary file in the same directory, fsynced, renamed over the old
one and the directory fsynced, so a crash at any moment leaves either the old snapshot or the
new one, whole. A checksum that does not match is refused rather than half-trusted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from optex.exchange._pipeline import Pipeline
from optex.exchange._reasons import SnapshotCorrupt
from optex.journal import write_atomic
from optex.risk import RiskParams

MAGIC: Final = b"OPTEXS\x00\x01"
_DIGEST: Final = 32
TEMPORARY_SUFFIX: Final = ".tmp"  # what optex.journal.write_atomic stages under


def snapshot_file(pipeline: Pipeline) -> bytes:
    """The bytes of ``pipeline``'s snapshot file: taken now, to be written by anyone later."""
    body = pipeline.snapshot()
    return MAGIC + hashlib.sha256(body).digest() + body


def save_snapshot(path: str | os.PathLike[str], pipeline: Pipeline) -> int:
    """Write ``pipeline``'s snapshot to ``path`` atomically; returns its size in bytes."""
    data = snapshot_file(pipeline)
    write_atomic(Path(path), data)
    return len(data)


def load_snapshot(
    path: str | os.PathLike[str], params: Mapping[str, RiskParams] | None = None
) -> Pipeline | None:
    """The pipeline saved at ``path``, or ``None`` when there is no snapshot yet."""
    target = Path(path)
    # A process killed while writing leaves its temporary file; the rename never happened, so
    # it is not a snapshot and can go.
    for stale in target.parent.glob(f".{target.name}.*{TEMPORARY_SUFFIX}"):
        stale.unlink(missing_ok=True)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        return None
    if data[: len(MAGIC)] != MAGIC:
        raise SnapshotCorrupt(f"{target} is not an optex engine snapshot")
    digest = data[len(MAGIC) : len(MAGIC) + _DIGEST]
    body = data[len(MAGIC) + _DIGEST :]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotCorrupt(f"{target} fails its checksum")
    return Pipeline.restore(body, params)
