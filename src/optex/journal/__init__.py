"""optex.journal: the sequencer's append-only log of commands.

Every accepted command is journaled before the engine sees it; the engine's state is a function
of the journal. The embedded default is :class:`FileJournal` (one checksummed file, fsync
policy in configuration, torn-tail recovery); clusters use :class:`JetStreamJournal` on NATS
JetStream, with message ids for idempotent retries and an expected-last-sequence fence so only
one sequencer writes. Both implement :class:`Journal`; :class:`MemoryJournal` is the null one.
A standby follows a journal another process writes with :func:`follow` (and
:class:`FileFollower`, which reads the file without taking the writer's lock).
:func:`write_atomic` is the services' one way to replace a small file durably.
"""

from optex.journal._api import (
    MAX_MSG_ID_BYTES,
    MAX_PAYLOAD_BYTES,
    AppendResult,
    FsyncPolicy,
    Journal,
    JournalCorrupt,
    JournalEntry,
    JournalReason,
)
from optex.journal._file import FileJournal
from optex.journal._files import write_atomic
from optex.journal._follow import FileFollower, follow
from optex.journal._jetstream import JetStreamJournal
from optex.journal._memory import MemoryJournal
from optex.journal._open import open_journal

__all__ = [
    "AppendResult",
    "FileFollower",
    "FileJournal",
    "FsyncPolicy",
    "JetStreamJournal",
    "Journal",
    "JournalCorrupt",
    "JournalEntry",
    "JournalReason",
    "MAX_MSG_ID_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MemoryJournal",
    "follow",
    "open_journal",
    "write_atomic",
]
