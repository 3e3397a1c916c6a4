"""Slashing and rewards against a hand-written reference, over random stakes."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.chain import Delegate, Evidence, Member, Overlay, ValidatorSetRecord
from optex.chain._context import Context
from optex.chain._records import FEE_POOL, Balances
from optex.chain._staking import distribute_rewards
from tests.chain.kit import (
    ACCOUNTS,
    OPX,
    Chain,
    make_genesis,
    owner,
    validator_address,
    validator_key,
)
from tests.chain.test_staking import double_sign


@settings(max_examples=25, deadline=None)
@given(
    stakes=st.lists(st.integers(1, 10**9), min_size=1, max_size=len(ACCOUNTS)),
    fraction=st.integers(0, 1_000_000),
)
def test_a_double_sign_slash_cuts_each_delegation_by_the_floor_of_its_share(
    stakes: list[int], fraction: int
) -> None:
    chain = Chain(make_genesis(double_sign_slash_ppm=fraction))
    val0 = validator_address(0)
    txs = [
        chain.sign(owner(a), Delegate, account=a, validator=val0, amount=amount)
        for a, amount in zip(ACCOUNTS, stakes, strict=False)
    ]
    chain.run(*txs)
    before = dict(chain.ledger.validator(val0).delegations)  # type: ignore[union-attr]
    supply = chain.ledger.supply(OPX)
    assert chain.run(chain.sign(owner("dave"), Evidence, evidence=double_sign(0))).txs[0].ok
    expected = {a: v - v * fraction // 1_000_000 for a, v in before.items()}
    expected = {a: v for a, v in expected.items() if v}
    after = chain.ledger.validator(val0)
    assert after is not None and after.delegations == expected
    assert after.tokens == sum(expected.values())
    assert chain.ledger.supply(OPX) == supply - (sum(before.values()) - sum(expected.values()))
    assert chain.ledger.holdings(OPX) == chain.ledger.supply(OPX)


def usdc(view: Overlay, account: str) -> int:
    return int(view.get("acct/" + account).balances.get("USDC", 0))


def reference_rewards(
    pool: int, powers: list[int], commissions: list[int], delegations: list[dict[str, int]]
) -> dict[str, int]:
    """Pay ``pool`` by power, commission to the operator ``val<i>``, the rest by stake."""
    paid: dict[str, int] = {}
    total_power = sum(powers)
    for i, power in enumerate(powers):
        share = pool * power // total_power
        commission = share * commissions[i] // 1_000_000
        paid[f"val{i}"] = paid.get(f"val{i}", 0) + commission
        tokens = sum(delegations[i].values())
        for account, amount in delegations[i].items():
            paid[account] = paid.get(account, 0) + (share - commission) * amount // tokens
    return paid


@settings(max_examples=40, deadline=None)
@given(
    pool=st.integers(0, 10**15),
    powers=st.lists(st.integers(1, 10**6), min_size=4, max_size=4),
    commissions=st.lists(st.integers(0, 1_000_000), min_size=4, max_size=4),
    extra=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(ACCOUNTS), st.integers(1, 10**12)),
        max_size=6,
    ),
)
def test_rewards_match_a_reference_and_what_rounding_leaves_stays_in_the_pool(
    pool: int,
    powers: list[int],
    commissions: list[int],
    extra: list[tuple[int, str, int]],
) -> None:
    chain = Chain()
    ledger = chain.ledger
    view = Overlay(ledger.state)
    ctx = Context(view, ledger.genesis, 5, chain.now, {})
    delegations: list[dict[str, int]] = []
    for i in range(4):
        validator = view.get("val/" + validator_address(i).hex())
        stakes = dict(validator.delegations)
        for index, account, amount in extra:
            if index == i:
                stakes[account] = stakes.get(account, 0) + amount
        delegations.append(stakes)
        view.put(
            "val/" + validator_address(i).hex(),
            msgspec.structs.replace(
                validator,
                delegations=stakes,
                tokens=sum(stakes.values()),
                commission_ppm=commissions[i],
            ),
        )
    view.put(FEE_POOL, Balances({"USDC": pool} if pool else {}))
    members = tuple(
        sorted(
            (
                Member(validator_address(i), validator_key(i).public_key.raw, powers[i])
                for i in range(4)
            ),
            key=lambda m: m.address,
        )
    )
    before = {
        a: view.get("acct/" + a).balances.get("USDC", 0)
        for a in (*ACCOUNTS, "val0", "val1", "val2", "val3")
    }
    distribute_rewards(ctx, ValidatorSetRecord(members))
    expected = reference_rewards(pool, powers, commissions, delegations)
    for account, start in before.items():
        assert view.get("acct/" + account).balances.get("USDC", 0) - start == expected.get(
            account, 0
        )
    left = view.get(FEE_POOL).amounts.get("USDC", 0)
    assert left == pool - sum(expected.values())
    assert 0 <= left <= 4 + sum(len(d) for d in delegations)
