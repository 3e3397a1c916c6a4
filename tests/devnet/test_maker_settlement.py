"""The devnet's market makers sign their quotes: a user's fill against them, and the makers' own
hedges, settle on chain, and the engine and the chain agree on the makers' accounts."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from optex.chain import Ledger
from optex.core import InstrumentKind
from optex.devnet import Devnet, DevnetConfig
from optex.exchange import Pipeline
from optex.journal import FileFollower
from optex.market import Fill
from optex.node import free_ports
from optex.risk import trade_fee
from tests.devnet.kit import bearer

pytestmark = pytest.mark.integration

MAKERS = ("devnet-mm-btc", "devnet-mm-eth", "devnet-lp")
WAIT_S = 60.0


def _replay(home: Path) -> tuple[Pipeline, int, Counter[str]]:
    """The engine's state from its journal, how many fills it made, and per account the most
    its option fees may differ from the chain's.

    An option's fee is the lower of an index-based fee and a premium cap; the chain takes the
    index from its oracle votes (the premium cap alone while it has none) and the engine from
    the devnet's feed, so the two may differ by up to the cap on an option fill: a known gap of
    the devnet's prices, not of settlement. Futures and perpetuals pay on the traded notional
    on both sides and must agree to the base unit.
    """
    pipeline = Pipeline()
    follower = FileFollower(home / "engine" / "journal.optexj")
    fills = 0
    bound: Counter[str] = Counter()
    while entries := follower.poll():
        for entry in entries:
            for event in pipeline.apply_entry(entry):
                if not isinstance(event, Fill):
                    continue
                fills += 1
                instrument = pipeline.risk.ledger.instruments[event.instrument]
                if instrument.kind is not InstrumentKind.OPTION:
                    continue
                fees = pipeline.risk.params[instrument.underlying].fees
                for account, maker in ((event.maker_account, True), (event.taker_account, False)):
                    bound[account] += trade_fee(
                        instrument,
                        event.price,
                        event.quantity,
                        index=10**18,
                        maker=maker,
                        fees=fees,
                    )
    return pipeline, fills, bound


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
        pipeline, fills, bound = _replay(home)
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
        assert bound["devnet-lp"] == 0  # the ladder trades futures only: its balance is exact
        ledger = Ledger.open(home / "chain" / "node0")
        try:
            for account in (*MAKERS, "user0"):
                engine = pipeline.risk.ledger.accounts[account]
                chain = ledger.account(account)
                assert chain is not None, account
                assert abs(chain.balances["USDC"] - engine.balance) <= bound[account], account
                held = {n: p.quantity for n, p in chain.positions.items() if p.quantity}
                assert held == {n: p.quantity for n, p in engine.positions.items() if p.quantity}
        finally:
            ledger.store.close()  # type: ignore[attr-defined]
    finally:
        devnet.stop()
    assert "unsigned_fill" not in (home / "logs" / "settle.log").read_text()
