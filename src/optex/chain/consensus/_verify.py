"""Standalone checks of signed consensus artefacts: votes, proposals, commits and evidence.

These are what a light client, the ledger (for slashing) and the state machine itself use, so
each takes the validator set, the chain id and the signature check explicitly and touches no
other state. Each raises :class:`optex.core.InvalidInput` with a consensus reason code.
"""

from __future__ import annotations

from optex.chain.consensus._errors import ConsensusReason
from optex.chain.consensus._messages import (
    HASH_BYTES,
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    Vote,
    VoteType,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from optex.chain.consensus._signing import Verify, ed25519_verify
from optex.chain.consensus._validators import Validator, ValidatorSet
from optex.core import InvalidInput


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_vote_shape(vote: Vote) -> None:
    """Refuse a vote whose fields cannot be right whatever the state."""
    if not (_is_int(vote.height) and _is_int(vote.round)) or vote.height < 1 or vote.round < 0:
        raise InvalidInput(ConsensusReason.INVALID_MESSAGE, "vote height or round out of range")
    if not isinstance(vote.type, VoteType):
        raise InvalidInput(ConsensusReason.INVALID_MESSAGE, "unknown vote type")
    if vote.block_hash is not None and len(vote.block_hash) != HASH_BYTES:
        raise InvalidInput(ConsensusReason.INVALID_MESSAGE, "block hash must be 32 bytes")


def verify_vote(vote: Vote, validators: ValidatorSet, chain_id: str, verify: Verify) -> Validator:
    """The validator that signed ``vote``, after checking its shape, membership and signature."""
    check_vote_shape(vote)
    validator = validators.get(vote.validator)
    if validator is None:
        raise InvalidInput(
            ConsensusReason.UNKNOWN_VALIDATOR, f"{vote.validator.hex()} is not a validator"
        )
    data = vote_signing_bytes(chain_id, vote.type, vote.height, vote.round, vote.block_hash)
    if not verify(validator.public_key, data, vote.signature):
        raise InvalidInput(ConsensusReason.BAD_SIGNATURE, "vote signature does not verify")
    return validator


def verify_proposal(proposal: Proposal, proposer: Validator, chain_id: str, verify: Verify) -> None:
    """Check a proposal's shape, that ``proposer`` (its round's proposer) made it, and its
    signature."""
    p = proposal
    if not all(_is_int(x) for x in (p.height, p.round, p.pol_round)):
        raise InvalidInput(ConsensusReason.INVALID_MESSAGE, "proposal fields must be integers")
    if p.height < 1 or p.round < 0 or not -1 <= p.pol_round < p.round:
        raise InvalidInput(ConsensusReason.INVALID_MESSAGE, "proposal round or pol_round invalid")
    if len(p.value.block_hash) != HASH_BYTES:
        raise InvalidInput(ConsensusReason.INVALID_MESSAGE, "block hash must be 32 bytes")
    if p.proposer != proposer.address:
        raise InvalidInput(
            ConsensusReason.WRONG_PROPOSER, f"round {p.round} is proposed by another validator"
        )
    data = proposal_signing_bytes(chain_id, p.height, p.round, p.pol_round, p.value.block_hash)
    if not verify(proposer.public_key, data, p.signature):
        raise InvalidInput(ConsensusReason.BAD_SIGNATURE, "proposal signature does not verify")


def verify_commit(
    validator_set: ValidatorSet,
    chain_id: str,
    height: int,
    block_hash: bytes,
    commit: Commit,
    *,
    verify: Verify = ed25519_verify,
) -> None:
    """Check that ``commit`` proves more than 2/3 of ``validator_set`` precommitted the block.

    Every precommit must be for ``block_hash`` at the commit's height and round, signed by a
    distinct member; a light client that trusts the set needs nothing else.
    """
    if commit.height != height or commit.block_hash != block_hash:
        raise InvalidInput(ConsensusReason.INVALID_COMMIT, "commit is for another block")
    seen: set[bytes] = set()
    power = 0
    for vote in commit.precommits:
        if vote.type is not VoteType.PRECOMMIT or vote.height != height:
            raise InvalidInput(ConsensusReason.INVALID_COMMIT, "commit holds a non-precommit")
        if vote.round != commit.round or vote.block_hash != block_hash:
            raise InvalidInput(ConsensusReason.INVALID_COMMIT, "precommit is for another round")
        if vote.validator in seen:
            raise InvalidInput(ConsensusReason.INVALID_COMMIT, "a validator signs twice")
        seen.add(vote.validator)
        power += verify_vote(vote, validator_set, chain_id, verify).power
    if not validator_set.is_quorum(power):
        raise InvalidInput(
            ConsensusReason.INVALID_COMMIT,
            f"precommits hold {power} of {validator_set.total_power} power, not more than 2/3",
        )


def verify_evidence(
    evidence: DuplicateVoteEvidence,
    validator_set: ValidatorSet,
    chain_id: str,
    *,
    verify: Verify = ed25519_verify,
) -> Validator:
    """The validator that double signed, after checking that the evidence proves it."""
    a, b = evidence.vote_a, evidence.vote_b
    same_slot = (a.type, a.height, a.round, a.validator) == (b.type, b.height, b.round, b.validator)
    if not same_slot:
        raise InvalidInput(ConsensusReason.INVALID_EVIDENCE, "the votes are not for one slot")
    if a.block_hash == b.block_hash:
        raise InvalidInput(ConsensusReason.INVALID_EVIDENCE, "the votes do not conflict")
    if (a.block_hash or b"") > (b.block_hash or b""):
        raise InvalidInput(ConsensusReason.INVALID_EVIDENCE, "the votes are not in canonical order")
    try:
        verify_vote(a, validator_set, chain_id, verify)
        return verify_vote(b, validator_set, chain_id, verify)
    except InvalidInput as exc:
        raise InvalidInput(ConsensusReason.INVALID_EVIDENCE, exc.message) from exc
