"""``GET /proof?account=NAME`` on a real node's RPC: the answer verifies with optex.chain's public
verifier alone, and every tampering with it is caught."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from optex.chain import (
    Account,
    AccountProof,
    decode_proof,
    encode_proof,
    encode_record,
    verify_account_proof,
)
from optex.core import OptexError
from optex.node import Node, RpcClient, RpcError, free_ports, init_network
from tests.node.kit import FAST


async def _until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def _rejected(proof: AccountProof) -> bool:
    try:
        verify_account_proof(decode_proof(encode_proof(proof, binary=True)))
    except OptexError:
        return True
    return False


def test_the_proof_route_answers_a_proof_that_verifies_and_refuses_tampering(
    tmp_path: Path,
) -> None:
    ports = free_ports(2)
    network = init_network(
        tmp_path,
        validators=1,
        genesis_time_ms=time.time_ns() // 1_000_000,
        ports=[(ports[0], ports[1])],
        timeouts=FAST,
        gossip_ms=100,
    )

    async def scenario() -> None:
        node = Node(network.homes[0], password=network.password)
        await node.start()
        try:
            assert await _until(lambda: node.ledger.height >= 1, 10)

            def calls() -> None:
                client = RpcClient("127.0.0.1", node.rpc_port)
                try:
                    answer = client.call("GET", "/proof?account=user0")
                    raw = base64.b64decode(answer["proof"], validate=True)
                    proven = verify_account_proof(decode_proof(raw))
                    # The fields beside the proof are the proof's own header's.
                    assert proven.account == answer["account"] == "user0"
                    assert proven.chain_id == answer["chain_id"]
                    assert proven.height == answer["height"] >= 1
                    proof = decode_proof(raw)
                    assert proof.header.state_root.hex() == answer["state_root"]
                    assert proven.validators_hash.hex() == answer["validators_hash"]
                    assert proven.record.balances["USDC"] > 0

                    # A changed balance, a changed sibling, another account's key, another
                    # height in the header: each fails the public verifier.
                    forged = msgspec.structs.replace(
                        proven.record,
                        balances={**proven.record.balances, "USDC": 10**15},
                    )
                    assert isinstance(forged, Account)
                    value = encode_record(forged)
                    assert _rejected(
                        msgspec.structs.replace(
                            proof, proof=msgspec.structs.replace(proof.proof, value=value)
                        )
                    )
                    if proof.proof.siblings:
                        siblings = list(proof.proof.siblings)
                        siblings[0] = bytes(32) if siblings[0] != bytes(32) else b"\x01" * 32
                        assert _rejected(
                            msgspec.structs.replace(
                                proof,
                                proof=msgspec.structs.replace(
                                    proof.proof, siblings=tuple(siblings)
                                ),
                            )
                        )
                    other_key = msgspec.structs.replace(proof.proof, key=b"acct/user1")
                    assert _rejected(msgspec.structs.replace(proof, proof=other_key))
                    later = msgspec.structs.replace(proof.header, height=proof.header.height + 1)
                    assert _rejected(msgspec.structs.replace(proof, header=later))
                    # A flipped byte anywhere in the transported bytes never verifies.
                    for index in range(0, len(raw), max(1, len(raw) // 40)):
                        flipped = bytearray(raw)
                        flipped[index] ^= 0x01
                        with pytest.raises(OptexError):
                            verify_account_proof(decode_proof(bytes(flipped)))

                    for bad in ("", "?account=", "?account=" + "a" * 65, "?account=al%20ice"):
                        with pytest.raises(RpcError) as info:
                            client.call("GET", "/proof" + bad)
                        assert info.value.status == 400
                        assert info.value.body["reason"] == "bad_request"
                    with pytest.raises(RpcError) as info:
                        client.call("GET", "/proof?account=nobody")
                    assert info.value.status == 404
                finally:
                    client.close()

            await asyncio.to_thread(calls)
        finally:
            await node.stop()

    asyncio.run(scenario())
