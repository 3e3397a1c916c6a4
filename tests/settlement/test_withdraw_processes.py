"""A withdrawal journaled by the gateway, paid by ``optex settle`` exactly once although the
settlement process is SIGKILLed before and after it broadcasts (real processes on loopback)."""

from __future__ import annotations

import time

from optex.chain import Ledger, Withdraw, sign_tx, tx_hash
from optex.core import encode
from optex.exchange import Withdraw as EngineWithdraw
from optex.settlement import RpcChain, withdraw_key
from tests.settlement import processes, test_processes
from tests.settlement.processes import status, wait_for
from tests.settlement.test_processes import (
    CHAIN,
    USDC,
    Net,
    committed,
    engine_balance,
    on_chain,
    submit_and_wait,
)

net = test_processes.net
"""This module's own network of validators, engine and ``optex settle`` (the same fixture)."""


def chain_usdc(net: Net, account: str) -> int:
    chain = RpcChain(net.url)
    try:
        top = chain.height()
    finally:
        chain.close()
    wait_for(lambda: net.cluster.height(0) >= top, "node 0 lags")
    ledger = Ledger.open(net.cluster.network.homes[0])
    try:
        record = ledger.account(account)
        return 0 if record is None else record.balances.get("USDC", 0)
    finally:
        ledger.store.close()  # type: ignore[attr-defined]


def times_decided(chain: RpcChain, digest: str) -> int:
    return sum(
        outcome.hash == digest
        for height in range(1, chain.height() + 1)
        for outcome in chain.block(height).txs
    )


async def test_a_journaled_withdrawal_is_paid_once_across_sigkills_of_settle(net: Net) -> None:
    chain = RpcChain(net.url)
    submit_and_wait(chain, *on_chain(net, "maker", 10_000 * USDC))
    wait_for(lambda: engine_balance(net, "maker") == 10_000 * USDC, "deposit not credited")
    processes.stop(net.settle, kill=True)  # settlement is down when the gateway journals it

    tx = sign_tx(
        net.owners["maker"],
        Withdraw(
            chain_id=CHAIN,
            nonce=time.time_ns() // 1000,
            account="maker",
            asset="USDC",
            amount=2_500 * USDC,
            address="0xfeed0000",
        ),
    )
    digest = tx_hash(tx).hex()
    client = await processes.connect(net.engine_home)
    command = EngineWithdraw(0, "maker", 2_500 * USDC, digest, chain_tx=encode(tx))
    receipt = await client.submit(command, withdraw_key(digest))
    await client.close()
    assert not receipt.duplicate
    assert engine_balance(net, "maker") == 7_500 * USDC

    net.start_settle()
    wait_for(lambda: committed(chain, digest) > 0, "the withdrawal was not paid")
    processes.stop(net.settle, kill=True)  # killed after broadcasting: it broadcasts again
    net.start_settle()
    height = committed(chain, digest)
    wait_for(
        lambda: status(net.settle_home).get("watcher_height", 0) >= height + 2,
        "the watcher did not pass the withdrawal's block",
    )
    assert status(net.settle_home)["withdrawals"][digest] == "done"
    assert times_decided(chain, digest) == 1
    assert chain_usdc(net, "maker") == 7_500 * USDC
    assert engine_balance(net, "maker") == 7_500 * USDC  # debited once, never refunded
    chain.close()
