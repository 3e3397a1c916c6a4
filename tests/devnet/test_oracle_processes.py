"""The devnet's validators vote its index on chain, and the chain funds perpetuals from it
(issue 10): a full devnet of real processes (four validators, the engine, the gateway,
``optex settle``) with a chain that funds every two seconds (``funding_interval_s``).

Before the market makers quote, user0 sells user1 0.1 BTC of the perpetual through the gateway
(both orders signed by the gateway's delegated key, so the fill settles on chain). Then the
devnet runs: each step its feed moves the index, the engine gets it as ``SetPrices`` and every
validator votes it. While it runs the chain's prices follow the feed: each sample is an index
the feed had already produced, the samples never go back to an older index, they move, and at
the end they are the last one voted. No bound in wall time is asserted (a loaded machine may
delay a vote by seconds); the order of the prices is what the chain must get right.
Funding moved the two users' balances on chain at the voted mark and index, and ``optex settle``
fed the same amounts to the engine: at one chain height, the engine's balances and positions
of both users equal the chain's to the base unit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from optex.chain import Ledger
from optex.core import decode
from optex.devnet import Devnet, DevnetConfig
from optex.exchange import Command, FundingPaid, PayFunding, Pipeline
from optex.journal import FileFollower
from optex.node import RpcClient, free_ports
from tests.devnet.kit import bearer

pytestmark = pytest.mark.integration

PERP = "BTC-PERPETUAL"
SYMBOLS = ("BTC", "ETH", "BTC-PERPETUAL", "ETH-PERPETUAL")
UNDERLYING = {"BTC": "BTC", "ETH": "ETH", "BTC-PERPETUAL": "BTC", "ETH-PERPETUAL": "ETH"}
STEP_S = 0.25
STEPS = 48
"""Twelve seconds of feed: about twelve votes per validator and six funding intervals."""
FUNDING_INTERVAL_S = 2.0
WAIT_S = 60.0
"""Bound on waiting for something that must happen; reaching it is a failure."""
USERS = ("user0", "user1")


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    config = DevnetConfig(
        home=tmp_path / "devnet",
        validators=4,
        expiries=1,
        strikes=1,
        step_s=STEP_S,
        steps=STEPS,
        gateway_port=free_ports(1)[0],
        funding_interval_s=FUNDING_INTERVAL_S,
    )
    running = Devnet(config, Console(quiet=True))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _wait(condition: Any, message: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def _chain(devnet: Devnet) -> tuple[int, dict[str, int], dict[str, tuple[int, int, int]]]:
    """Validator 0's committed height, oracle prices and the users' (USDC, quantity, cost) in
    the perpetual, all read at one height."""
    ledger = Ledger.open(devnet.home / "chain" / "node0")
    try:
        prices = {}
        for symbol in SYMBOLS:
            record = ledger.get("price/" + symbol)
            if record is not None:
                prices[symbol] = record.price
        accounts = {}
        for user in USERS:
            account = ledger.account(user)
            assert account is not None
            position = account.positions.get(PERP)
            accounts[user] = (
                account.balances.get("USDC", 0),
                0 if position is None else position.quantity,
                0 if position is None else position.cost,
            )
        return ledger.meta.height, prices, accounts
    finally:
        ledger.store.close()  # type: ignore[attr-defined]


def _cross_the_perpetual(devnet: Devnet) -> None:
    """user0 sells user1 0.1 BTC of the perpetual at 95,000 through the gateway; the book holds
    only their orders (no market maker has quoted yet)."""
    assert devnet.gateway_url is not None
    users = json.loads((devnet.home / "credentials.json").read_text())
    with httpx.Client(base_url=f"{devnet.gateway_url}/api/v2", timeout=10) as http:
        tokens = []
        for user in users[:2]:
            tokens.append(bearer(http, user))
        params = {"instrument_name": PERP, "amount": "0.1", "type": "limit", "price": "95000"}
        sold = http.get("/private/sell", params=params, headers=tokens[0]).json()
        assert sold["result"]["order"]["order_state"] == "open", sold
        bought = http.get("/private/buy", params=params, headers=tokens[1]).json()
        assert bought["result"]["order"]["order_state"] == "filled", bought


def _funding_events(devnet: Devnet, top: int) -> list[tuple[int, dict[str, Any]]]:
    """Every block event of funding (``funding_credit`` and ``funding``) up to ``top``, with
    its height, from validator 0's RPC."""
    found = []
    client = RpcClient("127.0.0.1", devnet.rpc_ports[0])
    try:
        for height in range(1, top + 1):
            for event in client.block(height)["events"]:
                if event["kind"] in {"funding", "funding_credit"}:
                    found.append((height, event))
    finally:
        client.close()
    return found


def _engine_at(devnet: Devnet, height: int) -> tuple[Pipeline, list[PayFunding]]:
    """The engine's state replayed from its journal up to (not including) the first chain
    funding of a block after ``height``, and the fundings it applied before that."""
    pipeline = Pipeline()
    fed: list[PayFunding] = []
    follower = FileFollower(devnet.home / "engine" / "journal.optexj")
    while entries := follower.poll():
        for entry in entries:
            command: Command = decode(entry.payload, Command)  # type: ignore[arg-type]
            if isinstance(command, PayFunding):
                if command.height > height:
                    return pipeline, fed
                events = pipeline.apply_entry(entry)
                assert any(isinstance(e, FundingPaid) for e in events), events
                fed.append(command)
            else:
                pipeline.apply_entry(entry)
    return pipeline, fed


def _settle_height(devnet: Devnet) -> int:
    try:
        status = json.loads((devnet.home / "settle" / "status.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(status.get("watcher_height", 0))


def test_validators_vote_the_devnet_index_and_the_chain_funds_as_the_engine_does(
    devnet: Devnet,
) -> None:
    _cross_the_perpetual(devnet)
    _wait(lambda: _chain(devnet)[2]["user1"][1] > 0, "the perpetual fill did not reach the chain")
    height, prices, _ = _chain(devnet)
    assert prices == {}, "nothing was voted before the feed ran"

    # Run the feed; every few steps, what the chain's price is against what the feed said.
    history: list[tuple[float, dict[str, int]]] = []
    samples: list[tuple[float, dict[str, int]]] = []

    def on_step(step: int) -> None:
        units = devnet.feed.units()
        history.append((time.monotonic(), {s: units[UNDERLYING[s]] for s in SYMBOLS}))
        if step % 8 == 0:
            samples.append((time.monotonic(), _chain(devnet)[1]))

    def position_in_feed(prices: dict[str, int], after: int, before: float) -> int:
        """The first step at or after ``after`` whose index is ``prices``, fed before the
        moment ``before``; -1 when there is none."""
        for step in range(after, len(history)):
            at, fed = history[step]
            if at > before:
                break
            if fed == prices:
                return step
        return -1

    assert devnet.run(on_step) == STEPS

    assert devnet.voter is not None
    voted = {tuple(sorted(s.last_prices.items())) for s in devnet.voter.status()}
    assert len(voted) == 1, "every validator voted the same last prices"
    last = dict(next(iter(voted)))
    assert set(last) == set(SYMBOLS)
    _wait(lambda: _chain(devnet)[1] == last, "the chain's prices never became the last vote")

    # While the feed ran, the chain's prices were the feed's indices in the feed's order (a
    # subsequence of it, each fed before it was sampled), ending with the last vote, and moved.
    sampled = [(at, prices) for at, prices in samples if prices]
    assert len(sampled) >= 3, samples
    step = 0
    for at, prices in [*sampled, (time.monotonic(), last)]:
        step = position_in_feed(prices, step, at)
        assert step >= 0, ("not the feed's next indices", prices, at)
    assert len({p["BTC"] for _, p in sampled} | {last["BTC"]}) >= 3
    assert len({p["ETH"] for _, p in sampled} | {last["ETH"]}) >= 3

    # Funding: on chain, at the voted mark and index, and the same amounts in the engine.
    height, _, on_chain = _chain(devnet)
    _wait(lambda: _settle_height(devnet) >= height, "optex settle did not read the chain")
    events = _funding_events(devnet, height)
    fundings = [(h, e["attributes"]) for h, e in events if e["kind"] == "funding"]
    btc = [(h, a) for h, a in fundings if a["instrument"] == PERP]
    assert len(btc) >= 3, fundings
    voted_marks = {p["BTC-PERPETUAL"] for _, p in history}
    voted_index = {p["BTC"] for _, p in history}
    for _, attributes in btc:
        assert int(attributes["mark"]) in voted_marks
        assert int(attributes["index"]) in voted_index
        # The feed marks the perpetual at its index: no premium, so the rate is the interest.
        assert int(attributes["rate_ppm"]) == 100
    credits: dict[str, list[tuple[int, int]]] = {user: [] for user in USERS}
    for h, event in events:
        attributes = event["attributes"]
        if event["kind"] == "funding_credit" and attributes["instrument"] == PERP:
            credits[attributes["account"]].append((h, int(attributes["amount"])))
    # user1 is long 0.1 BTC: at 100 ppm of ~9,500 USDC it pays about 0.95 USDC an interval.
    assert credits["user1"] and all(-960_000 < a < -940_000 for _, a in credits["user1"])
    assert credits["user0"] and all(940_000 < a < 960_000 for _, a in credits["user0"])

    pipeline, fed = _engine_at(devnet, height)
    fed_btc = [c for c in fed if c.instrument == PERP]
    assert [c.height for c in fed_btc] == [h for h, _ in btc]
    in_engine: dict[str, list[tuple[int, int]]] = {user: [] for user in USERS}
    for command in fed_btc:
        for credit in command.credits:
            in_engine[credit.account].append((command.height, credit.amount))
    assert in_engine == credits
    for user in USERS:
        account = pipeline.risk.ledger.accounts[user]
        position = account.positions[PERP]
        assert (account.balance, position.quantity, position.cost) == on_chain[user], user
