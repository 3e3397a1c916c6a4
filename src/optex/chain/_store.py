"""Where blocks and state are kept: two small interfaces, in memory and in SQLite.

The ledger never does I/O itself; it hands each committed block, its results and its state
changes to a :class:`BlockStore` and a :class:`StateStore`. :class:`MemoryStore` is the null
implementation for tests and simulations; :class:`SqliteStore` (stdlib ``sqlite3`` in WAL mode)
is the embedded default, and implements both in one file so that a block and its state changes
commit in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol


class StateStore(Protocol):
    """The latest committed state as ``key -> record bytes``."""

    def load_state(self) -> dict[str, bytes]:
        """Every stored record."""
        ...

    def state_height(self) -> int:
        """The height of the stored state (0: genesis, -1: empty)."""
        ...

    def save_state(self, height: int, changes: Mapping[str, bytes | None]) -> None:
        """Write the changes of ``height`` (None deletes a key)."""
        ...


class BlockStore(Protocol):
    """Blocks, their results and the commits that sealed them, by height."""

    def save_block(self, height: int, block: bytes, result: bytes) -> None:
        """Store a block and its result."""
        ...

    def load_block(self, height: int) -> tuple[bytes, bytes] | None:
        """A stored block and its result, if any."""
        ...

    def save_commit(self, height: int, commit: bytes) -> None:
        """Store the commit of ``height``."""
        ...

    def load_commit(self, height: int) -> bytes | None:
        """The commit of ``height``, if stored."""
        ...

    def block_height(self) -> int:
        """The last stored height (0 when none)."""
        ...


class MemoryStore:
    """Both stores in memory."""

    def __init__(self) -> None:
        self.state: dict[str, bytes] = {}
        self.height = -1
        self.blocks: dict[int, tuple[bytes, bytes]] = {}
        self.commits: dict[int, bytes] = {}

    def load_state(self) -> dict[str, bytes]:
        """Every stored record."""
        return dict(self.state)

    def state_height(self) -> int:
        """The height of the stored state."""
        return self.height

    def save_state(self, height: int, changes: Mapping[str, bytes | None]) -> None:
        """Write the changes of ``height``."""
        for key, value in changes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        self.height = height

    def save_block(self, height: int, block: bytes, result: bytes) -> None:
        """Store a block and its result."""
        self.blocks[height] = (block, result)

    def load_block(self, height: int) -> tuple[bytes, bytes] | None:
        """A stored block and its result."""
        return self.blocks.get(height)

    def save_commit(self, height: int, commit: bytes) -> None:
        """Store a commit."""
        self.commits[height] = commit

    def load_commit(self, height: int) -> bytes | None:
        """A stored commit."""
        return self.commits.get(height)

    def block_height(self) -> int:
        """The last stored height."""
        return max(self.blocks, default=0)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, block BLOB NOT NULL,
                                   result BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS commits (height INTEGER PRIMARY KEY, commit_ BLOB NOT NULL);
"""


class SqliteStore:
    """Both stores in one SQLite file, in WAL mode with full synchronous commits."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._pending_block: tuple[int, bytes, bytes] | None = None

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def load_state(self) -> dict[str, bytes]:
        """Every stored record."""
        return dict(self._db.execute("SELECT key, value FROM state").fetchall())

    def state_height(self) -> int:
        """The height of the stored state."""
        row = self._db.execute("SELECT value FROM meta WHERE name='height'").fetchone()
        return -1 if row is None else int(row[0])

    def save_block(self, height: int, block: bytes, result: bytes) -> None:
        """Hold the block until its state changes arrive, so both commit together."""
        self._pending_block = (height, block, result)

    def save_state(self, height: int, changes: Mapping[str, bytes | None]) -> None:
        """Write the block held by :meth:`save_block` and these changes in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if self._pending_block is not None and self._pending_block[0] == height:
                db.execute("INSERT OR REPLACE INTO blocks VALUES (?, ?, ?)", self._pending_block)
            deletes = [(k,) for k, v in changes.items() if v is None]
            upserts = [(k, v) for k, v in changes.items() if v is not None]
            db.executemany("DELETE FROM state WHERE key = ?", deletes)
            db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", upserts)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('height', ?)", (height,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            self._pending_block = None

    def load_block(self, height: int) -> tuple[bytes, bytes] | None:
        """A stored block and its result."""
        row = self._db.execute(
            "SELECT block, result FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def save_commit(self, height: int, commit: bytes) -> None:
        """Store a commit."""
        self._db.execute("INSERT OR REPLACE INTO commits VALUES (?, ?)", (height, commit))

    def load_commit(self, height: int) -> bytes | None:
        """A stored commit."""
        row = self._db.execute("SELECT commit_ FROM commits WHERE height = ?", (height,)).fetchone()
        return None if row is None else bytes(row[0])

    def block_height(self) -> int:
        """The last stored height."""
        row = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])
