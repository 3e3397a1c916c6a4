"""Vote bookkeeping for one height, with power tallies kept up to date as votes arrive.

Votes are indexed by ``(round, type)``; each index keeps every validator's votes, the power
behind each block hash (nil included) and the power that has voted at all, so the quorum
questions of Algorithm 1 are dictionary look-ups, never sums. The power of the distinct senders
of any message per round is kept too, for the f+1 round-skip rule (line 55).

A validator that double signs is counted for each value it voted for, as Algorithm 1 counts
messages: otherwise a node that heard a Byzantine validator's other vote first could never see
the quorum its peers saw, and a locked correct node could stay unconvinced forever. Safety does
not suffer, since two quorums still share more than a third of the power, which a correct
validator never splits. At most ``MAX_VOTES_PER_SLOT`` values are kept per validator and slot,
which bounds what an equivocator can make a node store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from optex.chain.consensus._messages import Vote, VoteType
from optex.chain.consensus._validators import ValidatorSet

MAX_VOTES_PER_SLOT: Final = 4


class RoundVotes:
    """The votes of one type in one round."""

    __slots__ = ("by_validator", "power", "quorum_hash", "voted_power")

    def __init__(self) -> None:
        self.by_validator: dict[bytes, dict[bytes | None, Vote]] = {}
        self.power: dict[bytes | None, int] = {}
        self.voted_power = 0
        self.quorum_hash: bytes | None = None
        """The latest non-nil hash with more than 2/3 of the power, once there is one."""

    def power_for(self, block_hash: bytes | None) -> int:
        """The power that voted for ``block_hash`` (``None`` is nil)."""
        return self.power.get(block_hash, 0)

    def votes(self) -> Iterator[Vote]:
        """Every vote kept, in arrival order per validator."""
        for by_hash in self.by_validator.values():
            yield from by_hash.values()

    def votes_for(self, block_hash: bytes | None) -> list[Vote]:
        """The votes for ``block_hash``, one per validator, sorted by validator address."""
        found = [v[block_hash] for v in self.by_validator.values() if block_hash in v]
        return sorted(found, key=lambda vote: vote.validator)


class HeightVotes:
    """All votes of one height, and the senders of any message per round."""

    __slots__ = ("_rounds", "_sender_power", "_senders", "_validators")

    def __init__(self, validators: ValidatorSet) -> None:
        self._validators = validators
        self._rounds: dict[tuple[int, VoteType], RoundVotes] = {}
        self._senders: dict[int, set[bytes]] = {}
        self._sender_power: dict[int, int] = {}

    def get(self, round: int, vote_type: VoteType) -> RoundVotes | None:
        """The votes of ``vote_type`` in ``round``, if any arrived."""
        return self._rounds.get((round, vote_type))

    def slot(self, vote: Vote) -> dict[bytes | None, Vote] | None:
        """The votes this validator already cast in ``vote``'s slot, by block hash."""
        votes = self._rounds.get((vote.round, vote.type))
        return None if votes is None else votes.by_validator.get(vote.validator)

    def add(self, vote: Vote, power: int) -> Vote | None:
        """Count a verified vote not seen before; return an earlier conflicting vote, if any."""
        key = (vote.round, vote.type)
        votes = self._rounds.get(key)
        if votes is None:
            votes = self._rounds[key] = RoundVotes()
        by_hash = votes.by_validator.get(vote.validator)
        conflict = None
        if by_hash is None:
            by_hash = votes.by_validator[vote.validator] = {}
            votes.voted_power += power
        else:
            conflict = next(iter(by_hash.values()))
        by_hash[vote.block_hash] = vote
        tally = votes.power.get(vote.block_hash, 0) + power
        votes.power[vote.block_hash] = tally
        if vote.block_hash is not None and self._validators.is_quorum(tally):
            votes.quorum_hash = vote.block_hash
        self.note_sender(vote.round, vote.validator, power)
        return conflict

    def note_sender(self, round: int, address: bytes, power: int) -> None:
        """Record that ``address`` sent some message in ``round``."""
        senders = self._senders.get(round)
        if senders is None:
            senders = self._senders[round] = set()
        if address not in senders:
            senders.add(address)
            self._sender_power[round] = self._sender_power.get(round, 0) + power

    def sender_power(self, round: int) -> int:
        """The power of the distinct validators that sent anything in ``round``."""
        return self._sender_power.get(round, 0)
