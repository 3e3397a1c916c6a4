"""The node: one asyncio event loop driving consensus, the ledger, the mempool, peers and RPC.

Everything that touches the state machine runs on the loop's thread, one event at a time:
a peer message, a fired timer or an RPC call. Consensus outputs drive the I/O: ``Broadcast``
goes to every peer, ``ScheduleTimeout`` becomes ``loop.call_later`` handing the ``Timeout``
back, ``Decided`` is applied to the ledger (``apply_block`` then ``save_commit``, both in the
SQLite store) before the next event, and ``EvidenceFound`` becomes an ``evidence`` transaction
that is gossiped, committed, and slashes the double signer.

The consensus state machine logs to ``consensus.wal`` (:class:`FileWAL`) before it signs, so a
validator restarted after a crash re-signs only what it signed before. On start the machine is
built at the ledger's next height, and the decisions the log holds beyond the ledger are
applied. A node that hears of a higher height (a message, or a peer's periodic ``Status``) asks
that peer for decided blocks with their commits and feeds them to consensus as ``SyncedBlock``.

The validator set consensus uses for a height is the ledger's (the set the next block is
signed by), with proposer priorities advanced one step per height from the first, as the state
machine advances them itself; if a block changes the set (a validator jailed or elected), the
state machine is rebuilt for the next height from the ledger and the log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from optex.chain import Block, Evidence, Ledger, SignedTx, block_hash, sign_tx, tx_hash
from optex.chain.consensus import (
    Broadcast,
    Decided,
    DuplicateVoteEvidence,
    Ed25519Signer,
    EvidenceFound,
    Output,
    Proposal,
    ScheduleTimeout,
    SyncedBlock,
    Tendermint,
    Timeout,
    TimeoutKind,
    ValidatorSet,
    Value,
    Vote,
    address_of,
    ed25519_verify,
)
from optex.core import InvalidInput, InvariantViolation, OptexError, decode, encode
from optex.crypto import PrivateKey
from optex.node._app import ChainApp
from optex.node._config import (
    NODE_KEY_FILE,
    VALIDATOR_KEY_FILE,
    WAL_FILE,
    NodeConfig,
    load_config,
    load_key,
    resolve_password,
)
from optex.node._mempool import LedgerCheck, Mempool
from optex.node._peers import Peers
from optex.node._proofs import proof_routes
from optex.node._rpc import Route, RpcServer
from optex.node._status import routes
from optex.node._wal import SignSyncWAL
from optex.node._wire import Message, Status, SyncBlocks, SyncRequest, Txs, encode_message

NEXT_SET_KEY: Final = "valset/next"
SYNC_RETRY_S: Final = 0.2
STATUS_EVERY: Final = 5
SYNC_MAX_BYTES: Final = 6 * 1024 * 1024
TX_BATCH: Final = 1_000
INBOX_CHUNK: Final = 32

log = logging.getLogger("optex.node")


def wall_clock_ms() -> int:
    """Milliseconds since the epoch: the proposer's block time."""
    return time.time_ns() // 1_000_000


class Node:
    """A validator (with ``validator_key.json``) or a full node, from its home directory."""

    def __init__(
        self,
        home: Path,
        *,
        password: str | None = None,
        password_file: Path | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.home = home
        self.config: NodeConfig = load_config(home)
        if password is None:
            password = resolve_password(home, self.config, password_file)
        node_key = load_key(home / NODE_KEY_FILE, password)
        self.node_key = Ed25519PrivateKey.from_private_bytes(node_key.seed().reveal())
        self.node_id = node_key.public_key.raw
        self._tx_key: PrivateKey = node_key
        self.signer: Ed25519Signer | None = None
        if self.config.validator and (home / VALIDATOR_KEY_FILE).exists():
            consensus_key = load_key(home / VALIDATOR_KEY_FILE, password)
            self.signer = Ed25519Signer(consensus_key.seed().reveal())
        self.clock_ms = clock_ms
        self.ledger = Ledger.open(home)
        check = LedgerCheck(self.ledger)
        limits = self.config.mempool
        self.mempool = Mempool(
            check,
            recheck=check.recheck,
            max_txs=limits.max_txs,
            max_bytes=limits.max_bytes,
            max_tx_bytes=limits.max_tx_bytes,
        )
        self.app = ChainApp(
            self.ledger,
            self.mempool,
            clock_ms=clock_ms,
            proposer=b"" if self.signer is None else address_of(self.signer.public_key),
            block_max_txs=limits.block_max_txs,
            block_max_bytes=limits.block_max_bytes,
        )
        self.wal = SignSyncWAL(home / WAL_FILE)
        self.machine = self._new_machine()
        self.peers = Peers(self.node_key, self._on_message, self._on_connect)
        self.rpc = RpcServer(self._routes())
        self.p2p_port = self.config.p2p_port
        self.rpc_port = self.config.rpc_port
        self.peer_heights: dict[bytes, int] = {}
        self.evidence_seen: set[DuplicateVoteEvidence] = set()
        self.failure: str | None = None
        self._epoch = 0
        self._rebuild = False
        self._last_sync = 0.0
        self._outbox: list[tuple[SignedTx, bytes | None]] = []
        self._inbox: deque[tuple[SignedTx, bytes, bytes]] = deque()
        self._inbox_hashes: set[bytes] = set()
        self._rng = random.Random(self.node_id)  # noqa: S311 - which peer to gossip to
        self._stopped = asyncio.Event()
        self._gossip_task: asyncio.Task[None] | None = None

    # -- consensus ----------------------------------------------------------------------------

    def _consensus_set(self, height: int) -> ValidatorSet:
        record = self.ledger.get(NEXT_SET_KEY) or self.ledger.signing_set()
        members = [(m.public_key, m.power) for m in record.members]
        validators = ValidatorSet.genesis(members)
        for _ in range(height - 1):
            validators = validators.advanced(1)
        return validators

    def _new_machine(self) -> Tendermint:
        height = self.ledger.height + 1
        return Tendermint(
            chain_id=self.ledger.chain_id,
            validators=self._consensus_set(height),
            height=height,
            application=self.app,
            wal=self.wal,
            verify=ed25519_verify,
            signer=self.signer,
            timeouts=self.config.timeouts,
        )

    def _feed(self, event: Proposal | Vote | Timeout | SyncedBlock) -> None:
        try:
            outputs = self.machine.handle(event)
        except InvalidInput as exc:
            log.debug("ignored %s: %s", type(event).__name__, exc.message)
            return
        self._process(outputs)

    def _process(self, outputs: list[Output]) -> None:
        loop = asyncio.get_running_loop()
        for out in outputs:
            if isinstance(out, Broadcast):
                self.peers.broadcast(encode_message(out.message))
            elif isinstance(out, ScheduleTimeout):
                loop.call_later(out.duration_ms / 1000, self._on_timer, self._epoch, out.timeout)
            elif isinstance(out, Decided):
                self._commit(out)
            elif isinstance(out, EvidenceFound):
                self.submit_evidence(out.evidence)
        if self._rebuild:
            self._rebuild = False
            self._epoch += 1
            self.machine = self._new_machine()
            log.info("validator set changed: consensus restarts at %d", self.machine.height)
            self._start_machine()

    def _start_machine(self) -> None:
        """Start (or recover) the state machine and make sure its height begins.

        A machine built at the height after the log's last decision finds nothing to replay at
        that height and would wait in ``NEW_HEIGHT`` for a commit timeout that the previous
        process had armed; the node arms it again (it is ignored once the height started).
        """
        self._process(self.machine.start())
        height, epoch = self.machine.height, self._epoch
        delay = self.config.timeouts.commit_ms / 1000
        timeout = Timeout(TimeoutKind.COMMIT, height, 0)
        asyncio.get_running_loop().call_later(delay, self._on_timer, epoch, timeout)

    def _on_timer(self, epoch: int, timeout: Timeout) -> None:
        if epoch == self._epoch and self.failure is None:
            self._feed(timeout)

    def _commit(self, decided: Decided) -> None:
        if decided.height <= self.ledger.height:
            return
        block = decode(decided.value.payload, Block)
        members_before = self.ledger.get(NEXT_SET_KEY)
        try:
            self.ledger.apply_block(block)
            self.ledger.save_commit(decided.commit)
        except OptexError as exc:
            # Consensus decided a block this ledger refuses: state can no longer be trusted.
            self.failure = f"decided block {decided.height} does not apply: {exc.message}"
            log.critical(self.failure)
            self._stopped.set()
            raise InvariantViolation(self.failure) from exc
        self.app.last_signers = tuple(v.validator for v in decided.commit.precommits)
        self.mempool.update(block.txs)
        if self.ledger.get(NEXT_SET_KEY) != members_before:
            self._rebuild = True
        log.info(
            "committed height %d round %d: %d txs, app hash %s",
            decided.height,
            decided.round,
            len(block.txs),
            # The header's: the ledger committed only because the state's root equals it, and
            # asking the tree would hash the block's writes now instead of with the next block.
            block.header.state_root.hex()[:16],
        )

    def submit_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        """Turn a double sign into an ``evidence`` transaction, admit it and gossip it."""
        if evidence in self.evidence_seen:
            return
        self.evidence_seen.add(evidence)
        body = Evidence(chain_id=self.ledger.chain_id, nonce=self.clock_ms(), evidence=evidence)
        tx = sign_tx(self._tx_key, body)
        log.warning("double sign by %s: submitting evidence", evidence.vote_a.validator.hex())
        try:
            self.admit(tx)
        except OptexError as exc:
            log.warning("evidence refused: %s", exc.message)

    # -- transactions ---------------------------------------------------------------------------

    def admit(self, tx: SignedTx, source: bytes | None = None) -> bytes:
        """Admit a transaction to the mempool and queue it for gossip; its hash."""
        digest = self.mempool.add(tx)
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush_outbox)
        self._outbox.append((tx, source))
        return digest

    def _drain_inbox(self) -> None:
        """Check gossiped transactions a few at a time, yielding to the loop in between.

        Each costs a signature check; a large batch checked in one go would hold proposals and
        votes back behind it, and under load slow every round down.
        """
        for _ in range(min(INBOX_CHUNK, len(self._inbox))):
            tx, peer, digest = self._inbox.popleft()
            self._inbox_hashes.discard(digest)
            try:
                self.mempool.add(tx, digest)
            except OptexError:
                continue
            if not self._outbox:
                asyncio.get_running_loop().call_soon(self._flush_outbox)
            self._outbox.append((tx, peer))
        if self._inbox:
            asyncio.get_running_loop().call_soon(self._drain_inbox)

    def _flush_outbox(self) -> None:
        outbox, self._outbox = self._outbox, []
        for peer in list(self.peers.connections):
            txs = tuple(tx for tx, source in outbox if source != peer)
            if txs:
                self.peers.send(peer, encode_message(Txs(txs)))

    # -- peers ----------------------------------------------------------------------------------

    def _on_connect(self, peer: bytes) -> None:
        """Tell a new peer our height and hand it our pending transactions (CometBFT's mempool
        reactor does the same), so a transaction admitted while it was away still spreads."""
        self.peers.send(peer, encode_message(Status(self.ledger.height)))
        pending = self.mempool.reap(len(self.mempool), self.mempool.max_bytes)
        for start in range(0, len(pending), TX_BATCH):
            self.peers.send(peer, encode_message(Txs(tuple(pending[start : start + TX_BATCH]))))

    def _on_message(self, peer: bytes, message: Message) -> None:
        if self.failure is not None:
            return
        if isinstance(message, Proposal | Vote):
            if message.height > self.machine.height:
                self._request_sync(peer)
            self._feed(message)
        elif isinstance(message, Txs):
            if not self._inbox:
                asyncio.get_running_loop().call_soon(self._drain_inbox)
            for tx in message.txs:
                digest = tx_hash(tx)
                if digest in self._inbox_hashes or self.mempool.seen(digest):
                    continue
                if len(self._inbox) >= self.mempool.max_txs:
                    break  # the peers outrun our checks: drop, as a full mempool would
                self._inbox.append((tx, peer, digest))
                self._inbox_hashes.add(digest)
        elif isinstance(message, SyncRequest):
            self._serve_sync(peer, message.height)
        elif isinstance(message, SyncBlocks):
            for synced in message.blocks:
                if synced.commit.height == self.machine.height:
                    self._feed(synced)
            if self.peer_heights.get(peer, 0) >= self.machine.height:
                self._last_sync = 0.0
                self._request_sync(peer)
        elif isinstance(message, Status):
            self.peer_heights[peer] = message.height
            if message.height >= self.machine.height:
                self._request_sync(peer)

    def _request_sync(self, peer: bytes) -> None:
        now = time.monotonic()
        if now - self._last_sync < SYNC_RETRY_S:
            return
        self._last_sync = now
        self.peers.send(peer, encode_message(SyncRequest(self.machine.height)))

    def _serve_sync(self, peer: bytes, height: int) -> None:
        blocks: list[SyncedBlock] = []
        size = 0
        last = min(self.ledger.height, height + self.config.sync_batch - 1)
        for h in range(max(height, 1), last + 1):
            block, _ = self.ledger.load_block(h)
            try:
                commit = self.ledger.load_commit(h)
            except OptexError:
                break
            payload = encode(block)
            size += len(payload)
            if blocks and size > SYNC_MAX_BYTES:
                break
            blocks.append(SyncedBlock(Value(block_hash(block.header), payload), commit))
        if blocks:
            self.peers.send(peer, encode_message(SyncBlocks(tuple(blocks))))

    async def _gossip_loop(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(self.config.gossip_ms / 1000)
            tick += 1
            connected = list(self.peers.connections)
            if not connected or self.failure is not None:
                continue
            peer = self._rng.choice(connected)
            for message in self.machine.gossip():
                self.peers.send(peer, encode_message(message))
            if tick % STATUS_EVERY == 0:
                self.peers.broadcast(encode_message(Status(self.ledger.height)))

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, dial, start consensus (recovering from the log) and serve RPC."""
        self.p2p_port = await self.peers.start(
            self.config.p2p_host, self.config.p2p_port, self.config.peers
        )
        self.rpc_port = await self.rpc.start(self.config.rpc_host, self.config.rpc_port)
        self._start_machine()
        self._gossip_task = asyncio.ensure_future(self._gossip_loop())
        log.info(
            "node %s at height %d: p2p %d, rpc %d, %s",
            self.node_id.hex()[:12],
            self.ledger.height,
            self.p2p_port,
            self.rpc_port,
            "validator" if self.signer is not None else "full node",
        )

    async def wait(self) -> None:
        """Until :meth:`stop` is called or the node fails."""
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop serving and close the stores."""
        self._epoch += 1
        self._stopped.set()
        if self._gossip_task is not None:
            self._gossip_task.cancel()
        await self.rpc.stop()
        await self.peers.stop()
        self.wal.close()
        store = self.ledger.store
        close = getattr(store, "close", None)
        if close is not None:
            close()

    def _routes(self) -> dict[tuple[str, str], Route]:
        return {**routes(self), **proof_routes(self)}

    def status(self) -> dict[str, Any]:
        """What ``GET /status`` answers."""
        header = self.ledger.last_header
        return {
            "chain_id": self.ledger.chain_id,
            "moniker": self.config.moniker,
            "node_id": self.node_id.hex(),
            "validator": None if self.signer is None else self.signer.public_key.hex(),
            "height": self.ledger.height,
            "last_block_hash": self.ledger.last_hash.hex(),
            "app_hash": (self.ledger.state_root() if header is None else header.state_root).hex(),
            "block_time_ms": None if header is None else header.ts_ms,
            "consensus": {"height": self.machine.height, "round": self.machine.round},
            "peers": sorted(p.hex() for p in self.peers.connections),
            "mempool": len(self.mempool),
        }


async def run_node(home: Path, password_file: Path | None = None) -> int:
    """Run the node of ``home`` until SIGINT or SIGTERM; the process exit code."""
    node = Node(home, password_file=password_file)
    await node.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, node._stopped.set)
    await node.wait()
    await node.stop()
    return 0 if node.failure is None else 1
