"""A journal in memory: the null implementation, for tests and simulations."""

from __future__ import annotations

from collections.abc import AsyncIterator

from optex.journal._api import AppendResult, JournalEntry, check_append


class MemoryJournal:
    """Keeps every entry in a list; message ids are remembered for the journal's lifetime."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self._by_msg_id: dict[str, int] = {}

    @property
    def last_seq(self) -> int:
        """The sequence of the last entry, 0 when empty."""
        return len(self.entries)

    async def append(self, payload: bytes, msg_id: str) -> AppendResult:
        """Append one command; a known message id returns the original's sequence."""
        check_append(payload, msg_id)
        known = self._by_msg_id.get(msg_id)
        if known is not None:
            return AppendResult(known, duplicate=True)
        seq = len(self.entries) + 1
        self.entries.append(JournalEntry(seq, msg_id, bytes(payload)))
        self._by_msg_id[msg_id] = seq
        return AppendResult(seq)

    async def read(
        self, from_seq: int = 1, to_seq: int | None = None
    ) -> AsyncIterator[JournalEntry]:
        """Entries from ``from_seq`` through ``to_seq`` (default: the last one now)."""
        last = self.last_seq if to_seq is None else min(to_seq, self.last_seq)
        for entry in self.entries[max(from_seq, 1) - 1 : last]:
            yield entry

    async def close(self) -> None:
        """Nothing to release."""
