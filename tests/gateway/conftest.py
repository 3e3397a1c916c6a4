"""One engine and one gateway process for the whole directory (each test file uses its own
accounts, so tests do not see each other's orders)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from optex.gateway import Limits
from tests.gateway.kit import ACCOUNTS, Exchange, start_exchange


@pytest.fixture(scope="session")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    root: Path = tmp_path_factory.mktemp("exchange")
    # Generous credits: every test talks from 127.0.0.1, one IP bucket (limits are tested
    # on a gateway of their own).
    limits = Limits(
        max_connections_per_ip=12,
        max_subscriptions=6,
        min_heartbeat_s=1,
        rate_max_credits=10_000_000,
        rate_refill_per_second=10_000_000,
    )
    running = start_exchange(root, ACCOUNTS, limits)
    try:
        yield running
    finally:
        running.stop()
