"""Stake-weighted proposer rotation matches CometBFT's proposer-priority algorithm."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.chain.consensus import ConsensusReason, Validator, ValidatorSet, address_of
from optex.core import InvalidInput
from tests.chain.consensus.kit import signers


def _set(powers: list[int]) -> ValidatorSet:
    keys = signers(len(powers))  # sorted by address: index order is the tie-break order
    return ValidatorSet.genesis((k.public_key, p) for k, p in zip(keys, powers, strict=True))


def _sequence(vals: ValidatorSet, heights: int) -> str:
    names = "ABCDEFG"
    out = []
    for _ in range(heights):
        out.append(names[vals.validators.index(vals.proposer)])
        vals = vals.advanced(1)
    return "".join(out)


def test_powers_one_two_three_rotate_as_computed_by_hand() -> None:
    # Priorities (A, B, C) after each step, from (0, 0, 0):
    # (1,2,-3) C | (2,-2,0) B | (-3,0,3) A, on a 3-3 tie by address | (-2,2,0) C
    # (-1,-2,3) B | (0,0,0) C
    assert _sequence(_set([1, 2, 3]), 12) == "CBACBC" * 2


def test_powers_ten_one_one_one_rotate_as_computed_by_hand() -> None:
    # (10,1,1,1) from zero: A three times, then B wins the 4-4-4 tie on address, ...
    assert _sequence(_set([10, 1, 1, 1]), 13) == "AAABAACAADAAA"


def test_rounds_of_a_height_advance_a_copy_and_do_not_leak_into_the_next_height() -> None:
    vals = _set([1, 2, 3])
    assert [vals.proposer_for_round(r).power for r in range(6)] == [3, 2, 1, 3, 2, 3]
    assert vals.advanced(1).proposer == vals.proposer_for_round(1)
    assert vals.proposer_for_round(4).power == 2
    assert vals.proposer.power == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=6))
def test_over_total_power_steps_each_validator_proposes_its_power_times(powers: list[int]) -> None:
    vals = _set(powers)
    counts = dict.fromkeys(range(len(powers)), 0)
    for _ in range(vals.total_power):
        counts[vals.validators.index(vals.proposer)] += 1
        vals = vals.advanced(1)
    assert [counts[i] for i in range(len(powers))] == [v.power for v in vals.validators]


def test_spread_out_priorities_are_rescaled_into_the_window_and_centred() -> None:
    keys = signers(3)
    members = [Validator(address_of(k.public_key), k.public_key, 1) for k in keys]
    vals = ValidatorSet(members, [-100, 0, 101], 0)
    # spread 201 > 2 * total 6: ratio ceil(201/6) = 34, Go's truncation: -2, 0, 2; mean 0;
    # then one step adds 1 each: -1, 1, 3 -> C proposes and drops to 0.
    stepped = vals.advanced(1)
    assert stepped.priorities == (-1, 1, 0)
    assert stepped.proposer == members[2]


@pytest.mark.parametrize(
    ("powers", "power", "quorum", "third"),
    [([1, 1, 1], 2, False, True), ([1, 1, 1], 3, True, True), ([1, 1, 1, 1], 3, True, True),
     ([1, 1, 1, 1], 1, False, False), ([3, 3], 4, False, True), ([3, 3], 5, True, True)],
)  # fmt: skip
def test_quorum_is_strictly_more_than_two_thirds_and_skip_strictly_more_than_one_third(
    powers: list[int], power: int, quorum: bool, third: bool
) -> None:
    vals = _set(powers)
    assert vals.is_quorum(power) is quorum
    assert vals.is_one_third(power) is third


def test_a_set_with_zero_power_or_a_repeated_key_is_refused() -> None:
    key = signers(1)[0].public_key
    for members in ([(key, 0)], [(key, 1), (key, 2)], []):
        with pytest.raises(InvalidInput) as err:
            ValidatorSet.genesis(members)
        assert err.value.code is ConsensusReason.INVALID_VALIDATOR_SET
