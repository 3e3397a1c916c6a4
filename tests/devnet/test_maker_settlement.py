"""The devnet's market makers sign their quotes: a user's fill against them, and the makers' own
hedges, settle on chain, and the engine and the chain agree on the makers' and the user's
accounts to the base unit, option fees included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from optex.chain import Ledger
from optex.devnet import Devnet, DevnetConfig
from optex.exchange import Pipeline
from optex.journal import FileFollower
from optex.market import Fill
from optex.node import free_ports
from tests.devnet.kit import bearer

pytestmark = pytest.mark.integration

MAKERS = ("devnet-mm-btc", "devnet-mm-eth", "devnet-lp")
WAIT_S = 60.0


def _replay(home: Path) -> tuple[Pipeline, int]:
    """The engine's state from its journal, and how many fills it made.

    Option fees are the lower of an index-based fee and a premium cap. The engine charges at
    its index feed's price; each fill carries that index to the chain (``Fill.fee_index``),
    which charges at it within a band around its oracle's, so the balances agree to the base
    unit on options as on futures and perpetuals.
    """
    pipeline = Pipeline()
    follower = FileFollower(home / "engine" / "journal.optexj")
    fills = 0
    while entries := follower.poll():
        for entry in entries:
            fills += sum(isinstance(e, Fill) for e in pipeline.apply_entry(entry))
    return pipeline, fills


def _take_from_the_makers(devnet: Devnet) -> None:
    """user0 buys the BTC perpetual from the ladder and sells a BTC option to its market maker."""
    assert devnet.gateway_url is not None
    user = devnet.credentials[0]
    with httpx.Client(base_url=f"{devnet.gateway_url}/api/v2", timeout=10) as http:
        auth = bearer(http, user)
        bought = http.get(
            "/private/buy",
            params={"instrument_name": "BTC-PERPETUAL", "amount": "0.2", "type": "market"},
            headers=auth,
        ).json()
        assert bought["result"]["order"]["order_state"] == "filled", bought
        options = http.get(
            "/public/get_instruments", params={"currency": "BTC", "kind": "option"}
        ).json()["result"]
        name = options[0]["instrument_name"]
        sold = http.get(
            "/private/sell",
            params={"instrument_name": name, "amount": "0.1", "type": "market"},
            headers=auth,
        ).json()
        assert sold["result"]["order"]["filled_amount"] > 0, sold


def test_a_users_fill_against_the_market_makers_settles_and_both_sides_agree(
    tmp_path: Path,
) -> None:
    home = tmp_path / "devnet"
    config = DevnetConfig(
        home=home,
        validators=1,
        expiries=1,
        strikes=1,
        step_s=0.2,
        steps=5,
        gateway_port=free_ports(1)[0],
    )
    devnet = Devnet(config, Console(quiet=True))
    try:
        devnet.start()
        devnet.run()  # the makers quote every book
        _take_from_the_makers(devnet)
        devnet.run()  # they requote what was taken and hedge the option's delta
        signer = devnet.venue.signer
        assert signer is not None and signer.signatures > 0
        pipeline, fills = _replay(home)
        assert fills >= 2
        status: dict[str, object] = {}
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            status = json.loads((home / "settle" / "status.json").read_text())
            if status["committed_fills"] == fills and status["queued_fills"] == 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"{fills} fills, but the settlement status is {status}")
        assert status["unsettled_fills"] == status["refused_fills"] == 0
        ledger = Ledger.open(home / "chain" / "node0")
        try:
            for account in (*MAKERS, "user0"):
                engine = pipeline.risk.ledger.accounts[account]
                chain = ledger.account(account)
                assert chain is not None, account
                assert chain.balances["USDC"] == engine.balance, account
                held = {n: p.quantity for n, p in chain.positions.items() if p.quantity}
                assert held == {n: p.quantity for n, p in engine.positions.items() if p.quantity}
        finally:
            ledger.store.close()  # type: ignore[attr-defined]
    finally:
        devnet.stop()
    assert "unsigned_fill" not in (home / "logs" / "settle.log").read_text()
