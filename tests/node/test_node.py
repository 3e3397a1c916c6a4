"""Nodes in one event loop over real loopback connections: block sync, evidence, RPC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from optex.chain import block_hash, tx_hash
from optex.chain.consensus import (
    Commit,
    Ed25519Signer,
    SyncedBlock,
    Value,
    Vote,
    VoteType,
    address_of,
    vote_signing_bytes,
)
from optex.core import encode
from optex.node import (
    Network,
    Node,
    RpcClient,
    RpcError,
    SyncBlocks,
    free_ports,
    init_network,
)
from optex.node._config import VALIDATOR_KEY_FILE, load_key
from tests.node.kit import FAST, transfer


def _network(root: Path, n: int = 4, full_nodes: int = 0) -> Network:
    ports = free_ports(2 * (n + full_nodes))
    return init_network(
        root,
        validators=n,
        genesis_time_ms=time.time_ns() // 1_000_000,
        ports=[(ports[2 * i], ports[2 * i + 1]) for i in range(n + full_nodes)],
        timeouts=FAST,
        gossip_ms=100,
        full_nodes=full_nodes,
    )


async def _until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


async def _start(network: Network, indices: list[int]) -> list[Node]:
    nodes = [Node(network.homes[i], password=network.password) for i in indices]
    for node in nodes:
        await node.start()
    return nodes


async def _stop(nodes: list[Node]) -> None:
    for node in nodes:
        await node.stop()


def test_a_node_that_starts_late_syncs_the_decided_blocks_and_agrees_on_the_state(
    tmp_path: Path,
) -> None:
    network = _network(tmp_path)

    async def scenario() -> None:
        nodes = await _start(network, [0, 1, 2])
        try:
            key = network.users["user0"]
            for nonce in range(1, 31):
                nodes[0].admit(transfer(key, nonce))
            assert await _until(lambda: all(n.ledger.height >= 6 for n in nodes), 20)
            assert nodes[0].ledger.account("user1") is not None
            late = (await _start(network, [3]))[0]
            nodes.append(late)
            target = nodes[0].ledger.height
            assert await _until(lambda: late.ledger.height >= target, 20), "no block sync"
            roots = {n.ledger.load_block(target)[1].state_root for n in nodes}
            assert len(roots) == 1
            assert (
                late.ledger.load_commit(target).block_hash
                == nodes[0].ledger.load_block(target)[1].block_hash
            )
            balances = {n.ledger.account("user1").balances["USDC"] for n in nodes}  # type: ignore[union-attr]
            assert len(balances) == 1
        finally:
            await _stop(nodes)

    asyncio.run(scenario())


def test_a_double_sign_is_detected_gossiped_committed_and_slashed(tmp_path: Path) -> None:
    network = _network(tmp_path)
    culprit = load_key(network.homes[3] / VALIDATOR_KEY_FILE, network.password)
    signer = Ed25519Signer(culprit.seed().reveal())
    address = address_of(signer.public_key)

    async def scenario() -> None:
        nodes = await _start(network, [0, 1, 2, 3])
        try:
            assert await _until(lambda: all(n.ledger.height >= 2 for n in nodes), 20)
            before = nodes[0].ledger.validator(address)
            assert before is not None and not before.tombstoned
            machine = nodes[0].machine
            height, round_ = machine.height, machine.round + 5
            for block_hash in (b"\x01" * 32, b"\x02" * 32):
                data = vote_signing_bytes(
                    "optex-devnet", VoteType.PREVOTE, height, round_, block_hash
                )
                vote = Vote(VoteType.PREVOTE, height, round_, block_hash, address,
                            signer.sign(data))  # fmt: skip
                nodes[0]._on_message(nodes[3].node_id, vote)
            assert len(nodes[0].evidence_seen) == 1

            def slashed() -> bool:
                found = [n.ledger.validator(address) for n in nodes]
                return all(v is not None and v.tombstoned for v in found)

            assert await _until(slashed, 20), "the evidence was not committed"
            after = nodes[1].ledger.validator(address)
            assert after is not None and after.jailed and after.tokens < before.tokens
            # The set shrinks to three validators and the chain goes on without the culprit.
            height = max(n.ledger.height for n in nodes)
            assert await _until(lambda: all(n.ledger.height >= height + 3 for n in nodes), 20)
            members = nodes[0].ledger.signing_set().members
            assert address not in {m.address for m in members} and len(members) == 3
        finally:
            await _stop(nodes)

    asyncio.run(scenario())


def test_rpc_serves_status_blocks_commits_and_refuses_bad_transactions(tmp_path: Path) -> None:
    network = _network(tmp_path, 1)

    async def scenario() -> None:
        (node,) = await _start(network, [0])
        try:
            assert await _until(lambda: node.ledger.height >= 1, 10)

            def calls() -> None:
                client = RpcClient("127.0.0.1", node.rpc_port)
                status = client.status()
                assert status["chain_id"] == "optex-devnet" and status["height"] >= 1
                assert len(bytes.fromhex(status["app_hash"])) == 32
                assert status["validator"] is not None and status["peers"] == []
                key = network.users["user0"]
                digest = client.broadcast_tx(transfer(key, 1))
                with pytest.raises(RpcError) as info:
                    client.broadcast_tx(transfer(key, 1))
                assert info.value.body["reason"] == "duplicate_tx"
                results = client.broadcast_txs([transfer(key, 2, chain_id="optex-other")])
                assert results[0]["reason"] == "wrong_chain"
                with pytest.raises(RpcError) as info:
                    client.call("POST", "/broadcast_tx", {"tx": "zz"})
                assert info.value.status == 400
                with pytest.raises(RpcError) as info:
                    client.block(10**9)
                assert info.value.status == 404
                deadline = time.monotonic() + 10
                found = None
                while found is None and time.monotonic() < deadline:
                    for h in range(1, client.status()["height"] + 1):
                        if digest in client.block(h)["tx_hashes"]:
                            found = h
                    time.sleep(0.1)
                assert found is not None
                block = client.block(found)
                assert block["results"][block["tx_hashes"].index(digest)]["code"] == 0
                assert client.commit(found)["block_hash"] == block["hash"]
                client.close()

            await asyncio.to_thread(calls)
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_a_full_node_follows_the_chain_and_relays_transactions_without_voting(
    tmp_path: Path,
) -> None:
    network = _network(tmp_path, 3, full_nodes=1)

    async def scenario() -> None:
        nodes = await _start(network, [0, 1, 2, 3])
        full = nodes[3]
        try:
            assert full.signer is None and full.status()["validator"] is None
            digest = full.admit(transfer(network.users["user0"], 1))

            def included() -> bool:
                height = nodes[0].ledger.height
                return any(
                    digest in {tx_hash(tx) for tx in nodes[0].ledger.load_block(h)[0].txs}
                    for h in range(1, height + 1)
                )

            assert await _until(included, 20), "a full node's transaction was not committed"
            target = nodes[0].ledger.height
            assert await _until(lambda: full.ledger.height >= target, 20)
            roots = {n.ledger.load_block(target)[1].state_root for n in nodes}
            assert len(roots) == 1
            commit = full.ledger.load_commit(target)
            assert full.signer is None and len(commit.precommits) >= 3
        finally:
            await _stop(nodes)

    asyncio.run(scenario())


def test_block_sync_applies_a_block_with_a_valid_commit_and_refuses_a_forged_one(
    tmp_path: Path,
) -> None:
    network = _network(tmp_path)
    signers = [
        Ed25519Signer(load_key(home / VALIDATOR_KEY_FILE, network.password).seed().reveal())
        for home in network.homes
    ]

    async def scenario() -> None:
        (node,) = await _start(network, [0])  # alone: no quorum, no progress of its own
        try:
            block = node.ledger.build_block(
                node.ledger.meta.ts_ms + 1, [transfer(network.users["user0"], 1)]
            )
            digest = block_hash(block.header)
            data = vote_signing_bytes("optex-devnet", VoteType.PRECOMMIT, 1, 0, digest)

            def precommit(signer: Ed25519Signer, signature: bytes | None = None) -> Vote:
                address = address_of(signer.public_key)
                return Vote(VoteType.PRECOMMIT, 1, 0, digest, address,
                            signature or signer.sign(data))  # fmt: skip

            value = Value(digest, encode(block))
            forged = Commit(1, 0, digest, tuple(precommit(s, bytes(64)) for s in signers[1:]))
            node._on_message(b"peer", SyncBlocks((SyncedBlock(value, forged),)))
            assert node.ledger.height == 0
            too_few = Commit(1, 0, digest, (precommit(signers[1]), precommit(signers[2])))
            node._on_message(b"peer", SyncBlocks((SyncedBlock(value, too_few),)))
            assert node.ledger.height == 0
            genuine = Commit(1, 0, digest, tuple(precommit(s) for s in signers[1:]))
            node._on_message(b"peer", SyncBlocks((SyncedBlock(value, genuine),)))
            assert node.ledger.height == 1
            assert node.ledger.load_commit(1) == genuine
            assert node.machine.height == 2
        finally:
            await node.stop()

    asyncio.run(scenario())
