"""Tendermint BFT consensus as a pure, deterministic state machine.

:class:`Tendermint` implements Algorithm 1 of Buchman, Kwon and Milosevic, "The latest gossip on
BFT consensus" (2018): heights and rounds of propose, prevote and precommit, locking and valid
values, timeouts growing per round, quorums of more than two thirds of the voting power and the
f+1 round skip, with CometBFT's stake-weighted proposer rotation. Events go in, outputs come
out; the node around it does the networking, the clock and the storage.

Signing is injected (:class:`Signer`, :data:`Verify`), and so are the application
(:class:`Application`) and the write-ahead log (:class:`WAL`, with :class:`MemoryWAL` and
:class:`FileWAL`). Commits and double-sign evidence verify standalone with
:func:`verify_commit` and :func:`verify_evidence`. ``optex.chain.consensus.sim`` runs many
validators over a seeded, faulty simulated network; ``python -m optex.chain.consensus.soak``
runs it over thousands of seeds.
"""

from __future__ import annotations

from optex.chain.consensus._app import Application, TimeoutConfig
from optex.chain.consensus._errors import (
    ConsensusReason,
)
from optex.chain.consensus._machine import MAX_PROPOSALS_PER_ROUND, MAX_ROUNDS_AHEAD, Tendermint
from optex.chain.consensus._messages import (
    PRECOMMIT_DOMAIN,
    PREVOTE_DOMAIN,
    PROPOSAL_DOMAIN,
    Broadcast,
    Commit,
    Decided,
    DuplicateVoteEvidence,
    Event,
    EvidenceFound,
    Output,
    Proposal,
    ScheduleTimeout,
    SignIntent,
    Step,
    SyncedBlock,
    Timeout,
    TimeoutKind,
    Value,
    Vote,
    VoteType,
    WalRecord,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from optex.chain.consensus._signing import (
    Ed25519Signer,
    Signer,
    Verify,
    ed25519_verify,
)
from optex.chain.consensus._validators import (
    MAX_TOTAL_POWER,
    Validator,
    ValidatorSet,
    address_of,
)
from optex.chain.consensus._verify import (
    verify_commit,
    verify_evidence,
    verify_proposal,
    verify_vote,
)
from optex.chain.consensus._wal import (
    WAL,
    FileWAL,
    MemoryWAL,
)

__all__ = [
    "Application",
    "Broadcast",
    "Commit",
    "ConsensusReason",
    "Decided",
    "DuplicateVoteEvidence",
    "Ed25519Signer",
    "Event",
    "EvidenceFound",
    "FileWAL",
    "MAX_PROPOSALS_PER_ROUND",
    "MAX_ROUNDS_AHEAD",
    "MAX_TOTAL_POWER",
    "MemoryWAL",
    "Output",
    "PRECOMMIT_DOMAIN",
    "PREVOTE_DOMAIN",
    "PROPOSAL_DOMAIN",
    "Proposal",
    "ScheduleTimeout",
    "SignIntent",
    "Signer",
    "Step",
    "SyncedBlock",
    "Tendermint",
    "Timeout",
    "TimeoutConfig",
    "TimeoutKind",
    "Validator",
    "ValidatorSet",
    "Value",
    "Verify",
    "Vote",
    "VoteType",
    "WAL",
    "WalRecord",
    "address_of",
    "ed25519_verify",
    "proposal_signing_bytes",
    "verify_commit",
    "verify_evidence",
    "verify_proposal",
    "verify_vote",
    "vote_signing_bytes",
]
