"""Consensus messages, the events that enter the state machine and the outputs it returns.

All are immutable msgspec structs, so they encode canonically for the write-ahead log and the
wire. A value is opaque to consensus: a 32-byte block hash and the block's payload. Proposals
carry the whole value; votes carry only the hash, and ``None`` is the nil vote of Algorithm 1.
What is signed is never the struct itself but its canonical form with a domain tag per message
type and the chain id (:func:`proposal_signing_bytes`, :func:`vote_signing_bytes`), so that a
prevote can never be replayed as a precommit, nor a vote of one chain on another.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

import msgspec

from optex.core import signing_bytes

PROPOSAL_DOMAIN: Final = "proposal/v1"
PREVOTE_DOMAIN: Final = "prevote/v1"
PRECOMMIT_DOMAIN: Final = "precommit/v1"
HASH_BYTES: Final = 32


class Step(IntEnum):
    """The steps of a round, ordered so that ``step >= Step.PREVOTE`` reads as in the paper."""

    NEW_HEIGHT = 0
    """Before the first round of a height has started."""
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


class VoteType(IntEnum):
    """The two kinds of vote; each is signed under its own domain tag."""

    PREVOTE = 1
    PRECOMMIT = 2


class TimeoutKind(IntEnum):
    """Algorithm 1's three timeouts (lines 57, 61 and 65) and CometBFT's commit timeout.

    The commit timeout is the pause between deciding a height and starting the next one, in
    which the node applies the decided block and late precommits still arrive.
    """

    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3
    COMMIT = 4


class Value(msgspec.Struct, frozen=True):
    """An opaque value to agree on: the block hash and the block payload it names."""

    block_hash: bytes
    payload: bytes


class Proposal(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """⟨PROPOSAL, height, round, value, pol_round⟩ signed by the round's proposer."""

    height: int
    round: int
    pol_round: int
    value: Value
    proposer: bytes
    signature: bytes


class Vote(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """⟨PREVOTE|PRECOMMIT, height, round, id(v) or nil⟩ signed by one validator."""

    type: VoteType
    height: int
    round: int
    block_hash: bytes | None
    validator: bytes
    signature: bytes


class Timeout(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """A timeout the state machine asked for, handed back to it when it expires."""

    kind: TimeoutKind
    height: int
    round: int


class Commit(msgspec.Struct, frozen=True):
    """More than two thirds of the power precommitting ``block_hash`` in one round.

    Enough for a light client holding the validator set to accept the block
    (:func:`~optex.chain.consensus.verify_commit`).
    """

    height: int
    round: int
    block_hash: bytes
    precommits: tuple[Vote, ...]


class SyncedBlock(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """A decided value and its commit, fetched from a peer by a node that fell behind."""

    value: Value
    commit: Commit


class DuplicateVoteEvidence(msgspec.Struct, frozen=True):
    """Two votes by one validator of one type for one height and round, for different values.

    ``vote_a`` is the one with the smaller block hash (nil first), so that the same double sign
    gives the same evidence whichever order the votes arrived in.
    """

    vote_a: Vote
    vote_b: Vote

    @classmethod
    def of(cls, one: Vote, other: Vote) -> DuplicateVoteEvidence:
        """The evidence of ``one`` and ``other`` in canonical order."""
        if (one.block_hash or b"") <= (other.block_hash or b""):
            return cls(one, other)
        return cls(other, one)


class Broadcast(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """Send this message to every peer."""

    message: Proposal | Vote


class ScheduleTimeout(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """Hand ``timeout`` back to the state machine after ``duration_ms`` milliseconds."""

    timeout: Timeout
    duration_ms: int


class Decided(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """The height is decided: apply ``value`` and store ``commit`` beside it."""

    height: int
    round: int
    value: Value
    commit: Commit


class EvidenceFound(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """A validator double signed: hand the evidence to the ledger for slashing."""

    evidence: DuplicateVoteEvidence


class SignIntent(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """Write-ahead record of a signing decision, logged before the signature is made."""

    step: Step
    height: int
    round: int
    block_hash: bytes | None
    value: Value | None = None
    pol_round: int = -1


Event = Proposal | Vote | Timeout | SyncedBlock
"""What goes into :meth:`Tendermint.handle`."""

Output = Broadcast | ScheduleTimeout | Decided | EvidenceFound
"""What comes out: messages to send, timeouts to arm, decisions and evidence."""

WalRecord = Proposal | Vote | Timeout | SyncedBlock | SignIntent | Decided
"""What the write-ahead log holds: every accepted input, signing decision and decision."""


def proposal_signing_bytes(
    chain_id: str, height: int, round: int, pol_round: int, block_hash: bytes
) -> bytes:
    """The canonical bytes a proposer signs."""
    return signing_bytes(PROPOSAL_DOMAIN, chain_id, (height, round, pol_round, block_hash))


def vote_signing_bytes(
    chain_id: str, vote_type: VoteType, height: int, round: int, block_hash: bytes | None
) -> bytes:
    """The canonical bytes a validator signs for a vote; nil is encoded as MessagePack nil."""
    domain = PREVOTE_DOMAIN if vote_type is VoteType.PREVOTE else PRECOMMIT_DOMAIN
    return signing_bytes(domain, chain_id, (height, round, block_hash))
