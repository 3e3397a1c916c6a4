"""``public/optex_get_proof`` through real processes: a validator node, an engine and a gateway
started with ``--node``. The answer verifies with optex.chain's public verifier alone; tampered
proofs fail it; a node that is down or answers a proof of something else is reported, never
forwarded."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from optex.chain import decode_proof, encode_proof, encode_record, verify_account_proof
from optex.core import OptexError
from optex.node import LocalCluster
from tests.gateway.kit import Exchange, Rest, start_exchange
from tests.node.kit import FAST

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Exchange]]:
    root = tmp_path_factory.mktemp("proofs")
    cluster = LocalCluster(
        root / "chain", 1, genesis_time_ms=time.time_ns() // 1_000_000, timeouts=FAST
    )
    with cluster:
        cluster.start_all()
        assert cluster.wait_for([0], 1, 30), "the validator did not commit a block"
        node = f"http://127.0.0.1:{cluster.rpc_port(0)}"
        exchange = start_exchange(root / "exchange", ("pia",), gateway_args=("--node", node))
        try:
            yield cluster, exchange
        finally:
            exchange.stop()


def _error(answer: dict[str, Any]) -> tuple[int, str]:
    assert "error" in answer, answer
    return answer["error"]["code"], answer["error"]["data"]["reason"]


def test_a_proof_from_the_gateway_verifies_with_the_chain_package_alone(
    chain: tuple[LocalCluster, Exchange],
) -> None:
    cluster, exchange = chain
    with Rest(exchange.url) as rest:
        result = rest.get("public/optex_get_proof", account="user0")["result"]
    proven = verify_account_proof(decode_proof(base64.b64decode(result["proof"])))
    assert proven.account == result["account"] == "user0"
    assert (proven.chain_id, proven.height) == (result["chain_id"], result["height"])
    assert proven.validators_hash.hex() == result["validators_hash"]
    assert result["balances"] == proven.record.balances and result["balances"]["USDC"] > 0
    # The state root shown is the one the node's block of that height carries.
    client = cluster.client(0)
    try:
        block = client.block(result["height"])
    finally:
        client.close()
    assert block["header"]["state_root"] == result["state_root"]
    assert block["hash"] == result["block_hash"]


def test_a_tampered_proof_or_value_fails_verification(
    chain: tuple[LocalCluster, Exchange],
) -> None:
    _, exchange = chain
    with Rest(exchange.url) as rest:
        result = rest.get("public/optex_get_proof", account="user0")["result"]
    raw = base64.b64decode(result["proof"])
    proof = decode_proof(raw)
    record = verify_account_proof(proof).record
    richer = msgspec.structs.replace(record, balances={**record.balances, "USDC": 10**15})
    tampered = msgspec.structs.replace(
        proof, proof=msgspec.structs.replace(proof.proof, value=encode_record(richer))
    )
    with pytest.raises(OptexError) as info:
        verify_account_proof(decode_proof(encode_proof(tampered, binary=True)))
    assert info.value.reason == "invalid_proof"
    for index in (0, len(raw) // 3, len(raw) // 2, len(raw) - 1):
        flipped = bytearray(raw)
        flipped[index] ^= 0x80
        with pytest.raises(OptexError):
            verify_account_proof(decode_proof(bytes(flipped)))


def test_unknown_and_malformed_accounts_are_refused_in_deribit_shape(
    chain: tuple[LocalCluster, Exchange],
) -> None:
    _, exchange = chain
    with Rest(exchange.url) as rest:
        assert _error(rest.get("public/optex_get_proof", account="nobody")) == (
            -32602,
            "proof_not_found",
        )
        assert _error(rest.get("public/optex_get_proof", account="a b"))[0] == -32602
        assert _error(rest.get("public/optex_get_proof", account="x" * 65))[0] == -32602
        assert _error(rest.get("public/optex_get_proof"))[0] == -32602


class _Liar(http.server.BaseHTTPRequestHandler):
    """A "node" that answers every account with the same recorded proof."""

    answer: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args: object) -> None:
        pass


def test_a_node_that_answers_another_accounts_proof_or_garbage_is_not_forwarded(
    chain: tuple[LocalCluster, Exchange], tmp_path: Path
) -> None:
    cluster, _ = chain
    client = cluster.client(0)
    try:
        user1 = client.call("GET", "/proof?account=user1")
    finally:
        client.close()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    liar = f"http://127.0.0.1:{server.server_address[1]}"
    exchange = start_exchange(tmp_path, ("lia",), gateway_args=("--node", liar))
    try:
        with Rest(exchange.url) as rest:
            _Liar.answer = json.dumps(user1).encode()
            answer = rest.get("public/optex_get_proof", account="user0")
            assert _error(answer) == (13503, "proofs_unavailable")
            assert "another account" in answer["error"]["data"]["message"]
            _Liar.answer = json.dumps({**user1, "proof": user1["proof"][:-8] + "AAAAAAA="}).encode()
            assert _error(rest.get("public/optex_get_proof", account="user1"))[0] == 13503
            _Liar.answer = b"<html>not json</html>"
            assert _error(rest.get("public/optex_get_proof", account="user1"))[0] == 13503
        server.shutdown()
        server.server_close()
        with Rest(exchange.url) as rest:
            # Nobody listens there any more: unavailable, promptly.
            started = time.monotonic()
            assert _error(rest.get("public/optex_get_proof", account="user1"))[0] == 13503
            assert time.monotonic() - started < 6
    finally:
        exchange.stop()
