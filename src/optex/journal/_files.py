"""Replacing a small file so that a crash leaves the old content or the new, never half.

Snapshots, checkpoints, key stores and status files across the services all need the same
steps, in this order: write a temporary file beside the target, fsync it, rename it over the
target, fsync the directory (so the rename itself survives power loss). One definition keeps
every service as durable as the most careful one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

TEMPORARY_SUFFIX: Final = ".tmp"


def temporary_path(path: Path) -> Path:
    """Where :func:`write_atomic` stages ``path``: hidden, per process, so two writers never
    share one; ``.{name}.*.tmp`` finds what a crash left behind."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` durably; a new file gets ``mode`` (less the umask)."""
    target = Path(path)
    temporary = temporary_path(target)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
