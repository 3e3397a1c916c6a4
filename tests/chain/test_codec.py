"""Canonical record bytes, 128-bit amounts included."""

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.chain import Account, Position, decode_record, encode_record
from optex.core import INT128_MAX, INT128_MIN, InvalidInput

int128 = st.integers(INT128_MIN, INT128_MAX)


@settings(max_examples=200, deadline=None)
@given(balance=int128, quantity=int128, cost=int128)
def test_any_int128_amount_round_trips_exactly(balance: int, quantity: int, cost: int) -> None:
    account = Account(
        owner=b"k" * 32, balances={"USDC": balance}, positions={"X": Position(quantity, cost)}
    )
    assert decode_record(encode_record(account), Account) == account


def test_a_record_that_fits_64_bits_encodes_as_plain_msgpack() -> None:
    account = Account(owner=b"k" * 32, balances={"USDC": 5, "BTC": 2**63})
    data = encode_record(account)
    assert msgspec.msgpack.decode(data, type=Account) == account


def test_wide_and_narrow_values_of_one_record_encode_differently() -> None:
    narrow = encode_record(Account(owner=b"k" * 32, balances={"USDC": 2**64 - 1}))
    wide = encode_record(Account(owner=b"k" * 32, balances={"USDC": 2**64}))
    assert narrow != wide
    assert decode_record(wide, Account).balances["USDC"] == 2**64


def test_an_amount_beyond_int128_is_refused() -> None:
    with pytest.raises(InvalidInput):
        encode_record(Account(owner=b"k" * 32, balances={"USDC": 2**127}))


def test_garbage_bytes_give_a_clear_error() -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_record(b"\xc1\x00", Account)
    assert caught.value.reason == "store_corrupt"
