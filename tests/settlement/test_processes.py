"""End to end through real processes on loopback: four validators, the engine, ``optex settle``.

One network serves the module: deposits on chain reach the engine, signed orders cross in the
engine, the fill lands on chain with both orders, a cancel and a withdrawal follow, and the
ledger's accounts equal the engine's; then the settlement process is SIGKILLed mid-stream and
restarted, and every fill is on chain exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from optex.chain import (
    Deposit,
    Ledger,
    RegisterTradingKey,
    SignedTx,
    TradeBatch,
    Withdraw,
    prove_account,
    sign_tx,
    verify_account_proof,
)
from optex.core import instrument_from_name
from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    Side,
    SignedOrder,
    TradingKeyAuthorization,
    TradingScope,
    replacement,
    sign,
    sign_order,
)
from optex.exchange import PlaceSignedOrder, SetPrices
from optex.market import AddInstrument, CancelOrder, OrderAccepted, OrderAmended
from optex.node import LocalCluster
from optex.risk import Mark
from optex.settlement import EngineLink, RpcChain, WithdrawalDesk
from tests.settlement import processes
from tests.settlement.processes import status, wait_for

CHAIN = "optex-devnet"
PERP = "BTC-PERPETUAL"
INSTRUMENT = instrument_from_name(PERP)
INDEX = 100_000_000_000
USDC = 1_000_000
BTC = 100_000_000
TRADERS = ("maker", "taker", "seller", "buyer")


@dataclass
class Net:
    """The module's network and processes."""

    root: Path
    cluster: LocalCluster
    engine_home: Path
    settle_home: Path
    owners: dict[str, PrivateKey]
    traders: dict[str, PrivateKey]
    engine: subprocess.Popen[bytes] | None = None
    settle: subprocess.Popen[bytes] | None = None
    nonces: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cluster.rpc_port(0)}"

    def start_settle(self) -> None:
        self.settle = processes.settle(
            self.root, self.engine_home, self.settle_home, self.cluster.rpc_port(0)
        )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("settlement-net")
    cluster = processes.cluster(root / "chain")
    owners = {name: PrivateKey.generate() for name in TRADERS}
    traders = {name: PrivateKey.generate() for name in TRADERS}
    network = Net(root / "chain", cluster, root / "engine", root / "settle", owners, traders)
    try:
        cluster.start_all()
        assert cluster.wait_for([0, 1, 2, 3], 2, 40), "the network did not start committing"
        network.engine = processes.engine(
            network.engine_home, {a: k.public_key.raw for a, k in traders.items()}
        )
        network.start_settle()
        yield network
    finally:
        processes.stop(network.settle)
        processes.stop(network.engine)
        cluster.stop_all()


def committed(chain: RpcChain, digest: str) -> int:
    """The height of the block that applied ``digest``, or 0; a refusal fails the test."""
    for height in range(1, chain.height() + 1):
        for outcome in chain.block(height).txs:
            if outcome.hash == digest:
                assert outcome.code == 0, outcome.reason
                return height
    return 0


def submit_and_wait(chain: RpcChain, *txs: SignedTx) -> int:
    digests = [chain.broadcast(tx) for tx in txs]
    wait_for(lambda: all(committed(chain, d) for d in digests), "a transaction did not commit")
    heights = [committed(chain, d) for d in digests]
    return max(heights)


def on_chain(net: Net, account: str, amount: int) -> list[SignedTx]:
    """A bridge deposit opening ``account`` and the registration of its trading key."""
    bridge = net.cluster.network.bridge
    assert bridge is not None
    deposit = sign_tx(
        bridge,
        Deposit(
            chain_id=CHAIN,
            nonce=next(net.nonces),
            account=account,
            owner_key=net.owners[account].public_key.raw,
            asset="USDC",
            amount=amount,
            deposit_id=f"bridge-{account}",
        ),
    )
    message = TradingKeyAuthorization(
        chain_id=CHAIN,
        account=account,
        trading_key=net.traders[account].public_key.raw,
        scopes=(TradingScope.CANCEL, TradingScope.TRADE),
        not_before_ms=0,
        expiry_ms=time.time_ns() // 1_000_000 + 86_400_000,
        nonce=1,
    )
    register = sign_tx(
        net.owners[account],
        RegisterTradingKey(
            chain_id=CHAIN,
            nonce=1,
            authorization=message,
            owner_signature=sign(net.owners[account], "delegate/v1", CHAIN, message),
        ),
    )
    return [deposit, register]


_order_nonces = itertools.count(1)


def order(net: Net, account: str, side: Side, quantity: int, price: int = INDEX) -> SignedOrder:
    intent = OrderIntent(
        chain_id=CHAIN,
        account=account,
        instrument=PERP,
        side=side,
        order_type=OrderType.LIMIT,
        price=price,
        quantity=quantity,
        nonce=next(_order_nonces),
        expiry_ms=time.time_ns() // 1_000_000 + 3_600_000,
    )
    return sign_order(net.traders[account], intent)


def chain_account(ledger: Ledger, account: str) -> tuple[int, int]:
    record = ledger.account(account)
    assert record is not None
    position = record.positions.get(PERP)
    return record.balances.get("USDC", 0), 0 if position is None else position.quantity


def engine_account(net: Net, account: str) -> tuple[int, int]:
    pipeline = processes.replay(net.engine_home / "journal.optexj")
    record = pipeline.risk.ledger.accounts[account]
    position = record.positions.get(PERP)
    return record.balance, 0 if position is None else position.quantity


def engine_balance(net: Net, account: str) -> int:
    accounts = processes.replay(net.engine_home / "journal.optexj").risk.ledger.accounts
    return accounts[account].balance if account in accounts else 0


async def test_deposit_place_fill_cancel_withdraw_end_to_end(net: Net) -> None:
    chain = RpcChain(net.url)
    # Deposits on chain reach the engine through the watcher; the keys are registered on chain.
    submit_and_wait(chain, *on_chain(net, "maker", 2_000_000 * USDC))
    submit_and_wait(chain, *on_chain(net, "taker", 2_000_000 * USDC))
    wait_for(lambda: engine_balance(net, "taker") == 2_000_000 * USDC, "deposit not credited")
    client = await processes.connect(net.engine_home)
    await client.submit(AddInstrument(0, INSTRUMENT))
    await client.submit(SetPrices(0, {"BTC": INDEX}, {PERP: Mark(INDEX)}))
    # Signed orders cross in the engine; the maker edits its order with a signed replacement
    # (7/10 in total, the 4/10 filled included), the next fill is governed by the replacement,
    # and the rest of it is cancelled.
    maker_order = order(net, "maker", Side.SELL, BTC)
    accepted = await client.submit(PlaceSignedOrder(0, maker_order))
    maker_id = next(e.order_id for e in accepted.events if isinstance(e, OrderAccepted))
    await client.submit(PlaceSignedOrder(0, order(net, "taker", Side.BUY, 4 * BTC // 10)))
    edit = replacement(
        maker_order,
        quantity=7 * BTC // 10,
        nonce=next(_order_nonces),
        expiry_ms=maker_order.intent.expiry_ms,
    )
    amended = await client.submit(PlaceSignedOrder(0, sign_order(net.traders["maker"], edit)))
    assert any(isinstance(e, OrderAmended) for e in amended.events), amended.events
    await client.submit(PlaceSignedOrder(0, order(net, "taker", Side.BUY, 2 * BTC // 10)))
    await client.submit(CancelOrder(0, "maker", order_id=maker_id))
    wait_for(
        lambda: status(net.settle_home).get("committed_fills") == 2, "the fills did not settle"
    )
    assert status(net.settle_home).get("unsettled_fills") == 0
    # A withdrawal: the engine debits first (margin checked), then the chain pays out.
    link = EngineLink(net.engine_home)
    desk = WithdrawalDesk(net.root / "desk", chain, link, chain_id=CHAIN)
    withdrawal = sign_tx(
        net.owners["taker"],
        Withdraw(chain_id=CHAIN, nonce=2, account="taker", asset="USDC", amount=1_000 * USDC,
                 address="0xfeed"),
    )  # fmt: skip
    digest = await desk.request(withdrawal)
    wait_for(lambda: committed(chain, digest) > 0, "the withdrawal did not commit")
    height = committed(chain, digest)
    wait_for(lambda: status(net.settle_home).get("watcher_height", 0) >= height, "watcher lags")
    await link.close()
    await client.close()
    # The ledger's accounts are the engine's: balances after fees and the withdrawal, positions.
    engine_maker, engine_taker = engine_account(net, "maker"), engine_account(net, "taker")
    assert engine_taker[1] == 6 * BTC // 10 and engine_maker[1] == -6 * BTC // 10
    assert engine_taker[0] < 1_999_000 * USDC  # paid a fee and withdrew
    chain.close()
    ledger_home = net.cluster.network.homes[1]
    wait_for(lambda: net.cluster.height(1) >= height, "node 1 lags")
    net.cluster.kill(1)  # read its ledger at rest; three validators keep the chain going
    ledger = Ledger.open(ledger_home)
    assert chain_account(ledger, "maker") == engine_maker
    assert chain_account(ledger, "taker") == engine_taker
    proven = verify_account_proof(prove_account(ledger, "taker"))  # the state root commits it
    assert proven.record.positions[PERP].quantity == 6 * BTC // 10
    ledger.store.close()  # type: ignore[attr-defined]
    net.cluster.start(1)


async def test_killing_settlement_a_validator_and_the_engine_in_turn_loses_and_repeats_nothing(
    net: Net,
) -> None:
    chain = RpcChain(net.url)
    submit_and_wait(
        chain, *on_chain(net, "seller", 5_000_000 * USDC), *on_chain(net, "buyer", 5_000_000 * USDC)
    )
    wait_for(lambda: engine_balance(net, "buyer") == 5_000_000 * USDC, "deposit not credited")
    before = status(net.settle_home)["committed_fills"]
    quantity = BTC // 100
    acknowledged = 0

    async def stream(pairs: int) -> None:
        # Submits pairs that cross; an engine that dies mid-pair is reconnected to after its
        # restart, and the pair is placed again with new orders (the old ones may have landed).
        nonlocal acknowledged
        client = await processes.connect(net.engine_home)
        done = 0
        while done < pairs:
            try:
                for side, account in ((Side.SELL, "seller"), (Side.BUY, "buyer")):
                    await client.submit(PlaceSignedOrder(0, order(net, account, side, quantity)))
                done += 1
                acknowledged += 1
            except (ConnectionError, OSError):
                await client.close()
                while True:
                    await asyncio.sleep(0.1)
                    try:
                        client = await processes.connect(net.engine_home)
                        break
                    except (OSError, ValueError):
                        continue
            await asyncio.sleep(0.03)
        await client.close()

    def settled() -> int:
        return int(status(net.settle_home).get("committed_fills", 0))

    streaming = asyncio.create_task(stream(45))
    while settled() < before + 3:
        await asyncio.sleep(0.05)
    processes.stop(net.settle, kill=True)
    await asyncio.sleep(0.3)
    net.start_settle()
    net.cluster.kill(3)
    while acknowledged < 25:
        await asyncio.sleep(0.05)
    net.cluster.start(3)
    processes.stop(net.engine, kill=True)
    net.engine = processes.engine(
        net.engine_home, {a: k.public_key.raw for a, k in net.traders.items()}
    )
    await streaming
    engine = processes.replay(net.engine_home / "journal.optexj")
    account = engine.risk.ledger.accounts["buyer"]
    assert account.positions[PERP].quantity >= acknowledged * quantity  # nothing acked is lost
    fills = account.positions[PERP].quantity // quantity
    wait_for(lambda: settled() == before + fills, "not every fill settled", timeout_s=60)
    # Every fill of the engine is on chain once: no pair of signed orders twice, none missing.
    seen: list[tuple[bytes, bytes]] = []
    for height in range(1, chain.height() + 1):
        for outcome in chain.block(height).txs:
            body = outcome.tx.body
            if outcome.code == 0 and isinstance(body, TradeBatch):
                seen += [
                    (f.maker.signature, f.taker.signature)
                    for f in body.fills
                    if f.maker.intent.account in ("seller", "buyer")
                ]
    assert len(seen) == len(set(seen)) == fills
    chain.close()
