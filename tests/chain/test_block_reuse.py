"""Committing a block the ledger itself built reuses that run, and only then.

A validator runs every block twice (to check the proposal, then to commit it); the ledger keeps
what its build produced and commits from it when the block and the state under it are the same.
These tests count the runs, and check that the outcome equals a ledger that ran the block fresh.
"""

from __future__ import annotations

import msgspec
import pytest

from optex.chain import ChainReason, Ledger, MemoryStore, SignedTx, Transfer, verify_proof
from optex.chain._records import account_key
from optex.core import InvalidInput
from tests.chain.kit import USDC, Chain, owner, validator_address


def transfer(chain: Chain, amount: int) -> SignedTx:
    return chain.sign(
        owner("alice"), Transfer, source="alice", destination="bob", asset=USDC, amount=amount
    )


def test_committing_a_block_this_ledger_built_runs_it_once() -> None:
    chain = Chain()
    fresh = Ledger(chain.genesis, MemoryStore())
    for amount in (5, 7, 11):
        chain.now += 1_000
        block = chain.ledger.build_block(chain.now, [transfer(chain, amount)])
        runs = chain.ledger.executions
        result = chain.ledger.apply_block(block)
        assert chain.ledger.executions == runs
        # A ledger that did not build it runs it, and reaches the same result and root.
        assert fresh.apply_block(block) == result
        assert fresh.state_root() == chain.ledger.state_root() == block.header.state_root
    assert chain.ledger.account("bob") == fresh.account("bob")


def test_a_reused_commit_leaves_a_tree_that_proves_what_it_committed() -> None:
    # The commit of a reused run takes the header's root instead of hashing the writes again;
    # the tree hashes them later, with the next block's. Proofs and later roots must not care.
    chain = Chain()
    fresh = Ledger(chain.genesis, MemoryStore())
    for amount in (5, 7, 11):
        chain.now += 1_000
        block = chain.ledger.build_block(chain.now, [transfer(chain, amount)])
        chain.ledger.apply_block(block)
        fresh.apply_block(block)
        for name in ("alice", "bob"):
            proof = chain.ledger.state.prove(account_key(name))
            verify_proof(proof, block.header.state_root)
            assert proof == fresh.state.prove(account_key(name))


def test_a_block_with_other_signers_is_run_again() -> None:
    chain = Chain()
    chain.run()
    chain.now += 1_000
    everyone = chain.ledger.build_block(chain.now, [transfer(chain, 5)])
    # The same header with fewer commit signers: the signers change who is paid or jailed, so
    # the ledger may not take the run it made for the other list.
    fewer = msgspec.structs.replace(everyone, signers=(validator_address(0),))
    runs = chain.ledger.executions
    with pytest.raises(InvalidInput) as refused:
        chain.ledger.apply_block(fewer)
    assert refused.value.reason == ChainReason.STATE_MISMATCH.reason
    assert chain.ledger.executions == runs + 1
    # The block as built still commits, from the run kept for it.
    chain.ledger.apply_block(everyone)
    assert chain.ledger.executions == runs + 1


def test_a_proposal_that_lost_is_run_and_the_one_built_here_is_refused_after() -> None:
    chain = Chain()
    other = Chain()
    chain.now += 1_000
    lost = chain.ledger.build_block(chain.now, [transfer(chain, 5)])
    # Another proposal wins the height: the ledger runs it, having built something else.
    winner = other.ledger.build_block(chain.now + 1, [])
    runs = chain.ledger.executions
    assert chain.ledger.apply_block(winner) == other.ledger.apply_block(winner)
    assert chain.ledger.executions == runs + 1
    # The run kept for the lost proposal does not make it committable on the new state.
    with pytest.raises(InvalidInput) as refused:
        chain.ledger.apply_block(lost)
    assert refused.value.reason == ChainReason.BAD_BLOCK.reason
    assert chain.ledger.last_hash == other.ledger.last_hash
