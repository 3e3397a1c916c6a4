"""An instrument expires on a real chain and the engine settles it at the chain's price.

Four validator processes whose clocks a test moves, the engine service and ``optex settle``, on
loopback: deposits reach the engine, signed orders on a future cross and settle on chain, the
chain's time passes expiry, three validators vote an index price, the ledger settles the
future, the watcher feeds it back, and every account's balance in the engine equals the
chain's to the base unit, with no position left on either side.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from optex.chain import Deposit, Ledger, SignedTx, sign_tx
from optex.core import instrument_from_name
from optex.crypto import PrivateKey, Side
from optex.exchange import ExpirySettled, Pipeline, PlaceSignedOrder, SetPrices
from optex.journal import FileFollower
from optex.market import AddInstrument
from optex.node import PASSWORD_ENV, LocalCluster
from optex.risk import Mark
from optex.settlement import RpcChain
from tests.node.kit import FAST
from tests.settlement import processes
from tests.settlement.chain_kit import (
    FUTURE,
    consensus_key,
    list_btc,
    registration,
    set_offset,
    signed_order,
    votes,
    wall_ms,
)
from tests.settlement.processes import status, wait_for

CHAIN = "optex-devnet"
INSTRUMENT = instrument_from_name(FUTURE)
EXPIRY = INSTRUMENT.expiry_ms or 0
INDEX = 100_000_000_000
SETTLE = 97_654_321_987  # off the tick grid: every credit is rounded down
USDC = 1_000_000
CENT_BTC = 1_000_000
TRADERS = ("alice", "bob", "carol")


class SkewedCluster(LocalCluster):
    """A local network whose nodes take their block time from an offset file the test moves."""

    def __init__(self, root: Path, validators: int) -> None:
        super().__init__(root, validators, genesis_time_ms=wall_ms(), timeouts=FAST)
        self.offset_file = root / "clock-offset"
        list_btc(root / "genesis.json", *(h / "genesis.json" for h in self.network.homes))

    def start(self, i: int) -> None:
        home = self.network.homes[i]
        env = {
            **os.environ,
            PASSWORD_ENV: self.network.password,
            "PYTHONPATH": str(processes.REPO),
        }
        with (home / "node.log").open("ab") as log:
            self.processes[i] = subprocess.Popen(
                [sys.executable, "-m", "tests.settlement.skewed_node", "--home", str(home),
                 "--offset-file", str(self.offset_file)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=processes.REPO,
            )  # fmt: skip


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[SkewedCluster, Path]]:
    cluster = SkewedCluster(tmp_path / "chain", 4)
    try:
        cluster.start_all()
        assert cluster.wait_for([0, 1, 2, 3], 2, 60), "the network did not start committing"
        yield cluster, tmp_path
    finally:
        cluster.stop_all()


def deposit(cluster: SkewedCluster, account: str, owner: PrivateKey, nonce: int) -> SignedTx:
    bridge = cluster.network.bridge
    assert bridge is not None
    body = Deposit(
        chain_id=CHAIN,
        nonce=nonce,
        account=account,
        owner_key=owner.public_key.raw,
        asset="USDC",
        amount=1_000_000 * USDC,
        deposit_id=f"bridge-{account}",
    )
    return sign_tx(bridge, body)


def applied(chain: RpcChain, digests: set[str]) -> bool:
    found: set[str] = set()
    for height in range(1, chain.height() + 1):
        for outcome in chain.block(height).txs:
            if outcome.hash in digests:
                assert outcome.code == 0, outcome.reason
                found.add(outcome.hash)
    return found == digests


def settled_height(chain: RpcChain) -> int:
    for height in range(chain.height(), 0, -1):
        if any(e.kind == "settled" for e in chain.block(height).events):
            return height
    return 0


def engine_accounts(engine_home: Path) -> dict[str, tuple[int, int]]:
    accounts = processes.replay(engine_home / "journal.optexj").risk.ledger.accounts
    found = {}
    for name in TRADERS:
        position = accounts[name].positions.get(FUTURE)
        found[name] = (accounts[name].balance, 0 if position is None else position.quantity)
    return found


async def test_an_instrument_that_expires_on_chain_settles_in_the_engine_at_the_chain_price(
    network: tuple[SkewedCluster, Path],
) -> None:
    cluster, root = network
    chain_root = root / "chain"
    owners = {name: PrivateKey.generate() for name in TRADERS}
    traders = {name: PrivateKey.generate() for name in TRADERS}
    engine = processes.engine(root / "engine", {a: k.public_key.raw for a, k in traders.items()})
    settle = processes.settle(chain_root, root / "engine", root / "settle", cluster.rpc_port(0))
    chain = RpcChain(f"http://127.0.0.1:{cluster.rpc_port(0)}")
    try:
        now = wall_ms()
        txs: list[SignedTx] = []
        for n, name in enumerate(TRADERS, 1):
            txs.append(deposit(cluster, name, owners[name], n))
            txs.append(registration(CHAIN, name, owners[name], traders[name], nonce=1, now_ms=now))
        digests = {chain.broadcast(tx) for tx in txs}
        wait_for(lambda: applied(chain, digests), "the deposits did not commit", 60)
        wait_for(
            lambda: (
                len(processes.replay(root / "engine" / "journal.optexj").risk.ledger.accounts)
                == len(TRADERS)
            ),
            "the deposits did not reach the engine",
            60,
        )
        client = await processes.connect(root / "engine")
        await client.submit(AddInstrument(0, INSTRUMENT))
        await client.submit(SetPrices(0, {"BTC": INDEX}, {FUTURE: Mark(INDEX)}))
        nonces = itertools.count(1)

        async def place(name: str, side: Side, quantity: int, price: int) -> None:
            order = signed_order(
                CHAIN, name, traders[name], side, quantity=quantity, price=price,
                nonce=next(nonces), expiry_ms=wall_ms() + 3_600_000,
            )  # fmt: skip
            await client.submit(PlaceSignedOrder(0, order))

        # bob sells 0.03 BTC to alice at 100,000; alice sells 0.01 on to carol at 103,000.
        await place("bob", Side.SELL, 3 * CENT_BTC, INDEX)
        await place("alice", Side.BUY, 3 * CENT_BTC, INDEX)
        await place("alice", Side.SELL, CENT_BTC, 103_000 * USDC)
        await place("carol", Side.BUY, CENT_BTC, 103_000 * USDC)
        wait_for(lambda: status(root / "settle").get("committed_fills") == 2, "no fills", 60)

        # The chain's time passes expiry; three of four validators vote the index after it.
        set_offset(cluster.offset_file, EXPIRY - wall_ms() + 2_000)
        wait_for(lambda: chain.block(chain.height()).ts_ms > EXPIRY, "the clocks did not move", 60)
        keys = [consensus_key(home, cluster.network.password) for home in cluster.network.homes]
        for vote in votes(CHAIN, keys[:3], {"BTC": SETTLE}, 1):
            chain.broadcast(vote)
        wait_for(lambda: settled_height(chain) > 0, "the chain did not settle the future", 60)
        height = settled_height(chain)
        wait_for(
            lambda: status(root / "settle").get("watcher_height", 0) >= height,
            "the watcher did not reach the settlement",
            60,
        )
        await client.close()
        fed = [
            event
            for entry_events in _applied_events(root / "engine")
            for event in entry_events
            if isinstance(event, ExpirySettled)
        ]
        assert [(e.instrument, e.price, e.height, e.mismatched) for e in fed] == [
            (FUTURE, SETTLE, height, ())
        ]
        in_engine = engine_accounts(root / "engine")
    finally:
        chain.close()
        processes.stop(settle)
        processes.stop(engine)
        cluster.stop_all()
    ledger = Ledger.open(cluster.network.homes[0])
    try:
        on_chain = {}
        for name in TRADERS:
            record = ledger.account(name)
            assert record is not None
            position = record.positions.get(FUTURE)
            quantity = 0 if position is None else position.quantity
            on_chain[name] = (record.balances.get("USDC", 0), quantity)
    finally:
        ledger.store.close()  # type: ignore[attr-defined]
    assert in_engine == on_chain
    assert all(quantity == 0 for _, quantity in in_engine.values())
    # bob sold 0.03 at 100,000, settled at 97,654.321987: he gains 23.45678... USDC less fees.
    assert in_engine["bob"][0] > 1_000_000 * USDC


def _applied_events(engine_home: Path) -> Iterator[list[object]]:
    """Every journal entry's events, replayed."""
    pipeline = Pipeline()
    follower = FileFollower(engine_home / "journal.optexj")
    while entries := follower.poll():
        for entry in entries:
            yield list(pipeline.apply_entry(entry))
