"""Validator sets, quorum arithmetic and stake-weighted proposer rotation.

Proposer selection is CometBFT's proposer-priority algorithm (``types/validator_set.go``): each
step adds every validator's power to its priority, picks the highest priority (ties go to the
smaller address) and subtracts the total power from the one picked. Over ``total`` steps each
validator proposes exactly ``power`` times. Before each batch of steps the priorities are
rescaled so their spread stays within twice the total power (Go's truncating division) and
centred on their mean (Euclidean division, as ``big.Int.Div`` does), so they never drift.

A height's set is its predecessor's advanced by one step; round ``r`` of a height advances a
copy of the height's set by ``r`` steps, so rounds never leak into the next height.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from optex.chain.consensus._errors import ConsensusReason
from optex.core import InvalidInput

ADDRESS_BYTES: Final = 20
MAX_TOTAL_POWER: Final = (2**63 - 1) // 8
"""CometBFT's bound, which keeps priorities inside 64 bits."""
PRIORITY_WINDOW_FACTOR: Final = 2


def address_of(public_key: bytes) -> bytes:
    """A validator's address: the first 20 bytes of SHA-256 of its public key, as CometBFT."""
    return hashlib.sha256(public_key).digest()[:ADDRESS_BYTES]


class Validator(msgspec.Struct, frozen=True):
    """One member of a validator set."""

    address: bytes
    public_key: bytes
    power: int


def _trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


class ValidatorSet:
    """An immutable validator set with the proposer priorities of one height."""

    __slots__ = ("_index", "priorities", "proposer", "total_power", "validators")

    def __init__(
        self, validators: Sequence[Validator], priorities: Sequence[int], proposer: int
    ) -> None:
        if not validators:
            raise InvalidInput(ConsensusReason.INVALID_VALIDATOR_SET, "the set is empty")
        if len(priorities) != len(validators) or not 0 <= proposer < len(validators):
            raise InvalidInput(ConsensusReason.INVALID_VALIDATOR_SET, "priorities do not match")
        index: dict[bytes, int] = {}
        total = 0
        for i, v in enumerate(validators):
            if isinstance(v.power, bool) or not isinstance(v.power, int) or v.power <= 0:
                raise InvalidInput(
                    ConsensusReason.INVALID_VALIDATOR_SET, f"power {v.power!r} is not positive"
                )
            if v.address != address_of(v.public_key):
                raise InvalidInput(
                    ConsensusReason.INVALID_VALIDATOR_SET, "address does not match the public key"
                )
            if v.address in index:
                raise InvalidInput(
                    ConsensusReason.INVALID_VALIDATOR_SET, f"address {v.address.hex()} repeats"
                )
            index[v.address] = i
            total += v.power
        if total > MAX_TOTAL_POWER:
            raise InvalidInput(
                ConsensusReason.INVALID_VALIDATOR_SET, f"total power {total} exceeds the maximum"
            )
        self.validators: tuple[Validator, ...] = tuple(validators)
        self.priorities: tuple[int, ...] = tuple(priorities)
        self.proposer: Validator = self.validators[proposer]
        self.total_power: int = total
        self._index = index

    @classmethod
    def genesis(cls, members: Iterable[tuple[bytes, int]]) -> ValidatorSet:
        """The set of the first height from ``(public_key, power)`` pairs.

        All priorities start equal (CometBFT gives new validators the same negative priority and
        then centres them, which is zero) and one step chooses the first proposer.
        """
        validators = sorted(
            (Validator(address_of(pk), pk, power) for pk, power in members),
            key=lambda v: v.address,
        )
        return cls(validators, [0] * len(validators), 0).advanced(1)

    def __len__(self) -> int:
        return len(self.validators)

    def __contains__(self, address: object) -> bool:
        return address in self._index

    def get(self, address: bytes) -> Validator | None:
        """The validator with this address, if it is a member."""
        i = self._index.get(address)
        return None if i is None else self.validators[i]

    def power_of(self, address: bytes) -> int:
        """The voting power of ``address``, zero if it is not a member."""
        i = self._index.get(address)
        return 0 if i is None else self.validators[i].power

    def is_quorum(self, power: int) -> bool:
        """Whether ``power`` is more than two thirds of the total (2f+1 by power)."""
        return 3 * power > 2 * self.total_power

    def is_one_third(self, power: int) -> bool:
        """Whether ``power`` is more than one third of the total (f+1 by power)."""
        return 3 * power > self.total_power

    def advanced(self, times: int) -> ValidatorSet:
        """A copy advanced by ``times`` proposer-priority steps (CometBFT's
        ``IncrementProposerPriority``)."""
        if times <= 0:
            raise InvalidInput(ConsensusReason.INVALID_VALIDATOR_SET, "times must be positive")
        total = self.total_power
        priorities = list(self.priorities)
        window = PRIORITY_WINDOW_FACTOR * total
        spread = max(priorities) - min(priorities)
        if spread > window:
            ratio = (spread + window - 1) // window
            priorities = [_trunc_div(p, ratio) for p in priorities]
        mean = sum(priorities) // len(priorities)
        priorities = [p - mean for p in priorities]
        powers = [v.power for v in self.validators]
        chosen = 0
        for _ in range(times):
            priorities = [p + w for p, w in zip(priorities, powers, strict=True)]
            # Validators are sorted by address, so the first maximum is the smallest address.
            chosen = max(range(len(priorities)), key=priorities.__getitem__)
            priorities[chosen] -= total
        return ValidatorSet(self.validators, priorities, chosen)

    def proposer_for_round(self, round: int) -> Validator:
        """The proposer of ``round`` of this set's height."""
        return self.proposer if round == 0 else self.advanced(round).proposer
