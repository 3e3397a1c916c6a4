"""Deposits, withdrawals, transfers, trading keys; replays, other chains and forgeries."""

from __future__ import annotations

import msgspec
import pytest

from optex.chain import (
    Block,
    ChainReason,
    Deposit,
    Ledger,
    RevokeTradingKey,
    SetWithdrawPolicy,
    SignedTx,
    Transfer,
    Withdraw,
    sign_tx,
)
from optex.core import InvalidInput
from optex.crypto import TradingKeyRevocation, sign
from tests.chain.kit import (
    BRIDGE,
    CHAIN,
    START_USDC,
    USDC,
    Chain,
    assert_rejected_and_changes_nothing,
    key,
    owner,
    trader,
)

NEW_OWNER = key("owner/erin")


def deposit(chain: Chain, account: str, amount: int, deposit_id: str) -> SignedTx:
    return chain.sign(
        BRIDGE,
        Deposit,
        account=account,
        owner_key=NEW_OWNER.public_key.raw if account == "erin" else owner(account).public_key.raw,
        asset=USDC,
        amount=amount,
        deposit_id=deposit_id,
    )


def transfer(chain: Chain, amount: int = 10, source: str = "alice") -> SignedTx:
    return chain.sign(
        owner(source), Transfer, source=source, destination="bob", asset=USDC, amount=amount
    )


def test_a_deposit_opens_an_account_and_raises_the_supply() -> None:
    chain = Chain()
    result = chain.run(deposit(chain, "erin", 500, "eth:0xabc"))
    assert result.txs[0].ok
    account = chain.ledger.account("erin")
    assert account is not None and account.balances == {USDC: 500}
    assert account.owner == NEW_OWNER.public_key.raw
    assert chain.ledger.supply(USDC) == 4 * START_USDC + 500 == chain.ledger.holdings(USDC)


def test_a_deposit_credited_twice_is_refused_and_changes_nothing() -> None:
    chain = Chain()
    chain.run(deposit(chain, "alice", 500, "eth:0xabc"))
    assert_rejected_and_changes_nothing(
        chain, deposit(chain, "alice", 500, "eth:0xabc"), ChainReason.DEPOSIT_REPLAYED
    )


def test_a_deposit_not_signed_by_the_bridge_is_refused() -> None:
    chain = Chain()
    body = Deposit(
        chain_id=CHAIN,
        nonce=1,
        account="alice",
        owner_key=owner("alice").public_key.raw,
        asset=USDC,
        amount=5,
        deposit_id="x",
    )
    assert_rejected_and_changes_nothing(
        chain, sign_tx(owner("alice"), body), ChainReason.WRONG_SIGNER
    )


def test_a_transfer_moves_money_between_accounts() -> None:
    chain = Chain()
    assert chain.run(transfer(chain, 250)).txs[0].ok
    assert chain.ledger.account("alice").balances[USDC] == START_USDC - 250  # type: ignore[union-attr]
    assert chain.ledger.account("bob").balances[USDC] == START_USDC + 250  # type: ignore[union-attr]


def test_a_replayed_transaction_is_refused_and_changes_nothing() -> None:
    chain = Chain()
    tx = transfer(chain)
    assert chain.run(tx).txs[0].ok
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.NONCE_REUSED)


def test_a_replay_inside_the_same_block_is_refused() -> None:
    chain = Chain()
    tx = transfer(chain)
    result = chain.run(tx, tx)
    assert [r.reason for r in result.txs] == ["", "nonce_reused"]
    assert chain.ledger.account("bob").balances[USDC] == START_USDC + 10  # type: ignore[union-attr]


def test_a_transaction_signed_for_another_chain_is_refused_and_changes_nothing() -> None:
    chain = Chain()
    body = Transfer(
        chain_id="optex-other", nonce=1, source="alice", destination="bob", asset=USDC, amount=10
    )
    assert_rejected_and_changes_nothing(
        chain, sign_tx(owner("alice"), body), ChainReason.WRONG_CHAIN
    )


def test_a_body_relabelled_to_this_chain_fails_its_signature() -> None:
    chain = Chain()
    body = Transfer(
        chain_id="optex-other", nonce=1, source="alice", destination="bob", asset=USDC, amount=10
    )
    signed = sign_tx(owner("alice"), body)
    moved = SignedTx(
        body=msgspec.structs.replace(body, chain_id=CHAIN),
        signer=signed.signer,
        signature=signed.signature,
    )
    assert_rejected_and_changes_nothing(chain, moved, ChainReason.BAD_SIGNATURE)


@pytest.mark.parametrize("field", ["amount", "destination", "nonce"])
def test_a_forged_transaction_is_refused_and_changes_nothing(field: str) -> None:
    chain = Chain()
    signed = transfer(chain)
    changes = {"amount": 10_000, "destination": "carol", "nonce": 99}
    forged = SignedTx(
        body=msgspec.structs.replace(signed.body, **{field: changes[field]}),
        signer=signed.signer,
        signature=signed.signature,
    )
    assert_rejected_and_changes_nothing(chain, forged, ChainReason.BAD_SIGNATURE)


def test_a_transaction_signed_under_another_type_domain_is_refused() -> None:
    chain = Chain()
    body = Transfer(
        chain_id=CHAIN, nonce=1, source="alice", destination="bob", asset=USDC, amount=1
    )
    signature = sign(owner("alice"), "tx.withdraw/v1", CHAIN, body)
    tx = SignedTx(body=body, signer=owner("alice").public_key.raw, signature=signature)
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.BAD_SIGNATURE)


def test_a_transfer_signed_by_someone_else_is_refused() -> None:
    chain = Chain()
    body = Transfer(
        chain_id=CHAIN, nonce=1, source="alice", destination="bob", asset=USDC, amount=1
    )
    assert_rejected_and_changes_nothing(chain, sign_tx(owner("bob"), body), "wrong_signer")


def test_overdrawing_is_refused_and_changes_nothing() -> None:
    chain = Chain()
    assert_rejected_and_changes_nothing(
        chain, transfer(chain, START_USDC + 1), ChainReason.INSUFFICIENT_BALANCE
    )


def test_a_withdrawal_without_policy_pays_out_at_once() -> None:
    chain = Chain()
    tx = chain.sign(owner("alice"), Withdraw, account="alice", asset=USDC, amount=7, address="0x1")
    result = chain.run(tx)
    assert result.txs[0].events[0].kind == "withdrawn"
    assert chain.ledger.supply(USDC) == 4 * START_USDC - 7 == chain.ledger.holdings(USDC)


def test_a_withdrawal_to_an_address_off_the_allowlist_is_refused() -> None:
    chain = Chain()
    policy = chain.sign(
        owner("alice"), SetWithdrawPolicy, account="alice", allowlist=("0xsafe",), delay_ms=0
    )
    assert chain.run(policy).txs[0].ok
    bad = chain.sign(owner("alice"), Withdraw, account="alice", asset=USDC, amount=7, address="0x")
    assert_rejected_and_changes_nothing(chain, bad, ChainReason.ADDRESS_NOT_ALLOWED)
    good = chain.sign(
        owner("alice"), Withdraw, account="alice", asset=USDC, amount=7, address="0xsafe"
    )
    assert chain.run(good).txs[0].ok


def test_a_time_locked_withdrawal_is_released_only_after_the_delay() -> None:
    chain = Chain()
    chain.run(
        chain.sign(owner("alice"), SetWithdrawPolicy, account="alice", allowlist=(), delay_ms=5_000)
    )
    tx = chain.sign(owner("alice"), Withdraw, account="alice", asset=USDC, amount=7, address="0x1")
    assert chain.run(tx).txs[0].events[0].kind == "withdrawal_pending"
    assert chain.ledger.account("alice").balances[USDC] == START_USDC - 7  # type: ignore[union-attr]
    assert chain.ledger.supply(USDC) == 4 * START_USDC
    for _ in range(3):
        assert not any(e.kind == "withdrawn" for e in chain.block().events)
    released = chain.block(step_ms=2_000)
    assert [e.kind for e in released.events] == ["withdrawn"]
    assert chain.ledger.supply(USDC) == 4 * START_USDC - 7 == chain.ledger.holdings(USDC)


def test_a_revoked_trading_key_cannot_be_revoked_by_another_owner() -> None:
    chain = Chain()
    chain.run(chain.register("alice"))
    revocation = TradingKeyRevocation(
        chain_id=CHAIN, account="alice", trading_key=trader("alice").public_key.raw, nonce=5
    )
    signature = sign(owner("bob"), "revoke/v1", CHAIN, revocation)
    tx = chain.sign(
        owner("bob"), RevokeTradingKey, revocation=revocation, owner_signature=signature
    )
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.WRONG_SIGNER)


def test_an_old_key_authorization_cannot_be_replayed_after_revocation() -> None:
    chain = Chain()
    register = chain.register("alice")
    chain.run(register)
    revocation = TradingKeyRevocation(
        chain_id=CHAIN, account="alice", trading_key=trader("alice").public_key.raw, nonce=100
    )
    signature = sign(owner("alice"), "revoke/v1", CHAIN, revocation)
    tx = chain.sign(
        owner("alice"), RevokeTradingKey, revocation=revocation, owner_signature=signature
    )
    assert chain.run(tx).txs[0].ok
    again = chain.sign(
        owner("alice"),
        type(register.body),
        authorization=register.body.authorization,  # type: ignore[union-attr]
        owner_signature=register.body.owner_signature,  # type: ignore[union-attr]
    )
    assert_rejected_and_changes_nothing(chain, again, ChainReason.NONCE_REUSED)


def test_a_block_whose_header_root_is_wrong_is_refused_and_changes_nothing() -> None:
    chain = Chain()
    chain.now += 1000
    block = chain.ledger.build_block(chain.now, [transfer(chain)])
    root = chain.ledger.state_root()
    bad = Block(
        header=msgspec.structs.replace(block.header, state_root=bytes(32)),
        txs=block.txs,
        signers=block.signers,
    )
    with pytest.raises(InvalidInput) as caught:
        chain.ledger.apply_block(bad)
    assert caught.value.reason == "state_mismatch"
    assert chain.ledger.state_root() == root and chain.ledger.height == 0
    chain.ledger.apply_block(block)
    assert chain.ledger.height == 1


def test_a_block_with_an_extra_transaction_is_refused() -> None:
    chain = Chain()
    chain.now += 1000
    block = chain.ledger.build_block(chain.now, [transfer(chain)])
    bad = Block(header=block.header, txs=(*block.txs, transfer(chain)), signers=block.signers)
    with pytest.raises(InvalidInput) as caught:
        chain.ledger.apply_block(bad)
    assert caught.value.reason == "bad_block"


def test_blocks_must_advance_in_time_and_height() -> None:
    chain = Chain()
    chain.block()
    with pytest.raises(InvalidInput):
        chain.ledger.build_block(chain.now, [])
    other = Ledger(chain.genesis)
    with pytest.raises(InvalidInput):
        other.apply_block(chain.ledger.build_block(chain.now + 5, []))


def test_loosening_the_withdrawal_policy_waits_for_the_old_time_lock() -> None:
    chain = Chain()
    strict = chain.sign(
        owner("alice"), SetWithdrawPolicy, account="alice", allowlist=("0xsafe",), delay_ms=10_000
    )
    assert chain.run(strict).txs[0].ok
    loose = chain.sign(owner("alice"), SetWithdrawPolicy, account="alice", allowlist=(), delay_ms=0)
    assert chain.run(loose).txs[0].events[0].attributes["effective_ms"] == str(chain.now + 10_000)
    thief = chain.sign(
        owner("alice"), Withdraw, account="alice", asset=USDC, amount=7, address="0xthief"
    )
    assert_rejected_and_changes_nothing(chain, thief, ChainReason.ADDRESS_NOT_ALLOWED)
    chain.block(step_ms=10_000)
    later = chain.sign(
        owner("alice"), Withdraw, account="alice", asset=USDC, amount=7, address="0xelsewhere"
    )
    assert chain.run(later).txs[0].events[0].kind == "withdrawn"


def test_tightening_the_withdrawal_policy_applies_at_once() -> None:
    chain = Chain()
    chain.run(
        chain.sign(owner("alice"), SetWithdrawPolicy, account="alice", allowlist=(), delay_ms=0)
    )
    tight = chain.sign(
        owner("alice"), SetWithdrawPolicy, account="alice", allowlist=("0xa",), delay_ms=5
    )
    chain.run(tight)
    bad = chain.sign(owner("alice"), Withdraw, account="alice", asset=USDC, amount=1, address="0xb")
    assert_rejected_and_changes_nothing(chain, bad, ChainReason.ADDRESS_NOT_ALLOWED)
