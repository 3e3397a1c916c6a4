"""The mempool: checked admission, deduplication, size limits, reaping and rechecks."""

from __future__ import annotations

import pytest

from optex.chain import ChainReason, Ledger, MemoryStore, SignedTx, tx_hash
from optex.core import Conflict, LimitExceeded, OptexError, Unauthorized, encode
from optex.node import LedgerCheck, Mempool, NodeReason
from tests.node.kit import genesis, keys, transfer

USER0 = keys("user0")


def _pool(**limits: int) -> tuple[Ledger, Mempool]:
    ledger = Ledger(genesis(), MemoryStore())
    check = LedgerCheck(ledger)
    return ledger, Mempool(check, recheck=check.recheck, **limits)


def test_a_valid_transaction_is_admitted_once_and_a_duplicate_is_refused() -> None:
    _, pool = _pool()
    tx = transfer(USER0, 1)
    digest = pool.add(tx)
    assert digest == tx_hash(tx) and digest in pool and len(pool) == 1
    with pytest.raises(Conflict) as info:
        pool.add(tx)
    assert info.value.code is NodeReason.DUPLICATE_TX
    assert len(pool) == 1


def test_a_forged_signature_is_refused_and_changes_nothing() -> None:
    _, pool = _pool()
    good = transfer(USER0, 1)
    forged = SignedTx(good.body, good.signer, bytes(64))
    with pytest.raises(Unauthorized) as info:
        pool.add(forged)
    assert info.value.code is ChainReason.BAD_SIGNATURE
    assert len(pool) == 0 and pool.size_bytes == 0


def test_a_transaction_for_another_chain_is_refused() -> None:
    _, pool = _pool()
    with pytest.raises(Unauthorized) as info:
        pool.add(transfer(USER0, 1, chain_id="optex-other"))
    assert info.value.code is ChainReason.WRONG_CHAIN


def test_a_nonce_the_ledger_has_passed_is_refused_as_a_replay() -> None:
    ledger, pool = _pool()
    block = ledger.build_block(2_000, [transfer(USER0, 5)])
    ledger.apply_block(block)
    with pytest.raises(Conflict) as info:
        pool.add(transfer(USER0, 5, amount=2))
    assert info.value.code is ChainReason.NONCE_REUSED
    pool.add(transfer(USER0, 6))


def test_the_pool_refuses_transactions_beyond_its_count_and_byte_limits() -> None:
    size = len(encode(transfer(USER0, 1)))
    _, by_count = _pool(max_txs=2)
    by_count.add(transfer(USER0, 1))
    by_count.add(transfer(USER0, 2))
    with pytest.raises(LimitExceeded) as info:
        by_count.add(transfer(USER0, 3))
    assert info.value.code is NodeReason.MEMPOOL_FULL
    _, by_bytes = _pool(max_bytes=2 * size + size // 2)
    by_bytes.add(transfer(USER0, 1))
    by_bytes.add(transfer(USER0, 2))
    with pytest.raises(LimitExceeded):
        by_bytes.add(transfer(USER0, 3))
    _, small = _pool(max_tx_bytes=size - 1)
    with pytest.raises(LimitExceeded) as info:
        small.add(transfer(USER0, 1))
    assert info.value.code is NodeReason.TX_TOO_LARGE


def test_limits_must_be_positive() -> None:
    with pytest.raises(OptexError):
        _pool(max_txs=0)


def test_reap_takes_the_oldest_transactions_that_fit_and_leaves_them_pending() -> None:
    _, pool = _pool()
    txs = [transfer(USER0, n) for n in range(1, 6)]
    for tx in txs:
        pool.add(tx)
    assert pool.reap(3, 10**9) == txs[:3]
    size = len(encode(txs[0]))
    assert pool.reap(10, 2 * size) == txs[:2]
    assert len(pool) == 5


def test_committed_transactions_leave_are_remembered_and_stale_nonces_are_rechecked_out() -> None:
    ledger, pool = _pool()
    first, second, stale = transfer(USER0, 1), transfer(USER0, 2), transfer(USER0, 2, amount=7)
    for tx in (first, second, stale):
        pool.add(tx)
    block = ledger.build_block(2_000, [first, second])
    ledger.apply_block(block)
    pool.update(block.txs)
    assert len(pool) == 0 and pool.size_bytes == 0
    with pytest.raises(Conflict) as info:
        pool.add(first)
    assert info.value.code is NodeReason.DUPLICATE_TX
