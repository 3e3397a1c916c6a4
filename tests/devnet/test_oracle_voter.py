"""The devnet's price votes (``optex.devnet.OracleVoter``): what a vote carries, nonces that
survive restarts, a real node that makes them its price, and nodes that are down, hung or
refusing, none of which may block the quoting loop or stop the voting.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from optex.chain import Ledger, load_genesis
from optex.core import InvalidInput
from optex.crypto import PrivateKey, decode_keystore, decrypt_key
from optex.devnet import Devnet, DevnetConfig, DevnetReason, OracleVoter, oracle_symbols
from optex.devnet._oracle import NONCE_FILE, RPC_TIMEOUT_S, NonceBook, vote_prices
from optex.node import Network, NodeReason, RpcClient, free_ports, init_network
from optex.risk import Mark
from tests.node.kit import FAST

SYMBOLS = ("BTC", "BTC-PERPETUAL")
BTC = 95_000_000_000
WAIT_S = 60.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _wait(condition: object, message: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


# What a vote carries ---------------------------------------------------------------------------


def test_a_devnet_votes_each_underlyings_index_and_its_perpetuals_mark() -> None:
    assert oracle_symbols(["ETH", "BTC"]) == ("BTC", "BTC-PERPETUAL", "ETH", "ETH-PERPETUAL")
    assert oracle_symbols(["BTC", "BTC"]) == ("BTC", "BTC-PERPETUAL")
    assert oracle_symbols([]) == ()


def test_a_vote_carries_the_index_and_marks_of_its_symbols_only() -> None:
    prices = vote_prices(
        SYMBOLS,
        {"BTC": BTC, "ETH": 3_500_000_000},
        {"BTC-PERPETUAL": Mark(BTC + 1), "BTC-27DEC26": Mark(BTC + 2)},
    )
    assert prices == {"BTC": BTC, "BTC-PERPETUAL": BTC + 1}
    # A symbol the feed has no price for is left out, not voted as zero.
    assert vote_prices(SYMBOLS, {"BTC": BTC}, {}) == {"BTC": BTC}


@pytest.mark.parametrize("bad", [0, -1, 2**63, True, 1.5, "95000", None])
def test_a_price_the_ledger_would_refuse_is_left_out_rather_than_spoil_the_vote(
    bad: object,
) -> None:
    prices = vote_prices(SYMBOLS, {"BTC": bad}, {"BTC-PERPETUAL": Mark(BTC)})  # type: ignore[dict-item]
    assert prices == {"BTC-PERPETUAL": BTC}


# Nonces ----------------------------------------------------------------------------------------


def test_nonces_rise_within_a_run_and_continue_above_the_last_after_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / NONCE_FILE
    key, other = PrivateKey.generate(), PrivateKey.generate()
    book = NonceBook(path)
    issued = [book.next(key) for _ in range(50)]
    assert issued == sorted(set(issued)), "strictly rising, even within one microsecond"
    assert abs(issued[0] - time.time_ns() // 1_000) < 60_000_000, "wall-clock microseconds"
    assert book.last(other) is None
    # A restart after a run whose clock was an hour ahead: the file, not the clock, wins.
    ahead = time.time_ns() // 1_000 + 3_600_000_000
    saved = json.loads(path.read_text())
    saved[key.public_key.hex()] = ahead
    path.write_text(json.dumps(saved))
    assert NonceBook(path).next(key) == ahead + 1
    assert NonceBook(path).next(key) == ahead + 2, "each nonce is saved as it is handed out"
    assert NonceBook(path).next(other) > 0


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        '{"ab": -1}',
        '{"ab": true}',
        '{"ab": "5"}',
        '{"ab": 1.5}',
        '{"ab": 18446744073709551615}',
    ],
)
def test_a_damaged_nonce_file_is_refused_and_left_as_it_was(tmp_path: Path, content: str) -> None:
    path = tmp_path / NONCE_FILE
    path.write_text(content)
    with pytest.raises(InvalidInput) as refused:
        NonceBook(path)
    assert refused.value.code is DevnetReason.INVALID_DEVNET_CONFIG
    assert path.read_text() == content


# Settings --------------------------------------------------------------------------------------


def test_a_voter_needs_one_port_per_key_and_a_period_within_the_votes_lifetime(
    tmp_path: Path,
) -> None:
    book = NonceBook(tmp_path / NONCE_FILE)
    key = PrivateKey.generate()
    with pytest.raises(InvalidInput, match="one node RPC port per validator key"):
        OracleVoter("optex-devnet", SYMBOLS, [key], [1, 2], book)
    for period in (0.0, -1.0, 31.0):
        with pytest.raises(InvalidInput, match="vote period"):
            OracleVoter("optex-devnet", SYMBOLS, [key], [1], book, period_s=period)


@pytest.mark.parametrize("interval", [0.0, 0.5, -2.0, 86_401.0])
def test_a_funding_interval_out_of_range_is_refused(tmp_path: Path, interval: float) -> None:
    config = DevnetConfig(home=tmp_path, funding_interval_s=interval)
    with pytest.raises(InvalidInput, match="--funding-interval") as refused:
        config.check()
    assert refused.value.code is DevnetReason.INVALID_DEVNET_CONFIG


def test_a_network_with_a_non_positive_funding_interval_is_not_written(tmp_path: Path) -> None:
    root = tmp_path / "chain"
    with pytest.raises(InvalidInput) as refused:
        init_network(root, validators=1, genesis_time_ms=1, ports=[(1, 2)], funding_interval_ms=0)
    assert refused.value.code is NodeReason.INVALID_CONFIG
    assert not root.exists()


def test_a_home_whose_chain_funds_at_another_interval_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    home = tmp_path / "devnet"
    root = home / "chain"
    ports = free_ports(2)
    init_network(
        root,
        validators=1,
        genesis_time_ms=_now_ms(),
        ports=[(ports[0], ports[1])],
        funding_interval_ms=5_000,
    )
    genesis = (root / "genesis.json").read_text()
    devnet = Devnet(
        DevnetConfig(home=home, validators=1, funding_interval_s=2.0), Console(quiet=True)
    )
    with pytest.raises(InvalidInput, match="funds every 5 s") as refused:
        devnet.start()
    assert refused.value.code is DevnetReason.HOME_MISMATCH
    assert devnet.supervisor.children == []
    assert (root / "genesis.json").read_text() == genesis


def test_a_genesis_without_oracle_symbols_votes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "chain"
    ports = free_ports(2)
    init_network(root, validators=1, genesis_time_ms=_now_ms(), ports=[(ports[0], ports[1])])
    with caplog.at_level(logging.WARNING, logger="optex.devnet"):
        voter = OracleVoter.open(root, [ports[1]])
    assert "lists no oracle symbols" in caplog.text
    voter.start()
    voter.submit({"BTC": BTC}, {})
    voter.stop()
    assert [s.admitted + s.failed for s in voter.status()] == [0]
    assert not (root / NONCE_FILE).exists()


# Nodes that do not answer ----------------------------------------------------------------------


def test_a_hung_node_never_blocks_submit_and_its_vote_counts_as_failed(tmp_path: Path) -> None:
    # A socket that accepts connections (the kernel's backlog) but never answers.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        voter = OracleVoter(
            "optex-devnet",
            SYMBOLS,
            [PrivateKey.generate()],
            [hung.getsockname()[1]],
            NonceBook(tmp_path / NONCE_FILE),
            period_s=0.1,
        )
        voter.start()
        slowest = 0.0
        for step in range(20):
            started = time.monotonic()
            voter.submit({"BTC": BTC + step}, {})
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.01)
        assert slowest < 0.05, f"submit waited {slowest:.3f} s on a hung node"
        _wait(lambda: voter.status()[0].failed >= 1, "the hung node's vote never timed out")
        started = time.monotonic()
        voter.stop()
        assert time.monotonic() - started < RPC_TIMEOUT_S + 1.5
        status = voter.status()[0]
        assert status.admitted == 0
        # Twenty submissions while one vote hung: the slot kept only the newest, no backlog.
        assert status.failed <= 2
    finally:
        hung.close()


def test_a_vote_whose_nonce_cannot_be_recorded_is_not_sent(tmp_path: Path) -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    listening.settimeout(0.5)
    try:
        # The nonce file's directory does not exist: the nonce cannot be kept across restarts.
        book = NonceBook(tmp_path / "missing" / NONCE_FILE)
        voter = OracleVoter(
            "optex-devnet", SYMBOLS, [PrivateKey.generate()], [listening.getsockname()[1]],
            book, period_s=0.1,
        )  # fmt: skip
        voter.start()
        voter.submit({"BTC": BTC}, {})
        _wait(lambda: voter.status()[0].failed == 1, "the unrecorded nonce was not a failure")
        with pytest.raises(TimeoutError):
            listening.accept()
        voter.submit({"BTC": BTC + 1}, {})
        _wait(lambda: voter.status()[0].failed == 2, "the voter stopped after a failure")
        voter.stop()
        assert voter.status()[0].admitted == 0
    finally:
        listening.close()


# A real node -----------------------------------------------------------------------------------


@dataclass
class OneNode:
    """A one-validator network whose genesis lists BTC's oracle symbols, and its process."""

    network: Network
    process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_port(self) -> int:
        return self.network.configs[0].rpc_port

    def start(self) -> None:
        home = self.network.homes[0]
        with (home / "node.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "optex.node", "--home", str(home)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(self._committing, "the node did not start committing")

    def _committing(self) -> bool:
        client = RpcClient("127.0.0.1", self.rpc_port, timeout_s=1.0)
        try:
            return int(client.status()["height"]) >= 1
        except OSError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def price(self, symbol: str) -> int | None:
        ledger = Ledger.open(self.network.homes[0])
        try:
            record = ledger.get("price/" + symbol)
            return None if record is None else int(record.price)
        finally:
            ledger.store.close()  # type: ignore[attr-defined]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[OneNode]:
    ports = free_ports(2)
    network = init_network(
        tmp_path / "chain",
        validators=1,
        genesis_time_ms=_now_ms(),
        ports=[(ports[0], ports[1])],
        timeouts=FAST,
        oracle_symbols=SYMBOLS,
    )
    one = OneNode(network)
    try:
        one.start()
        yield one
    finally:
        one.kill()


@pytest.mark.integration
def test_votes_become_the_chain_price_and_a_node_that_was_down_gets_the_next_one(
    node: OneNode, caplog: pytest.LogCaptureFixture
) -> None:
    root = node.network.root
    assert load_genesis(root / "genesis.json").oracle.symbols == SYMBOLS
    voter = OracleVoter.open(root, [node.rpc_port], period_s=0.2)
    voter.start()
    try:
        # ETH is not an oracle symbol of this chain: voting it would spoil the whole vote.
        voter.submit({"BTC": BTC, "ETH": 3_500_000_000}, {"BTC-PERPETUAL": Mark(BTC + 5)})
        _wait(lambda: node.price("BTC") == BTC, "the vote did not become the chain's price")
        assert node.price("BTC-PERPETUAL") == BTC + 5
        assert node.price("ETH") is None

        node.kill()
        with caplog.at_level(logging.WARNING, logger="optex.devnet"):
            for step in range(1, 6):
                voter.submit({"BTC": BTC + step}, {})
                time.sleep(0.3)
            _wait(lambda: voter.status()[0].failed >= 2, "votes to a dead node did not fail")
        warnings = [r for r in caplog.records if "price vote failed" in r.getMessage()]
        assert len(warnings) == 1, "one warning per run of failures"

        node.start()
        admitted = voter.status()[0].admitted

        def voted_again() -> bool:
            voter.submit({"BTC": BTC + 100}, {"BTC-PERPETUAL": Mark(BTC + 101)})
            return voter.status()[0].admitted > admitted

        _wait(voted_again, "the voter did not vote again once the node was back")
        _wait(lambda: node.price("BTC") == BTC + 100, "the new vote did not become the price")
        assert node.price("BTC-PERPETUAL") == BTC + 101
    finally:
        voter.stop()
    # Every nonce the voter used is on file, so a restarted devnet continues above them.
    status = voter.status()[0]
    assert status.last_nonce is not None
    saved = json.loads((root / NONCE_FILE).read_text())
    assert list(saved.values()) == [status.last_nonce]


@pytest.mark.integration
def test_a_vote_the_node_refuses_is_counted_and_the_voter_carries_on(node: OneNode) -> None:
    root = node.network.root
    keystore = decode_keystore((node.network.homes[0] / "validator_key.json").read_bytes())
    key = decrypt_key(keystore, node.network.password)
    # The validator's own key and node, but votes for another chain: each one is refused.
    wrong = OracleVoter(
        "another-chain", SYMBOLS, [key], [node.rpc_port], NonceBook(root / NONCE_FILE),
        period_s=0.1,
    )  # fmt: skip
    wrong.start()
    try:
        for step in range(3):
            wrong.submit({"BTC": BTC + step}, {})
            time.sleep(0.2)
        _wait(lambda: wrong.status()[0].failed >= 2, "the refused votes were not counted")
        assert wrong.status()[0].admitted == 0
        assert node.price("BTC") is None
    finally:
        wrong.stop()
