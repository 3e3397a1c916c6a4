"""The replay guard for signed orders: every nonce once per key, memory bounded per key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import Conflict, InvalidInput
from optex.crypto import PrivateKey, SecurityReason, SignedOrder, sign_order
from optex.crypto._replay import NonceRecord, ReplayGuard
from tests.crypto.kit import ACCOUNT, TRADER, intent, key


def signed(
    nonce: int, account: str = ACCOUNT, signer: PrivateKey = TRADER, **changes: object
) -> SignedOrder:
    return sign_order(signer, intent(nonce=nonce, account=account, **changes))


def test_a_replayed_order_and_a_reused_nonce_are_refused() -> None:
    guard = ReplayGuard()
    guard.remember(signed(5))
    with pytest.raises(Conflict) as replay:
        guard.check(signed(5))
    assert replay.value.code == SecurityReason.ORDER_REPLAYED
    with pytest.raises(Conflict):
        guard.remember(signed(5, price=49_000_000))  # another order under the same nonce
    assert len(guard) == 1


def test_nonces_are_per_account_and_key() -> None:
    guard = ReplayGuard()
    guard.remember(signed(5))
    guard.remember(signed(5, account="acct-2"))
    guard.remember(signed(5, signer=key("other trader")))
    assert len(guard) == 3


def test_memory_is_bounded_per_key_and_the_floor_refuses_what_it_let_go() -> None:
    guard = ReplayGuard(per_key=3)
    for nonce in (10, 30, 20, 40):
        guard.remember(signed(nonce))
    assert len(guard) == 3
    for old in (10, 5, 0):
        with pytest.raises(Conflict, match="nonces must rise"):
            guard.check(signed(old))
    guard.remember(signed(15))  # above the floor, never used: out of order but fine
    assert len(guard) == 3


def test_a_refused_order_changes_nothing() -> None:
    guard = ReplayGuard(per_key=2)
    guard.remember(signed(7))
    guard.remember(signed(8))
    before = guard.export()
    for bad in (7, 8):
        with pytest.raises(Conflict):
            guard.remember(signed(bad))
    assert guard.export() == before


def test_export_and_restore_round_trip() -> None:
    guard = ReplayGuard(per_key=4)
    for nonce in range(1, 11):
        guard.remember(signed(nonce * 3))
    guard.remember(signed(2, account="acct-2"))
    restored = ReplayGuard.restore(guard.export(), per_key=4)
    assert restored.export() == guard.export()
    with pytest.raises(Conflict):
        restored.check(signed(18))  # below the floor 18
    restored.check(signed(19))


@pytest.mark.parametrize(
    "record",
    [
        NonceRecord(ACCOUNT, TRADER.public_key, 10, (5,)),  # at or below its floor
        NonceRecord(ACCOUNT, TRADER.public_key, -1, (5, 5)),  # twice
    ],
)
def test_an_inconsistent_saved_state_is_refused(record: NonceRecord) -> None:
    with pytest.raises(InvalidInput):
        ReplayGuard.restore([record])


def test_per_key_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        ReplayGuard(per_key=0)


@settings(max_examples=200, deadline=None)
@given(
    per_key=st.integers(min_value=1, max_value=6),
    nonces=st.lists(st.integers(min_value=0, max_value=40), max_size=60),
)
def test_the_guard_agrees_with_a_reference_that_remembers_everything(
    per_key: int, nonces: list[int]
) -> None:
    """Reference: a nonce is accepted iff it was never accepted and is above every nonce
    accepted except the ``per_key`` highest of them."""
    guard = ReplayGuard(per_key)
    accepted: list[int] = []
    for nonce in nonces:
        let_go = sorted(accepted)[:-per_key] if len(accepted) > per_key else []
        expected = nonce not in accepted and all(nonce > old for old in let_go)
        try:
            guard.remember(signed(nonce))
        except Conflict:
            assert not expected
        else:
            assert expected
            accepted.append(nonce)
        assert len(guard) == min(len(accepted), per_key)
    assert ReplayGuard.restore(guard.export(), per_key).export() == guard.export()
