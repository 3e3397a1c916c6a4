"""The cluster journal: a NATS JetStream stream.

Each append is published with ``Nats-Msg-Id`` (the server drops a retry of the same id inside
the stream's duplicate window and answers with the original sequence) and
``Nats-Expected-Last-Sequence`` (the server refuses the write if anyone else appended since
this sequencer last did), so that only one sequencer can write and a retried append is never
journaled twice. Replay uses an ordered push consumer from a start sequence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Final

import nats
from nats.js import api
from nats.js.errors import APIError, NotFoundError

from optex.journal._api import AppendResult, JournalEntry, check_append, fenced

WRONG_LAST_SEQUENCE: Final = 10071
MSG_ID_HEADER: Final = "Nats-Msg-Id"
EXPECTED_LAST_SEQ_HEADER: Final = "Nats-Expected-Last-Sequence"


class JetStreamJournal:
    """A journal on a JetStream stream; create it with :meth:`connect`."""

    def __init__(self, nc: Any, js: Any, stream: str, subject: str, last_seq: int) -> None:
        self._nc = nc
        self._js = js
        self.stream = stream
        self.subject = subject
        self._last_seq = last_seq

    @classmethod
    async def connect(
        cls,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "OPTEX_JOURNAL",
        duplicate_window_s: float = 120.0,
        connect_timeout_s: float = 5.0,
    ) -> JetStreamJournal:
        """Connect, create the stream if it does not exist, and read where it ends."""
        nc = await nats.connect(
            url, connect_timeout=connect_timeout_s, max_reconnect_attempts=3, allow_reconnect=True
        )
        js = nc.jetstream()
        subject = f"optex.journal.{stream.lower()}"
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            info = await js.add_stream(
                name=stream,
                subjects=[subject],
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                duplicate_window=duplicate_window_s,
            )
        last = info.state.last_seq if info.state else 0
        return cls(nc, js, stream, subject, int(last or 0))

    @property
    def last_seq(self) -> int:
        """The sequence of the last entry this sequencer knows of."""
        return self._last_seq

    async def append(self, payload: bytes, msg_id: str) -> AppendResult:
        """Publish one command, fenced on the last sequence this sequencer wrote."""
        check_append(payload, msg_id)
        headers = {
            MSG_ID_HEADER: msg_id,
            EXPECTED_LAST_SEQ_HEADER: str(self._last_seq),
        }
        try:
            ack = await self._js.publish(
                self.subject, bytes(payload), stream=self.stream, headers=headers
            )
        except APIError as exc:
            if getattr(exc, "err_code", None) == WRONG_LAST_SEQUENCE:
                raise fenced(self._last_seq) from exc
            raise
        if ack.duplicate:
            return AppendResult(int(ack.seq), duplicate=True)
        self._last_seq = int(ack.seq)
        return AppendResult(self._last_seq)

    async def read(
        self, from_seq: int = 1, to_seq: int | None = None
    ) -> AsyncIterator[JournalEntry]:
        """Entries from ``from_seq`` through ``to_seq`` (default: the stream's end now)."""
        if to_seq is None:
            info = await self._js.stream_info(self.stream)
            to_seq = int(info.state.last_seq or 0)
        if from_seq > to_seq:
            return
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(from_seq, 1),
        )
        sub = await self._js.subscribe(self.subject, ordered_consumer=True, config=config)
        try:
            while True:
                msg = await sub.next_msg(timeout=10.0)
                seq = int(msg.metadata.sequence.stream)
                if seq > to_seq:
                    return
                msg_id = (msg.headers or {}).get(MSG_ID_HEADER, "")
                yield JournalEntry(seq, msg_id, msg.data)
                if seq >= to_seq:
                    return
        finally:
            await sub.unsubscribe()

    async def delete_stream(self) -> None:
        """Remove the stream and everything in it (for tests and devnet resets)."""
        await self._js.delete_stream(self.stream)

    async def close(self) -> None:
        """Drain and close the connection."""
        await asyncio.wait_for(self._nc.drain(), timeout=5.0)
