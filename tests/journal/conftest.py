"""Shared fixtures for journal tests: a real NATS server on loopback."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from optex.journal import JetStreamJournal

NATS_URL = os.environ.get("OPTEX_TEST_NATS", "nats://127.0.0.1:4222")


def nats_answers() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def jetstream() -> AsyncIterator[JetStreamJournal]:
    """A journal on a fresh, uniquely named stream, deleted afterwards."""
    if not nats_answers():
        if os.environ.get("CI"):
            pytest.fail(f"no NATS server answers at {NATS_URL}; .ci/run should have started one")
        pytest.skip(f"no NATS server at {NATS_URL}")
    journal = await JetStreamJournal.connect(NATS_URL, stream=f"TEST_{uuid.uuid4().hex[:12]}")
    try:
        yield journal
    finally:
        await journal.delete_stream()
        await journal.close()
