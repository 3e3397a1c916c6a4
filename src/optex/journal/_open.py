"""Choosing a journal by address: a path for the embedded file, ``nats://`` for JetStream."""

from __future__ import annotations

from pathlib import Path

from optex.core import InvalidInput
from optex.journal._api import FsyncPolicy, Journal, JournalReason
from optex.journal._file import FileJournal
from optex.journal._jetstream import JetStreamJournal


async def open_journal(
    address: str, *, fsync: FsyncPolicy = FsyncPolicy.ALWAYS, stream: str = "OPTEX_JOURNAL"
) -> Journal:
    """Open the journal at ``address``: ``nats://HOST:PORT``, ``file:///PATH`` or a path."""
    if address.startswith("nats://"):
        return await JetStreamJournal.connect(address, stream=stream)
    if address.startswith("file://"):
        address = address.removeprefix("file://")
    elif "://" in address or not address:
        raise InvalidInput(
            JournalReason.INVALID_JOURNAL_URL, f"{address!r} is not a path or a nats:// URL"
        )
    return FileJournal(Path(address), fsync=fsync)
