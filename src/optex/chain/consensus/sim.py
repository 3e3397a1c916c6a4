"""A deterministic simulation of many validators over a faulty network, checked for safety and
liveness.

Every run is a function of one integer seed. The seed draws a scenario: four to ten
validators with uneven stake, Byzantine validators holding less than a third of it that
equivocate as a coalition (each round they split the correct nodes in two and show each side
its own proposal, backed by conflicting votes), a global stabilisation time
(GST), and before GST messages delayed, dropped, duplicated and reordered, partitions that heal,
and correct nodes paused or killed and restarted from their write-ahead log. After GST every
correct node is up and every message arrives within ``POST_GST_DELAY_MS``.

Events sit in a priority queue ordered by simulated time and insertion number, so the run is
the same on every machine. The node layer around each :class:`Tendermint` is what a real node
does: it arms timeouts, re-gossips :meth:`Tendermint.gossip` to a random peer periodically, and
when it hears of a higher height asks the sender for the decided blocks with their commits
(block sync). Checked: no two correct nodes decide different values at a height, every commit
verifies as a light client would check it, evidence only ever names Byzantine validators, and
after GST every correct node reaches ``TARGET_HEIGHTS`` more heights within ``LIVENESS_BOUND_MS``.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from optex.chain.consensus._app import TimeoutConfig
from optex.chain.consensus._machine import Tendermint
from optex.chain.consensus._messages import (
    Broadcast,
    Commit,
    Decided,
    EvidenceFound,
    Output,
    Proposal,
    ScheduleTimeout,
    SyncedBlock,
    Timeout,
    Value,
    Vote,
    VoteType,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from optex.chain.consensus._signing import Ed25519Signer, ed25519_verify
from optex.chain.consensus._validators import ValidatorSet, address_of
from optex.chain.consensus._verify import verify_commit, verify_evidence
from optex.chain.consensus._wal import MemoryWAL
from optex.core import InvalidInput, OptexError

CHAIN_ID: Final = "optex-sim"
TIMEOUTS: Final = TimeoutConfig(
    propose_ms=400,
    propose_delta_ms=100,
    prevote_ms=200,
    prevote_delta_ms=100,
    precommit_ms=200,
    precommit_delta_ms=100,
    commit_ms=50,
)
GOSSIP_MS: Final = 250
SYNC_RETRY_MS: Final = 200
SYNC_BATCH: Final = 8
POST_GST_DELAY_MS: Final = 40
TARGET_HEIGHTS: Final = 3
LIVENESS_BOUND_MS: Final = 60_000


@dataclass(frozen=True)
class Scenario:
    """Everything a seed decides about a run."""

    seed: int
    powers: tuple[int, ...]
    byzantine: tuple[int, ...]
    gst_ms: int
    drop: float
    duplicate: float
    max_delay_ms: int
    partitions: tuple[tuple[int, int, tuple[int, ...]], ...]
    """(start, end, nodes on one side) before GST."""
    crashes: tuple[tuple[int, int, int], ...]
    """(node, crash time, restart time), restarts no later than GST."""
    pauses: tuple[tuple[int, int, int], ...]
    """(node, start, end): the node processes nothing in between, then catches up."""


def scenario(seed: int) -> Scenario:
    """The scenario of ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible scenario, not a secret
    n = rng.choice((4, 4, 5, 6, 7, 10))
    powers = tuple(rng.choice((1, 1, 1, 2, 3, 5, 10)) for _ in range(n))
    total = sum(powers)
    byzantine: list[int] = []
    if rng.random() < 0.7:
        for i in rng.sample(range(n), n):
            if 3 * (sum(powers[j] for j in byzantine) + powers[i]) < total:
                byzantine.append(i)
    correct = [i for i in range(n) if i not in byzantine]
    gst = rng.randint(1_000, 8_000)
    partitions = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        start = rng.randint(0, gst - 1)
        side = tuple(sorted(rng.sample(range(n), rng.randint(1, n - 1))))
        partitions.append((start, rng.randint(start + 1, gst), side))
    crashes = []
    for i in rng.sample(correct, min(len(correct), rng.choice((0, 0, 1, 2)))):
        at = rng.randint(0, gst - 1)
        crashes.append((i, at, rng.randint(at + 1, gst)))
    pauses = []
    for i in rng.sample(correct, rng.choice((0, 1))):
        start = rng.randint(0, gst - 1)
        pauses.append((i, start, rng.randint(start + 1, gst)))
    return Scenario(
        seed=seed,
        powers=powers,
        byzantine=tuple(sorted(byzantine)),
        gst_ms=gst,
        drop=rng.choice((0.0, 0.05, 0.2, 0.4)),
        duplicate=rng.choice((0.0, 0.05, 0.2)),
        max_delay_ms=rng.choice((50, 300, 1_500)),
        partitions=tuple(partitions),
        crashes=tuple(crashes),
        pauses=tuple(pauses),
    )


@dataclass
class Result:
    """The outcome of one seed: ``failure`` is ``None`` when safety and liveness held."""

    seed: int
    failure: str | None = None
    heights: dict[int, int] = field(default_factory=dict)
    """Highest decided height per correct node."""
    time_ms: int = 0
    deliveries: int = 0
    evidence: int = 0
    max_round: int = 0

    @property
    def ok(self) -> bool:
        """Whether safety and liveness held."""
        return self.failure is None


class _SyncRequest(NamedTuple):
    height: int


class _SyncResponse(NamedTuple):
    blocks: tuple[SyncedBlock, ...]


_Message = Proposal | Vote | _SyncRequest | _SyncResponse


class _App:
    """Values are ``sha256(payload)`` and ``payload``; payloads starting ``bad`` are invalid."""

    def __init__(self, node: int) -> None:
        self.node = node
        self.counter = 0

    def propose_value(self, height: int) -> Value:
        self.counter += 1
        return _value(f"h{height}-n{self.node}-c{self.counter}".encode())

    def validate_value(self, height: int, value: Value) -> bool:
        good = hashlib.sha256(value.payload).digest() == value.block_hash
        return good and not value.payload.startswith(b"bad")


def _value(payload: bytes) -> Value:
    return Value(hashlib.sha256(payload).digest(), payload)


class _Verifier:
    """Ed25519 verification memoised across nodes: each signature is checked once per run."""

    def __init__(self) -> None:
        self.known: dict[tuple[bytes, bytes, bytes], bool] = {}

    def __call__(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        key = (public_key, message, signature)
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = ed25519_verify(public_key, message, signature)
        return found


@dataclass
class _Node:
    index: int
    signer: Ed25519Signer
    byzantine: bool
    wal: MemoryWAL = field(default_factory=MemoryWAL)
    machine: Tendermint | None = None
    epoch: int = 0
    blocks: dict[int, tuple[Value, Commit]] = field(default_factory=dict)
    last_sync_ms: int = -SYNC_RETRY_MS

    @property
    def top(self) -> int:
        return max(self.blocks, default=0)


_DELIVER, _TIMEOUT, _GOSSIP, _CRASH, _RESTART, _PAUSE = range(6)


class Simulation:
    """One seeded run; :meth:`run` returns its :class:`Result`."""

    def __init__(self, plan: Scenario) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed * 1_000_003 + 17)  # noqa: S311
        signers = [
            Ed25519Signer(hashlib.sha256(f"sim-{plan.seed}-{i}".encode()).digest())
            for i in range(len(plan.powers))
        ]
        self.genesis = ValidatorSet.genesis(
            (s.public_key, p) for s, p in zip(signers, plan.powers, strict=True)
        )
        self.nodes = [_Node(i, s, i in plan.byzantine) for i, s in enumerate(signers)]
        self.apps = [_App(i) for i in range(len(signers))]
        self.byzantine_addresses = {address_of(signers[i].public_key) for i in plan.byzantine}
        self.verify = _Verifier()
        self.sets = [self.genesis]
        self.sides: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        self.pairs: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
        self.queue: list[tuple[int, int, int, int, int, object]] = []
        self.seq = 0
        self.now = 0
        self.paused_until = [0] * len(signers)
        self.decided: dict[int, bytes] = {}
        self.result = Result(plan.seed)

    # -- scheduling -------------------------------------------------------------------------

    def _push(self, at: int, kind: int, node: int, epoch: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, node, epoch, payload))

    def _partitioned(self, a: int, b: int) -> bool:
        for start, end, side in self.plan.partitions:
            if start <= self.now < end and ((a in side) != (b in side)):
                return True
        return False

    def _send(self, src: int, dst: int, message: _Message) -> None:
        if src == dst:
            return
        if self.now >= self.plan.gst_ms:
            self._push(self.now + self.rng.randint(1, POST_GST_DELAY_MS), _DELIVER, dst, 0,
                       (src, message))  # fmt: skip
            return
        if self._partitioned(src, dst) or self.rng.random() < self.plan.drop:
            return
        copies = 2 if self.rng.random() < self.plan.duplicate else 1
        for _ in range(copies):
            delay = self.rng.randint(1, self.plan.max_delay_ms)
            self._push(self.now + delay, _DELIVER, dst, 0, (src, message))

    def _broadcast(self, src: int, message: _Message) -> None:
        for dst in range(len(self.nodes)):
            self._send(src, dst, message)

    # -- node layer -------------------------------------------------------------------------

    def _start(self, node: _Node) -> None:
        node.epoch += 1
        node.machine = Tendermint(
            chain_id=CHAIN_ID,
            validators=self.genesis,
            height=1,
            application=self.apps[node.index],
            wal=node.wal,
            verify=self.verify,
            signer=node.signer,
            timeouts=TIMEOUTS,
        )
        self._outputs(node, node.machine.start())
        self._push(self.now + GOSSIP_MS, _GOSSIP, node.index, node.epoch, None)

    def _outputs(self, node: _Node, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Broadcast):
                if node.byzantine:
                    self._equivocate(node, out.message)
                else:
                    self._broadcast(node.index, out.message)
            elif isinstance(out, ScheduleTimeout):
                self._push(self.now + out.duration_ms, _TIMEOUT, node.index, node.epoch,
                           out.timeout)  # fmt: skip
            elif isinstance(out, Decided):
                self._decided(node, out)
            elif isinstance(out, EvidenceFound):
                self._evidence(node, out)

    def _decided(self, node: _Node, out: Decided) -> None:
        if out.height in node.blocks:
            return
        node.blocks[out.height] = (out.value, out.commit)
        if node.byzantine or self.result.failure:
            return
        known = self.decided.get(out.height)
        if known is None:
            try:
                validators = self._validators(out.height)
                block_hash = out.value.block_hash
                verify_commit(validators, CHAIN_ID, out.height, block_hash, out.commit,
                              verify=self.verify)  # fmt: skip
            except OptexError as exc:
                self.result.failure = f"commit of height {out.height} does not verify: {exc}"
            self.decided[out.height] = out.value.block_hash
        elif known != out.value.block_hash:
            self.result.failure = (
                f"safety: node {node.index} decided {out.value.block_hash.hex()[:12]} at height "
                f"{out.height}, another correct node decided {known.hex()[:12]}"
            )
        self.result.max_round = max(self.result.max_round, out.round)

    def _validators(self, height: int) -> ValidatorSet:
        while len(self.sets) < height:
            self.sets.append(self.sets[-1].advanced(1))
        return self.sets[height - 1]

    def _evidence(self, node: _Node, out: EvidenceFound) -> None:
        self.result.evidence += 1
        culprit = out.evidence.vote_a.validator
        if culprit not in self.byzantine_addresses and not self.result.failure:
            self.result.failure = f"node {node.index} holds evidence against a correct validator"
        validators = self._validators(out.evidence.vote_a.height)
        try:
            verify_evidence(out.evidence, validators, CHAIN_ID, verify=self.verify)
        except OptexError as exc:
            self.result.failure = f"evidence from node {node.index} does not verify: {exc}"

    def _sides(self, height: int, round: int) -> tuple[list[int], list[int]]:
        """The coalition's split of the correct nodes for one round, drawn once."""
        key = (height, round)
        sides = self.sides.get(key)
        if sides is None:
            correct = [n.index for n in self.nodes if not n.byzantine]
            self.rng.shuffle(correct)
            cut = self.rng.randint(0, len(correct))
            sides = self.sides[key] = (sorted(correct[:cut]), sorted(correct[cut:]))
        return sides

    def _equivocate(self, node: _Node, message: Proposal | Vote) -> None:
        """The Byzantine coalition's attack: split the correct nodes in two and show each side
        a different value, backed by conflicting votes of every Byzantine validator."""
        left, right = self._sides(message.height, message.round)
        key = (message.height, message.round)
        twin: Proposal | Vote
        if isinstance(message, Proposal):
            other = self.apps[node.index].propose_value(message.height)
            if self.rng.random() < 0.2:
                other = _value(b"bad-" + other.payload)
            data = proposal_signing_bytes(
                CHAIN_ID, message.height, message.round, message.pol_round, other.block_hash
            )
            twin = Proposal(message.height, message.round, message.pol_round, other,
                            message.proposer, node.signer.sign(data))  # fmt: skip
            self.pairs[key] = (message.value.block_hash, other.block_hash)
            first: Proposal | Vote = message
        else:
            pair = self.pairs.get(key)
            if pair is None:
                conflict = hashlib.sha256(b"evil" + message.signature).digest()
                pair = (message.block_hash, None if message.block_hash else conflict)
            first, twin = (self._vote_as(node, message, h) for h in pair)
            if message.type is VoteType.PRECOMMIT and key in self.pairs:
                # Let only some of the left side decide, so that the rest must stay locked.
                left = left[: self.rng.randint(0, len(left))]
        for dst in left:
            self._send(node.index, dst, first)
        for dst in right:
            self._send(node.index, dst, twin)
        for other_node in self.nodes:
            if other_node.byzantine:
                self._send(node.index, other_node.index, message)

    def _vote_as(self, node: _Node, vote: Vote, block_hash: bytes | None) -> Vote:
        if block_hash == vote.block_hash:
            return vote
        data = vote_signing_bytes(CHAIN_ID, vote.type, vote.height, vote.round, block_hash)
        return Vote(vote.type, vote.height, vote.round, block_hash, vote.validator,
                    node.signer.sign(data))  # fmt: skip

    def _deliver(self, node: _Node, src: int, message: _Message) -> None:
        machine = node.machine
        if machine is None:
            return
        self.result.deliveries += 1
        if isinstance(message, _SyncRequest):
            blocks = tuple(
                SyncedBlock(*node.blocks[h])
                for h in range(message.height, message.height + SYNC_BATCH)
                if h in node.blocks
            )
            if blocks:
                self._send(node.index, src, _SyncResponse(blocks))
            return
        if isinstance(message, _SyncResponse):
            for block in message.blocks:
                if block.commit.height == machine.height:
                    self._handle(node, block)
            return
        if message.height > machine.height and self.now - node.last_sync_ms >= SYNC_RETRY_MS:
            node.last_sync_ms = self.now
            self._send(node.index, src, _SyncRequest(machine.height))
        self._handle(node, message)

    def _handle(self, node: _Node, event: Proposal | Vote | Timeout | SyncedBlock) -> None:
        if node.machine is None:
            return
        try:
            outputs = node.machine.handle(event)
        except InvalidInput as exc:
            if not node.byzantine and isinstance(event, SyncedBlock | Timeout):
                self.result.failure = f"node {node.index} refused {type(event).__name__}: {exc}"
            return
        self._outputs(node, outputs)

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> Result:
        """Run until every correct node has reached the target height, or the bound passes."""
        plan = self.plan
        for index, at, restart in plan.crashes:
            self._push(at, _CRASH, index, 0, None)
            self._push(restart, _RESTART, index, 0, None)
        for index, start, end in plan.pauses:
            self._push(start, _PAUSE, index, 0, end)
        for node in self.nodes:
            self._start(node)
        correct = [n for n in self.nodes if not n.byzantine]
        target: int | None = None
        deadline = plan.gst_ms + LIVENESS_BOUND_MS
        while self.queue and not self.result.failure:
            at, _, kind, index, epoch, payload = heapq.heappop(self.queue)
            self.now = at
            if target is None and at >= plan.gst_ms:
                target = max(n.top for n in correct) + TARGET_HEIGHTS
            if target is not None and all(n.top >= target for n in correct):
                break
            if at > deadline:
                break
            node = self.nodes[index]
            if at < self.paused_until[index] and kind in (_DELIVER, _TIMEOUT, _GOSSIP):
                self._push(self.paused_until[index], kind, index, epoch, payload)
                continue
            self._dispatch(node, kind, epoch, payload)
        self.result.time_ms = self.now
        self.result.heights = {n.index: n.top for n in correct}
        if not self.result.failure and (target is None or any(n.top < target for n in correct)):
            self.result.failure = (
                f"liveness: heights {self.result.heights} short of {target} "
                f"{LIVENESS_BOUND_MS} ms after GST"
            )
        return self.result

    def _dispatch(self, node: _Node, kind: int, epoch: int, payload: object) -> None:
        if kind == _DELIVER:
            if isinstance(payload, tuple):
                self._deliver(node, payload[0], payload[1])
        elif kind == _TIMEOUT:
            if epoch == node.epoch and isinstance(payload, Timeout):
                self._handle(node, payload)
        elif kind == _GOSSIP:
            if epoch == node.epoch and node.machine is not None:
                peers = [i for i in range(len(self.nodes)) if i != node.index]
                dst = self.rng.choice(peers)
                for message in node.machine.gossip():
                    self._send(node.index, dst, message)
                self._push(self.now + GOSSIP_MS, _GOSSIP, node.index, node.epoch, None)
        elif kind == _PAUSE and isinstance(payload, int):
            self.paused_until[node.index] = payload
        elif kind == _CRASH:
            node.machine = None
            node.epoch += 1
        elif kind == _RESTART and node.machine is None:
            self._start(node)


def run(seed: int) -> Result:
    """Run the simulation of ``seed``."""
    return Simulation(scenario(seed)).run()
