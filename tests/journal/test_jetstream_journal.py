"""The JetStream journal against a real NATS server on 127.0.0.1:4222."""

from __future__ import annotations

import pytest

from optex.core import Conflict
from optex.journal import JetStreamJournal, JournalReason
from tests.journal.conftest import NATS_URL


async def test_appends_are_sequenced_and_replay_in_order(jetstream: JetStreamJournal) -> None:
    for i in range(5):
        assert (await jetstream.append(b"cmd-%d" % i, f"m{i}")).seq == i + 1
    replay = [e async for e in jetstream.read()]
    assert [(e.seq, e.msg_id, e.payload) for e in replay] == [
        (i + 1, f"m{i}", b"cmd-%d" % i) for i in range(5)
    ]
    assert [e.seq async for e in jetstream.read(3, 4)] == [3, 4]


async def test_a_retried_message_id_is_not_journaled_twice(jetstream: JetStreamJournal) -> None:
    await jetstream.append(b"a", "order-1")
    retry = await jetstream.append(b"a", "order-1")
    assert (retry.seq, retry.duplicate) == (1, True)
    assert jetstream.last_seq == 1
    assert [e.seq async for e in jetstream.read()] == [1]


async def test_a_second_sequencer_with_a_stale_view_is_fenced(
    jetstream: JetStreamJournal,
) -> None:
    await jetstream.append(b"a", "m1")
    stale = await JetStreamJournal.connect(NATS_URL, stream=jetstream.stream)
    try:
        await stale.append(b"b", "m2")  # the second writer moves the end to 2
        with pytest.raises(Conflict) as info:
            await jetstream.append(b"c", "m3")  # the first still thinks the end is 1
        assert info.value.code is JournalReason.SEQUENCER_FENCED
        assert [e.payload async for e in jetstream.read()] == [b"a", b"b"]
    finally:
        await stale.close()


async def test_a_reconnecting_sequencer_resumes_at_the_streams_end(
    jetstream: JetStreamJournal,
) -> None:
    await jetstream.append(b"a", "m1")
    await jetstream.append(b"b", "m2")
    again = await JetStreamJournal.connect(NATS_URL, stream=jetstream.stream)
    try:
        assert again.last_seq == 2
        assert (await again.append(b"c", "m3")).seq == 3
    finally:
        await again.close()
