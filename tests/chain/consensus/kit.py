"""Shared builders for consensus tests: keys, a scripted application, signed messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from optex.chain.consensus import (
    WAL,
    Broadcast,
    Ed25519Signer,
    MemoryWAL,
    Output,
    Proposal,
    ScheduleTimeout,
    Tendermint,
    TimeoutConfig,
    ValidatorSet,
    Value,
    Vote,
    VoteType,
    address_of,
    ed25519_verify,
    proposal_signing_bytes,
    vote_signing_bytes,
)

CHAIN = "optex-test"
TIMEOUTS = TimeoutConfig(
    propose_ms=1000,
    propose_delta_ms=100,
    prevote_ms=500,
    prevote_delta_ms=50,
    precommit_ms=600,
    precommit_delta_ms=60,
    commit_ms=10,
)


def value(name: str) -> Value:
    """A value whose hash is the SHA-256 of its payload."""
    payload = name.encode()
    return Value(hashlib.sha256(payload).digest(), payload)


def signers(n: int, salt: str = "k") -> list[Ed25519Signer]:
    """``n`` keys sorted by address, so that index order is address order."""
    keys = [Ed25519Signer(hashlib.sha256(f"{salt}-{i}".encode()).digest()) for i in range(n)]
    return sorted(keys, key=lambda s: address_of(s.public_key))


@dataclass
class App:
    """Proposes the values it is given in turn; refuses the payloads listed as invalid."""

    proposals: list[Value] = field(default_factory=list)
    invalid: set[bytes] = field(default_factory=set)
    asked: list[int] = field(default_factory=list)

    def propose_value(self, height: int) -> Value:
        self.asked.append(height)
        if self.proposals:
            return self.proposals.pop(0)
        return value(f"fresh-{height}-{len(self.asked)}")

    def validate_value(self, height: int, value: Value) -> bool:
        digest_ok = hashlib.sha256(value.payload).digest() == value.block_hash
        return digest_ok and value.payload not in self.invalid


class Net:
    """A validator set of equal or given powers and signed messages from any member."""

    def __init__(self, powers: list[int], chain_id: str = CHAIN) -> None:
        self.keys = signers(len(powers))
        self.chain_id = chain_id
        self.validators = ValidatorSet.genesis(
            (k.public_key, p) for k, p in zip(self.keys, powers, strict=True)
        )
        self.index = {address_of(k.public_key): i for i, k in enumerate(self.keys)}

    def proposer(self, round: int, height_set: ValidatorSet | None = None) -> int:
        vals = height_set or self.validators
        return self.index[vals.proposer_for_round(round).address]

    def not_proposer(self, *rounds: int) -> int:
        busy = {self.proposer(r) for r in rounds}
        return next(i for i in range(len(self.keys)) if i not in busy)

    def address(self, i: int) -> bytes:
        return address_of(self.keys[i].public_key)

    def vote(
        self,
        i: int,
        vote_type: VoteType,
        round: int,
        v: Value | None,
        *,
        height: int = 1,
        chain_id: str | None = None,
    ) -> Vote:
        block_hash = None if v is None else v.block_hash
        data = vote_signing_bytes(chain_id or self.chain_id, vote_type, height, round, block_hash)
        return Vote(vote_type, height, round, block_hash, self.address(i), self.keys[i].sign(data))

    def prevote(self, i: int, round: int, v: Value | None, height: int = 1) -> Vote:
        return self.vote(i, VoteType.PREVOTE, round, v, height=height)

    def precommit(self, i: int, round: int, v: Value | None, height: int = 1) -> Vote:
        return self.vote(i, VoteType.PRECOMMIT, round, v, height=height)

    def proposal(self, round: int, v: Value, pol_round: int = -1, height: int = 1) -> Proposal:
        i = self.proposer(round)
        data = proposal_signing_bytes(self.chain_id, height, round, pol_round, v.block_hash)
        return Proposal(height, round, pol_round, v, self.address(i), self.keys[i].sign(data))

    def machine(
        self, i: int, app: App | None = None, wal: WAL | None = None
    ) -> tuple[Tendermint, App, list[Output]]:
        app = app or App()
        m = Tendermint(
            chain_id=self.chain_id,
            validators=self.validators,
            height=1,
            application=app,
            wal=wal if wal is not None else MemoryWAL(),
            verify=ed25519_verify,
            signer=self.keys[i],
            timeouts=TIMEOUTS,
        )
        return m, app, m.start()


def broadcasts(outputs: list[Output]) -> list[Proposal | Vote]:
    return [o.message for o in outputs if isinstance(o, Broadcast)]


def votes(outputs: list[Output], vote_type: VoteType) -> list[Vote]:
    return [m for m in broadcasts(outputs) if isinstance(m, Vote) and m.type is vote_type]


def timeouts(outputs: list[Output]) -> list[ScheduleTimeout]:
    return [o for o in outputs if isinstance(o, ScheduleTimeout)]
