"""Delegated proof of stake: delegation, unbonding, slashing, jail, rewards, elections."""

from __future__ import annotations

from optex.chain import (
    ChainReason,
    Delegate,
    Evidence,
    Redelegate,
    Stake,
    TradeBatch,
    Undelegate,
    Unjail,
)
from optex.chain.consensus import (
    DuplicateVoteEvidence,
    Vote,
    VoteType,
    address_of,
    vote_signing_bytes,
)
from optex.crypto import Side
from tests.chain.kit import (
    CHAIN,
    OPERATOR,
    OPX,
    START_OPX,
    USDC,
    Chain,
    assert_rejected_and_changes_nothing,
    key,
    make_genesis,
    owner,
    validator_address,
    validator_key,
)

SELF = 1_000_000_000


def opx(chain: Chain, account: str) -> int:
    record = chain.ledger.account(account)
    assert record is not None
    return record.balances.get(OPX, 0)


def double_sign(index: int, height: int = 1) -> DuplicateVoteEvidence:
    signer = validator_key(index)
    votes = []
    for block in (b"\x01" * 32, b"\x02" * 32):
        data = vote_signing_bytes(CHAIN, VoteType.PRECOMMIT, height, 0, block)
        votes.append(
            Vote(
                type=VoteType.PRECOMMIT,
                height=height,
                round=0,
                block_hash=block,
                validator=validator_address(index),
                signature=signer.sign_raw(data),
            )
        )
    return DuplicateVoteEvidence.of(votes[0], votes[1])


def members(chain: Chain) -> list[bytes]:
    return [m.address for m in chain.ledger.signing_set().members]


def test_delegating_bonds_stake_and_undelegating_pays_it_back_after_unbonding() -> None:
    chain = Chain()
    val0 = validator_address(0)
    delegate = chain.sign(owner("alice"), Delegate, account="alice", validator=val0, amount=300)
    assert chain.run(delegate).txs[0].ok
    assert chain.ledger.validator(val0).delegations["alice"] == 300  # type: ignore[union-attr]
    assert opx(chain, "alice") == START_OPX - 300
    undelegate = chain.sign(owner("alice"), Undelegate, account="alice", validator=val0, amount=100)
    assert chain.run(undelegate).txs[0].ok
    assert opx(chain, "alice") == START_OPX - 300
    chain.block(step_ms=59_000)
    assert opx(chain, "alice") == START_OPX - 300
    chain.block(step_ms=1_000)
    assert opx(chain, "alice") == START_OPX - 200
    assert chain.ledger.holdings(OPX) == chain.ledger.supply(OPX)


def test_undelegating_more_than_delegated_is_refused() -> None:
    chain = Chain()
    tx = chain.sign(
        owner("alice"), Undelegate, account="alice", validator=validator_address(0), amount=1
    )
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.NOT_DELEGATED)


def test_redelegation_moves_stake_at_once() -> None:
    chain = Chain()
    val0, val1 = validator_address(0), validator_address(1)
    chain.run(chain.sign(owner("alice"), Delegate, account="alice", validator=val0, amount=500))
    tx = chain.sign(
        owner("alice"), Redelegate, account="alice", source=val0, destination=val1, amount=200
    )
    assert chain.run(tx).txs[0].ok
    assert chain.ledger.validator(val0).delegations["alice"] == 300  # type: ignore[union-attr]
    assert chain.ledger.validator(val1).tokens == SELF + 200  # type: ignore[union-attr]


def test_double_signing_slashes_five_percent_of_every_stake_and_tombstones() -> None:
    chain = Chain()
    val0 = validator_address(0)
    chain.run(
        chain.sign(owner("alice"), Delegate, account="alice", validator=val0, amount=100_000_000)
    )
    chain.run(
        chain.sign(owner("alice"), Undelegate, account="alice", validator=val0, amount=40_000_000)
    )
    supply = chain.ledger.supply(OPX)
    evidence = chain.sign(owner("carol"), Evidence, evidence=double_sign(0))
    result = chain.run(evidence)
    assert result.txs[0].ok, result.txs[0].message
    validator = chain.ledger.validator(val0)
    assert validator is not None and validator.tombstoned and validator.jailed
    # 5% of 1,000 OPX self-stake, of alice's remaining 60 OPX, and of her 40 OPX unbonding.
    assert validator.delegations == {"val0": 950_000_000, "alice": 57_000_000}
    assert validator.tokens == 1_007_000_000
    assert chain.ledger.supply(OPX) == supply - 50_000_000 - 3_000_000 - 2_000_000
    assert chain.ledger.holdings(OPX) == chain.ledger.supply(OPX)
    chain.block()
    assert val0 not in members(chain)
    chain.block(step_ms=60_000)
    assert opx(chain, "alice") == START_OPX - 100_000_000 + 38_000_000
    again = chain.sign(owner("dave"), Evidence, evidence=double_sign(0, height=2))
    assert_rejected_and_changes_nothing(chain, again, ChainReason.VALIDATOR_TOMBSTONED)
    unjail = chain.sign(owner("val0"), Unjail, validator=val0)
    assert_rejected_and_changes_nothing(chain, unjail, ChainReason.VALIDATOR_TOMBSTONED)


def test_evidence_with_a_forged_vote_is_refused() -> None:
    chain = Chain()
    evidence = double_sign(0)
    forged = DuplicateVoteEvidence(
        evidence.vote_a,
        Vote(
            type=evidence.vote_b.type,
            height=evidence.vote_b.height,
            round=0,
            block_hash=evidence.vote_b.block_hash,
            validator=evidence.vote_b.validator,
            signature=bytes(64),
        ),
    )
    tx = chain.sign(owner("carol"), Evidence, evidence=forged)
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.INVALID_EVIDENCE)


def test_missing_more_than_half_a_window_slashes_a_little_and_jails_until_unjail() -> None:
    chain = Chain()
    val3 = validator_address(3)
    online = [validator_address(i) for i in range(3)]
    chain.block()
    for _ in range(5):
        chain.block(signers=online)
    assert not chain.ledger.validator(val3).jailed  # type: ignore[union-attr]
    result = chain.block(signers=online)
    assert [e.kind for e in result.events] == ["slashed", "jailed"]
    validator = chain.ledger.validator(val3)
    assert validator is not None and validator.jailed and not validator.tombstoned
    assert validator.tokens == SELF - 100_000  # 0.01% of 1,000 OPX
    chain.block(signers=online)
    assert val3 not in members(chain)
    unjail = chain.sign(owner("val3"), Unjail, validator=val3)
    assert_rejected_and_changes_nothing(chain, unjail, ChainReason.STILL_JAILED)
    chain.block(step_ms=600_000, signers=online)
    assert chain.run(chain.sign(owner("val3"), Unjail, validator=val3)).txs[0].ok
    chain.block()
    assert val3 in members(chain)


def test_unjail_needs_the_operators_key() -> None:
    chain = Chain()
    tx = chain.sign(owner("alice"), Unjail, validator=validator_address(0))
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.WRONG_SIGNER)


def test_fees_are_shared_by_power_then_commission_then_delegators_pro_rata() -> None:
    chain = Chain()
    val1 = validator_address(1)
    setup = [chain.register("alice"), chain.register("bob")]
    setup.append(chain.sign(owner("carol"), Delegate, account="carol", validator=val1, amount=SELF))
    chain.run(*setup)
    maker = chain.order("alice", Side.SELL, 500_000_000, 1_000_000)
    taker = chain.order("bob", Side.BUY, 500_000_000, 1_000_000)
    chain.run(chain.sign(OPERATOR, TradeBatch, fills=(chain.fill(maker, taker),)))
    assert chain.ledger.get("pool/fees").amounts == {USDC: 1_250_000}
    chain.block()
    chain.block()
    assert chain.ledger.height == 4
    result = chain.block()
    assert "rewards" in [e.kind for e in result.events]
    usdc = {a: chain.ledger.account(a).balances.get(USDC, 0) for a in ("val0", "val1", "carol")}  # type: ignore[union-attr]
    # Powers are the epoch's (1000 each): 312,500 per validator. val0: all of it. val1: 10%
    # commission (31,250), then 281,250 split between its own 1,000 OPX and carol's 1,000 OPX.
    assert usdc["val0"] == 312_500
    assert usdc["val1"] == 31_250 + 140_625
    assert usdc["carol"] == 1_000_000_000_000 + 140_625
    assert chain.ledger.get("pool/fees").amounts == {}
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)


def test_the_active_set_is_the_top_n_by_stake_at_each_epoch() -> None:
    chain = Chain(make_genesis(validators=4, stakes=[4, 3, 2, 1], max_validators=3, power_unit=1))
    assert members(chain) == sorted(validator_address(i) for i in range(3))
    newcomer = key("validator/new")
    stake = chain.sign(
        owner("alice"),
        Stake,
        account="alice",
        consensus_key=newcomer.public_key.raw,
        amount=10,
        commission_ppm=50_000,
    )
    assert chain.run(stake).txs[0].ok
    while chain.ledger.height < 6:
        chain.block()
    expected = sorted([address_of(newcomer.public_key.raw), *map(validator_address, (0, 1))])
    assert members(chain) == expected


def test_a_commission_above_100_percent_is_refused() -> None:
    chain = Chain()
    tx = chain.sign(
        owner("alice"),
        Stake,
        account="alice",
        consensus_key=key("v").public_key.raw,
        amount=10,
        commission_ppm=1_000_001,
    )
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.INVALID_COMMISSION)
