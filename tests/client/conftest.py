"""One engine and one gateway process for the client tests (the reconnect tests, which kill
the gateway, start their own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.kit import Exchange, client_exchange


@pytest.fixture(scope="session")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    running = client_exchange(tmp_path_factory.mktemp("client-exchange"))
    try:
        yield running
    finally:
        running.stop()
