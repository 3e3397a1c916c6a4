"""examples/client_quickstart.py runs as written against a real exchange."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.kit import Exchange

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "client_quickstart.py"


def test_the_quickstart_places_amends_and_cancels_an_order(exchange: Exchange) -> None:
    key = exchange.credentials["frank"]
    env = {
        **os.environ,
        "OPTEX_URL": exchange.ws_url.removesuffix("/ws/api/v2"),
        "OPTEX_CLIENT_ID": key.client_id,
        "OPTEX_CLIENT_SECRET": key.client_secret,
    }
    run = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "cancelled: cancelled" in run.stdout
    assert "update on user.orders.BTC-PERPETUAL.raw: cancelled 0.02" in run.stdout
    assert "cancelling twice is refused: 10004 order_not_found" in run.stdout
