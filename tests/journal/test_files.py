"""write_atomic: the services' one way to replace a small file durably."""

from __future__ import annotations

import stat
from pathlib import Path

from optex.journal import write_atomic


def test_the_file_is_replaced_whole_and_no_temporary_is_left(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    write_atomic(target, b"old")
    write_atomic(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]


def test_a_private_file_gets_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "keys.json"
    write_atomic(target, b"{}", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
