"""Commits and double-sign evidence verify standalone, and nothing else does."""

from __future__ import annotations

import pytest

from optex.chain.consensus import (
    Commit,
    ConsensusReason,
    DuplicateVoteEvidence,
    Vote,
    VoteType,
    verify_commit,
    verify_evidence,
)
from optex.core import InvalidInput
from tests.chain.consensus.kit import Net, value

A, B = value("block-a"), value("block-b")


def _commit(net: Net, who: list[int], round: int = 0, height: int = 1) -> Commit:
    votes = sorted(
        (net.precommit(i, round, A, height=height) for i in who), key=lambda v: v.validator
    )
    return Commit(height, round, A.block_hash, tuple(votes))


def _refused(code: ConsensusReason, net: Net, commit: Commit, block_hash: bytes = A.block_hash,
             height: int = 1) -> None:  # fmt: skip
    with pytest.raises(InvalidInput) as err:
        verify_commit(net.validators, net.chain_id, height, block_hash, commit)
    assert err.value.code is code


def test_a_commit_of_more_than_two_thirds_of_the_power_verifies() -> None:
    net = Net([1, 1, 1, 1])
    verify_commit(net.validators, net.chain_id, 1, A.block_hash, _commit(net, [0, 1, 2]))


def test_a_commit_of_exactly_two_thirds_of_the_power_is_refused() -> None:
    net = Net([1, 1, 1, 3])  # total 6: power 4 is exactly two thirds
    _refused(ConsensusReason.INVALID_COMMIT, net, _commit(net, [0, 3]))
    verify_commit(net.validators, net.chain_id, 1, A.block_hash, _commit(net, [0, 1, 3]))


def test_a_commit_counting_one_validator_twice_is_refused() -> None:
    net = Net([1, 1, 1, 1])
    commit = _commit(net, [0, 1])
    doubled = Commit(1, 0, A.block_hash, (*commit.precommits, commit.precommits[0]))
    _refused(ConsensusReason.INVALID_COMMIT, net, doubled)


def test_a_commit_for_another_block_height_or_with_prevotes_is_refused() -> None:
    net = Net([1, 1, 1, 1])
    commit = _commit(net, [0, 1, 2])
    _refused(ConsensusReason.INVALID_COMMIT, net, commit, block_hash=B.block_hash)
    _refused(ConsensusReason.INVALID_COMMIT, net, commit, height=2)
    prevotes = tuple(net.prevote(i, 0, A) for i in (0, 1, 2))
    _refused(ConsensusReason.INVALID_COMMIT, net, Commit(1, 0, A.block_hash, prevotes))


def test_a_commit_with_a_forged_precommit_is_refused() -> None:
    net = Net([1, 1, 1, 1])
    good = _commit(net, [0, 1, 2])
    v = good.precommits[0]
    forged = Vote(v.type, v.height, v.round, v.block_hash, v.validator, bytes(64))
    bad = Commit(1, 0, A.block_hash, (forged, *good.precommits[1:]))
    _refused(ConsensusReason.BAD_SIGNATURE, net, bad)


def test_a_commit_signed_on_another_chain_does_not_verify_here() -> None:
    net, other = Net([1, 1, 1, 1]), Net([1, 1, 1, 1], chain_id="optex-other")
    _refused(ConsensusReason.BAD_SIGNATURE, net, _commit(other, [0, 1, 2]))


def test_a_prevote_signature_does_not_verify_as_a_precommit() -> None:
    net = Net([1, 1, 1, 1])
    votes = [net.prevote(i, 0, A) for i in (0, 1, 2)]
    relabelled = tuple(
        Vote(VoteType.PRECOMMIT, v.height, v.round, v.block_hash, v.validator, v.signature)
        for v in sorted(votes, key=lambda v: v.validator)
    )
    _refused(ConsensusReason.BAD_SIGNATURE, net, Commit(1, 0, A.block_hash, relabelled))


def test_evidence_of_two_votes_for_different_values_names_the_double_signer() -> None:
    net = Net([1, 1, 1, 1])
    evidence = DuplicateVoteEvidence.of(net.prevote(2, 3, B), net.prevote(2, 3, None))
    assert evidence.vote_a.block_hash is None  # canonical order: nil first
    assert verify_evidence(evidence, net.validators, net.chain_id).address == net.address(2)


@pytest.mark.parametrize(
    "pair",
    [
        lambda net: (net.prevote(1, 0, A), net.prevote(2, 0, B)),  # two validators
        lambda net: (net.prevote(1, 0, A), net.prevote(1, 1, B)),  # two rounds
        lambda net: (net.prevote(1, 0, A), net.precommit(1, 0, B)),  # two types
        lambda net: (net.prevote(1, 0, A), net.prevote(1, 0, A)),  # no conflict
    ],
)
def test_evidence_that_proves_no_double_sign_is_refused(pair) -> None:  # type: ignore[no-untyped-def]
    net = Net([1, 1, 1, 1])
    a, b = pair(net)
    with pytest.raises(InvalidInput) as err:
        verify_evidence(DuplicateVoteEvidence.of(a, b), net.validators, net.chain_id)
    assert err.value.code is ConsensusReason.INVALID_EVIDENCE


def test_evidence_with_a_forged_vote_is_refused() -> None:
    net = Net([1, 1, 1, 1])
    a = net.prevote(1, 0, A)
    b = net.prevote(1, 0, B)
    forged = Vote(b.type, b.height, b.round, b.block_hash, b.validator, a.signature)
    with pytest.raises(InvalidInput) as err:
        verify_evidence(DuplicateVoteEvidence.of(a, forged), net.validators, net.chain_id)
    assert err.value.code is ConsensusReason.INVALID_EVIDENCE


def test_a_small_order_key_does_not_verify_a_forged_signature_on_any_message() -> None:
    from optex.chain.consensus import ed25519_verify

    identity = bytes([1]) + bytes(31)
    forged = identity + bytes(32)
    assert not ed25519_verify(identity, b"precommit for any block", forged)
    assert not ed25519_verify(identity[:31], b"", forged)
