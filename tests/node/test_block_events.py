"""``GET /block`` on a real node answers the block's events: an expiry settled on chain.

One validator with its RPC on loopback, a clock the test moves past the future's expiry: a fill
settles, the validator votes an index price after expiry, and the block that settles the
future answers its ``settlement_credit`` and ``settled`` events as JSON, equal to the stored
block result, and as ``optex.settlement``'s ``RpcChain`` reads them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optex.chain import Event, Fill
from optex.core import instrument_from_name
from optex.crypto import PrivateKey, Side
from optex.node import Node, RpcClient, RpcError, free_ports, init_network
from optex.settlement import RpcChain
from tests.node.kit import FAST
from tests.settlement.chain_kit import (
    FUTURE,
    batch,
    consensus_key,
    list_btc,
    registration,
    signed_order,
    votes,
    wall_ms,
)

EXPIRY = instrument_from_name(FUTURE).expiry_ms or 0
PRICE = 100_000_000_000
SETTLE = 104_321_000_001
CENT_BTC = 1_000_000


async def _until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def test_the_block_route_answers_the_settlement_events_of_a_real_node(tmp_path: Path) -> None:
    ports = free_ports(2)
    network = init_network(
        tmp_path,
        validators=1,
        genesis_time_ms=wall_ms(),
        ports=[(ports[0], ports[1])],
        users=2,
        timeouts=FAST,
        gossip_ms=100,
    )
    home = network.homes[0]
    list_btc(tmp_path / "genesis.json", home / "genesis.json")
    chain_id = network.genesis.chain_id
    offset = [0]
    traders = {name: PrivateKey.generate() for name in ("user0", "user1")}
    validator = consensus_key(home, network.password)
    assert network.operator is not None

    async def scenario() -> None:
        node = Node(home, password=network.password, clock_ms=lambda: wall_ms() + offset[0])
        await node.start()
        try:
            assert await _until(lambda: node.ledger.height >= 1, 10)
            chain = RpcChain(f"http://127.0.0.1:{node.rpc_port}")
            now = wall_ms()
            for name, trader in traders.items():
                owner = network.users[name]
                node.admit(registration(chain_id, name, owner, trader, nonce=1, now_ms=now))
            buy, sell = (
                signed_order(chain_id, name, traders[name], side, quantity=CENT_BTC, price=PRICE,
                             nonce=n, expiry_ms=now + 3_600_000)
                for n, (name, side) in enumerate((("user0", Side.BUY), ("user1", Side.SELL)), 1)
            )  # fmt: skip
            node.admit(batch(chain_id, network.operator, 1, Fill(sell, buy, PRICE, CENT_BTC)))
            assert await _until(lambda: FUTURE in node.ledger.account("user0").positions, 20)
            # The clock passes expiry; the validator's vote after it settles the future.
            offset[0] = EXPIRY - wall_ms() + 1_000
            passed = node.ledger.height + 1
            assert await _until(lambda: node.ledger.height > passed, 20)
            node.admit(votes(chain_id, [validator], {"BTC": SETTLE}, 1)[0])
            assert await _until(lambda: node.ledger.get("settled/" + FUTURE) is not None, 20)

            def answers() -> tuple[int, dict[str, Any]]:
                client = RpcClient("127.0.0.1", node.rpc_port)
                try:
                    for height in range(node.ledger.height, 0, -1):
                        answer = client.call("GET", f"/block?height={height}")
                        if any(e["kind"] == "settled" for e in answer["events"]):
                            return height, answer
                    raise AssertionError("no block settled the future")
                finally:
                    client.close()

            height, answer = await asyncio.to_thread(answers)
            events = [e for e in answer["events"] if e["kind"] != "rewards"]
            # user0 bought 0.01 BTC at 100,000 and user1 sold it; settled at 104,321.000001.
            assert events == [
                {
                    "kind": "settlement_credit",
                    "attributes": {
                        "account": "user0",
                        "amount": "43210000",
                        "instrument": FUTURE,
                        "quantity": str(CENT_BTC),
                    },
                },
                {
                    "kind": "settlement_credit",
                    "attributes": {
                        "account": "user1",
                        "amount": "-43210001",
                        "instrument": FUTURE,
                        "quantity": str(-CENT_BTC),
                    },
                },
                {
                    "kind": "settled",
                    "attributes": {"instrument": FUTURE, "positions": "2", "price": str(SETTLE)},
                },
            ]
            stored = node.ledger.load_block(height)[1]
            assert [{"kind": e.kind, "attributes": e.attributes} for e in stored.events] == [
                {"kind": e["kind"], "attributes": e["attributes"]} for e in answer["events"]
            ]
            decided = await asyncio.to_thread(chain.block, height)
            assert decided.events == stored.events
            assert Event("settled", answer["events"][-1]["attributes"]) in decided.events

            def results() -> list[dict[str, Any]]:
                client = RpcClient("127.0.0.1", node.rpc_port)
                try:
                    return [
                        result
                        for h in range(1, height + 1)
                        for result in client.call("GET", f"/block?height={h}")["results"]
                    ]
                finally:
                    client.close()

            # Each transaction's result carries its own events: the batch says it traded.
            assert {"kind": "trades", "attributes": {"fills": "1"}} in [
                event for result in await asyncio.to_thread(results) for event in result["events"]
            ]

            def missing() -> int:
                client = RpcClient("127.0.0.1", node.rpc_port)
                try:
                    client.call("GET", f"/block?height={node.ledger.height + 100}")
                except RpcError as exc:
                    return exc.status
                finally:
                    client.close()
                return 200

            assert await asyncio.to_thread(missing) == 404
            chain.close()
        finally:
            await node.stop()

    asyncio.run(scenario())
