"""Each rule of Algorithm 1 (Buchman, Kwon, Milosevic 2018), one validator at a time.

Four validators of power 1: a quorum (2f+1) is three votes, f+1 is two.
"""

from __future__ import annotations

import pytest

from optex.chain.consensus import (
    ConsensusReason,
    Decided,
    EvidenceFound,
    MemoryWAL,
    Step,
    Tendermint,
    Timeout,
    TimeoutConfig,
    TimeoutKind,
    VoteType,
    ed25519_verify,
    verify_commit,
    verify_evidence,
)
from optex.core import InvalidInput
from tests.chain.consensus.kit import App, Net, broadcasts, timeouts, value, votes

A, B = value("block-a"), value("block-b")


def _others(net: Net, me: int) -> list[int]:
    return [i for i in range(4) if i != me]


def test_steps_are_ordered_as_in_the_paper() -> None:
    assert Step.NEW_HEIGHT < Step.PROPOSE < Step.PREVOTE < Step.PRECOMMIT


def test_the_proposer_of_round_zero_proposes_a_fresh_value_with_no_polka_round() -> None:
    net = Net([1, 1, 1, 1])
    _, app, out = net.machine(net.proposer(0))
    proposal = broadcasts(out)[0]
    assert app.asked == [1]
    assert proposal.round == 0 and proposal.pol_round == -1  # type: ignore[union-attr]
    # The proposer then prevotes its own valid proposal at once (line 22).
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [proposal.value.block_hash]  # type: ignore[union-attr]


def test_a_validator_that_is_not_proposer_arms_the_propose_timeout() -> None:
    net = Net([1, 1, 1, 1])
    m, _, out = net.machine(net.not_proposer(0))
    assert broadcasts(out) == []
    assert [t.timeout for t in timeouts(out)] == [Timeout(TimeoutKind.PROPOSE, 1, 0)]
    assert (m.height, m.round, m.step) == (1, 0, Step.PROPOSE)


def test_a_valid_proposal_gets_a_prevote_for_its_value_when_unlocked() -> None:
    net = Net([1, 1, 1, 1])
    m, _, _ = net.machine(net.not_proposer(0))
    out = m.handle(net.proposal(0, A))
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [A.block_hash]
    assert m.step is Step.PREVOTE


def test_an_invalid_proposal_gets_a_nil_prevote() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, app, _ = net.machine(me)
    app.invalid.add(A.payload)
    out = m.handle(net.proposal(0, A))
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [None]


def test_a_polka_for_the_proposal_locks_the_value_and_precommits_it() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    m.handle(net.proposal(0, A))
    others = _others(net, me)
    assert votes(m.handle(net.prevote(others[0], 0, A)), VoteType.PRECOMMIT) == []
    out = m.handle(net.prevote(others[1], 0, A))
    assert [v.block_hash for v in votes(out, VoteType.PRECOMMIT)] == [A.block_hash]
    assert (m.locked_value, m.locked_round) == (A, 0)
    assert (m.valid_value, m.valid_round) == (A, 0)
    assert m.step is Step.PRECOMMIT


def _locked_on_a_in_round_zero(net: Net, me: int):  # type: ignore[no-untyped-def]
    m, app, _ = net.machine(me)
    m.handle(net.proposal(0, A))
    for i in _others(net, me)[:2]:
        m.handle(net.prevote(i, 0, A))
    assert m.locked_round == 0
    for i in _others(net, me)[:2]:
        m.handle(net.precommit(i, 0, None))
    m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 0))
    assert (m.round, m.step) == (1, Step.PROPOSE)
    return m, app


def test_a_locked_validator_prevotes_nil_for_a_different_fresh_proposal() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1)
    m, _ = _locked_on_a_in_round_zero(net, me)
    out = m.handle(net.proposal(1, B))
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [None]


def test_a_locked_validator_prevotes_for_its_locked_value_when_proposed_again() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1)
    m, _ = _locked_on_a_in_round_zero(net, me)
    out = m.handle(net.proposal(1, A))
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [A.block_hash]


def test_a_polka_in_a_round_after_the_lock_unlocks_for_the_new_value() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1, 2)
    m, _ = _locked_on_a_in_round_zero(net, me)
    m.handle(net.proposal(1, B))  # prevote nil: locked on A
    others = _others(net, me)
    for i in others:
        m.handle(net.prevote(i, 1, B))  # a polka for B in round 1, after the lock
    m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 1))
    for i in others[:2]:
        m.handle(net.precommit(i, 1, None))
    m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 1))
    assert m.round == 2
    out = m.handle(net.proposal(2, B, pol_round=1))  # line 28: lockedRound 0 <= vr 1
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [B.block_hash]


def test_a_proposal_with_a_polka_older_than_the_lock_gets_a_nil_prevote() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1, 2)
    m, _, _ = net.machine(me)
    others = _others(net, me)
    # A polka for B in round 0 that this validator sees, but it is in round 1 locked on A.
    for i in others:
        m.handle(net.prevote(i, 0, B))
    m.handle(Timeout(TimeoutKind.PROPOSE, 1, 0))
    for i in others[:2]:
        m.handle(net.precommit(i, 0, None))
    m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 0))
    m.handle(net.proposal(1, A))
    for i in others[:2]:
        m.handle(net.prevote(i, 1, A))
    assert (m.locked_value, m.locked_round) == (A, 1)
    for i in others[:2]:
        m.handle(net.precommit(i, 1, None))
    m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 1))
    out = m.handle(net.proposal(2, B, pol_round=0))  # vr 0 < lockedRound 1 and B != A
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [None]


def test_a_proposal_whose_polka_is_not_seen_waits_for_the_propose_timeout() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1)
    m, _, _ = net.machine(me)
    m.handle(Timeout(TimeoutKind.PROPOSE, 1, 0))
    for i in _others(net, me)[:2]:
        m.handle(net.precommit(i, 0, None))
    m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 0))
    assert broadcasts(m.handle(net.proposal(1, A, pol_round=0))) == []
    assert m.step is Step.PROPOSE


def test_a_polka_seen_after_precommitting_nil_updates_the_valid_value_but_not_the_lock() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    m.handle(Timeout(TimeoutKind.PROPOSE, 1, 0))  # prevote nil
    m.handle(Timeout(TimeoutKind.PREVOTE, 1, 0))  # precommit nil
    assert m.step is Step.PRECOMMIT
    m.handle(net.proposal(0, A))
    for i in _others(net, me):
        m.handle(net.prevote(i, 0, A))
    assert (m.valid_value, m.valid_round) == (A, 0)
    assert (m.locked_value, m.locked_round) == (None, -1)


def test_the_proposer_re_proposes_its_valid_value_with_its_valid_round() -> None:
    net = Net([1, 1, 1, 1])
    me = net.proposer(1)
    assert me != net.proposer(0)
    m, app, _ = net.machine(me)
    m.handle(net.proposal(0, A))
    for i in _others(net, me)[:2]:
        m.handle(net.prevote(i, 0, A))
    for i in _others(net, me)[:2]:
        m.handle(net.precommit(i, 0, None))
    out = m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 0))
    proposal = broadcasts(out)[0]
    assert (proposal.value, proposal.pol_round) == (A, 0)  # type: ignore[union-attr]
    assert app.asked == []


def test_a_nil_polka_precommits_nil() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    m.handle(net.proposal(0, A))
    others = _others(net, me)
    m.handle(net.prevote(others[0], 0, None))
    out = m.handle(net.prevote(others[1], 0, None))
    assert votes(out, VoteType.PRECOMMIT) == []  # two nil and one A: no quorum yet
    out = m.handle(net.prevote(others[2], 0, None))
    assert [v.block_hash for v in votes(out, VoteType.PRECOMMIT)] == [None]


def test_two_thirds_of_mixed_prevotes_arm_the_prevote_timeout_once() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    m.handle(net.proposal(0, A))
    others = _others(net, me)
    assert timeouts(m.handle(net.prevote(others[0], 0, None))) == []
    out = m.handle(net.prevote(others[1], 0, B))
    assert [t.timeout for t in timeouts(out)] == [Timeout(TimeoutKind.PREVOTE, 1, 0)]
    assert timeouts(m.handle(net.prevote(others[2], 0, None))) == []


def test_two_thirds_of_mixed_precommits_arm_the_precommit_timeout() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    others = _others(net, me)
    m.handle(net.precommit(others[0], 0, A))
    m.handle(net.precommit(others[1], 0, None))
    out = m.handle(net.precommit(others[2], 0, B))
    assert [t.timeout for t in timeouts(out)] == [Timeout(TimeoutKind.PRECOMMIT, 1, 0)]


def test_a_proposal_and_two_thirds_of_precommits_decide_with_a_verifiable_commit() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    m.handle(net.proposal(0, A))
    out = []
    for i in _others(net, me):
        out += m.handle(net.precommit(i, 0, A))
    decided = [o for o in out if isinstance(o, Decided)]
    assert len(decided) == 1 and decided[0].value == A and decided[0].height == 1
    verify_commit(net.validators, net.chain_id, 1, A.block_hash, decided[0].commit)
    assert (m.height, m.step, m.locked_round) == (2, Step.NEW_HEIGHT, -1)
    assert [t.timeout for t in timeouts(out)] == [Timeout(TimeoutKind.COMMIT, 2, 0)]


def test_precommits_of_an_earlier_round_still_decide() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1)
    others = _others(net, me)
    m2, _, _ = net.machine(me)
    m2.handle(Timeout(TimeoutKind.PROPOSE, 1, 0))
    m2.handle(Timeout(TimeoutKind.PREVOTE, 1, 0))
    for i in others[:2]:
        m2.handle(net.precommit(i, 0, A))
    m2.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 0))
    assert m2.round == 1
    m2.handle(net.proposal(0, A))
    out = m2.handle(net.precommit(others[2], 0, A))
    assert [o.value for o in out if isinstance(o, Decided)] == [A]


def test_f_plus_one_messages_of_a_higher_round_skip_to_that_round() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 5)
    m, _, _ = net.machine(me)
    others = _others(net, me)
    m.handle(net.prevote(others[0], 5, None))
    assert m.round == 0  # one validator (f) is not enough
    m.handle(net.precommit(others[1], 5, B))
    assert (m.round, m.step) == (5, Step.PROPOSE)


def test_the_same_validator_twice_does_not_count_as_f_plus_one() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    other = _others(net, me)[0]
    m.handle(net.prevote(other, 3, None))
    m.handle(net.precommit(other, 3, None))
    assert m.round == 0


def test_timeouts_grow_linearly_with_the_round() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1, 2)
    m, _, out = net.machine(me)
    seen = {t.timeout: t.duration_ms for t in timeouts(out)}
    others = _others(net, me)
    for r in range(3):
        seen |= {
            t.timeout: t.duration_ms for t in timeouts(m.handle(Timeout(TimeoutKind.PROPOSE, 1, r)))
        }
        for i in others[:2]:
            seen |= {t.timeout: t.duration_ms for t in timeouts(m.handle(net.prevote(i, r, None)))}
        for i in others[:2]:
            seen |= {
                t.timeout: t.duration_ms for t in timeouts(m.handle(net.precommit(i, r, None)))
            }
        seen |= {
            t.timeout: t.duration_ms
            for t in timeouts(m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, r)))
        }
    for r in range(3):
        assert seen[Timeout(TimeoutKind.PROPOSE, 1, r)] == 1000 + 100 * r
        assert seen[Timeout(TimeoutKind.PREVOTE, 1, r)] == 500 + 50 * r
        assert seen[Timeout(TimeoutKind.PRECOMMIT, 1, r)] == 600 + 60 * r


def test_the_propose_and_prevote_timeouts_vote_nil_and_the_precommit_timeout_starts_a_round() -> (
    None
):
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1)
    m, _, _ = net.machine(me)
    out = m.handle(Timeout(TimeoutKind.PROPOSE, 1, 0))
    assert [v.block_hash for v in votes(out, VoteType.PREVOTE)] == [None]
    out = m.handle(Timeout(TimeoutKind.PREVOTE, 1, 0))
    assert [v.block_hash for v in votes(out, VoteType.PRECOMMIT)] == [None]
    m.handle(Timeout(TimeoutKind.PRECOMMIT, 1, 0))
    assert (m.round, m.step) == (1, Step.PROPOSE)


def test_stale_timeouts_change_nothing() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0, 1)
    m, _, _ = net.machine(me)
    m.handle(Timeout(TimeoutKind.PROPOSE, 1, 0))
    assert m.handle(Timeout(TimeoutKind.PROPOSE, 1, 0)) == []  # already prevoted
    assert m.handle(Timeout(TimeoutKind.PREVOTE, 1, 1)) == []  # another round
    assert m.handle(Timeout(TimeoutKind.PRECOMMIT, 2, 0)) == []  # another height
    assert (m.round, m.step) == (0, Step.PREVOTE)


def test_conflicting_votes_from_one_validator_give_verifiable_evidence_once() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    cheat = _others(net, me)[0]
    m.handle(net.prevote(cheat, 0, A))
    out = m.handle(net.prevote(cheat, 0, B))
    found = [o.evidence for o in out if isinstance(o, EvidenceFound)]
    assert len(found) == 1
    assert verify_evidence(found[0], net.validators, net.chain_id).address == net.address(cheat)
    again = m.handle(net.prevote(cheat, 0, None))
    assert [o for o in again if isinstance(o, EvidenceFound)] == []


def test_a_double_signing_validator_counts_towards_each_value_it_voted_for() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    m.handle(net.proposal(0, A))
    others = _others(net, me)
    m.handle(net.prevote(others[0], 0, B))  # the cheat's vote heard first
    m.handle(net.prevote(others[0], 0, A))  # its other vote, relayed by a peer
    out = m.handle(net.prevote(others[1], 0, A))
    assert [v.block_hash for v in votes(out, VoteType.PRECOMMIT)] == [A.block_hash]


def test_a_vote_with_a_bad_signature_is_refused_and_changes_nothing() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    vote = net.prevote(_others(net, me)[0], 3, None)
    forged = type(vote)(vote.type, vote.height, vote.round, vote.block_hash, vote.validator,
                        b"\x00" * 64)  # fmt: skip
    with pytest.raises(InvalidInput) as err:
        m.handle(forged)
    assert err.value.code is ConsensusReason.BAD_SIGNATURE
    m.handle(net.prevote(_others(net, me)[1], 3, None))
    assert m.round == 0  # the forged vote was not counted towards f+1


def test_a_vote_signed_for_another_chain_is_refused() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    vote = net.vote(_others(net, me)[0], VoteType.PREVOTE, 0, A, chain_id="optex-other")
    with pytest.raises(InvalidInput) as err:
        m.handle(vote)
    assert err.value.code is ConsensusReason.BAD_SIGNATURE


def test_a_proposal_from_a_validator_that_is_not_the_proposer_is_refused() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    good = net.proposal(0, A)
    impostor = net.address(net.not_proposer(0))
    with pytest.raises(InvalidInput) as err:
        m.handle(type(good)(1, 0, -1, A, impostor, good.signature))
    assert err.value.code is ConsensusReason.WRONG_PROPOSER
    assert m.step is Step.PROPOSE


def test_messages_of_other_heights_are_ignored() -> None:
    net = Net([1, 1, 1, 1])
    me = net.not_proposer(0)
    m, _, _ = net.machine(me)
    assert m.handle(net.prevote(_others(net, me)[0], 0, A, height=2)) == []
    assert m.handle(net.proposal(0, A, height=7)) == []


def test_a_proposal_far_beyond_the_current_round_is_dropped_unread() -> None:
    net = Net([1, 1, 1, 1])
    m, _, _ = net.machine(net.not_proposer(0))
    far = net.proposal(0, A)
    assert m.handle(type(far)(1, 10_000, -1, A, far.proposer, b"\x00" * 64)) == []
    assert m.round == 0


def test_an_observer_without_a_key_decides_without_ever_voting() -> None:
    net = Net([1, 1, 1, 1])
    observer = Tendermint(
        chain_id=net.chain_id,
        validators=net.validators,
        height=1,
        application=App(),
        wal=MemoryWAL(),
        verify=ed25519_verify,
    )
    out = observer.start()
    out += observer.handle(net.proposal(0, A))
    for i in range(3):
        out += observer.handle(net.prevote(i, 0, A))
        out += observer.handle(net.precommit(i, 0, A))
    assert broadcasts(out) == []
    assert [o.value for o in out if isinstance(o, Decided)] == [A]


def test_a_bad_timeout_configuration_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        TimeoutConfig(propose_delta_ms=-1)
    assert err.value.code is ConsensusReason.INVALID_CONFIG
