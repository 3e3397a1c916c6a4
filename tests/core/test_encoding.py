"""The canonical encoding: same value, same bytes, same hash, in every process."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import (
    CoreReason,
    InvalidInput,
    content_hash,
    decode,
    encode,
    int128_bytes,
    signing_bytes,
)


class Order(msgspec.Struct, frozen=True):
    account: str
    price: int
    quantity: int
    tags: dict[str, int]


SAMPLE = Order("alice", 95_000_000_000, 1_000_000, {"b": 2, "a": 1})

# Pinned so that a change of library, version or code that alters the bytes fails loudly:
# signatures and state roots depend on them.
SAMPLE_HASH = "7e77c077ceb109bd3ff96e8043bc56c2236e77d9ec71e12b676ca0898eb85f52"


def test_the_same_value_encodes_to_the_same_bytes_whatever_the_map_order() -> None:
    reordered = Order("alice", 95_000_000_000, 1_000_000, {"a": 1, "b": 2})
    assert encode(SAMPLE) == encode(reordered)
    assert encode({"x": 1, "y": 2}) == encode({"y": 2, "x": 1})


def test_the_hash_is_pinned_across_versions() -> None:
    assert content_hash("order/v1", "optex-devnet", SAMPLE).hex() == SAMPLE_HASH


def test_the_hash_is_the_same_in_another_process() -> None:
    code = (
        "import msgspec\n"
        "from optex.core import content_hash\n"
        "class Order(msgspec.Struct, frozen=True):\n"
        "    account: str\n    price: int\n    quantity: int\n    tags: dict[str, int]\n"
        "print(content_hash('order/v1', 'optex-devnet',"
        " Order('alice', 95_000_000_000, 1_000_000, {'a': 1, 'b': 2})).hex())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == content_hash("order/v1", "optex-devnet", SAMPLE).hex()


def test_domain_and_chain_id_separate_otherwise_equal_payloads() -> None:
    base = content_hash("order/v1", "optex-devnet", SAMPLE)
    assert content_hash("cancel/v1", "optex-devnet", SAMPLE) != base
    assert content_hash("order/v1", "optex-mainnet", SAMPLE) != base
    assert content_hash("order/v2", "optex-devnet", SAMPLE) != base


@pytest.mark.parametrize(
    ("domain", "chain_id"),
    [
        ("order", "optex-devnet"),
        ("Order/v1", "optex-devnet"),
        ("order/v1", "Optex"),
        ("order/v1", ""),
        ("order/v1", "a" * 49),
        ("order/v1\x00", "optex-devnet"),
    ],
)
def test_malformed_domains_and_chain_ids_are_refused(domain: str, chain_id: str) -> None:
    with pytest.raises(InvalidInput) as info:
        signing_bytes(domain, chain_id, 1)
    assert info.value.code is CoreReason.INVALID_DOMAIN


def test_values_that_cannot_be_encoded_give_a_clear_error() -> None:
    with pytest.raises(InvalidInput) as info:
        encode(2**64)
    assert info.value.code is CoreReason.ENCODING_FAILED
    with pytest.raises(InvalidInput):
        encode(object())


def test_decode_round_trips_and_refuses_the_wrong_shape() -> None:
    assert decode(encode(SAMPLE), Order) == SAMPLE
    with pytest.raises(InvalidInput) as info:
        decode(encode({"account": 1}), Order)
    assert info.value.code is CoreReason.DECODING_FAILED


def test_a_string_of_invalid_utf8_is_a_decoding_error_not_a_crash() -> None:
    # msgpack: fixmap of 1, key "account", value a 1-byte str holding 0xff.
    data = b"\x81\xa7account\xa1\xff"
    with pytest.raises(InvalidInput) as info:
        decode(data, dict[str, str])
    assert info.value.code is CoreReason.DECODING_FAILED


def test_decode_refuses_oversized_input_before_parsing() -> None:
    with pytest.raises(InvalidInput, match="more than"):
        decode(b"\x00" * (4 * 1024 * 1024 + 1), int)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=256))
def test_decoding_arbitrary_bytes_either_succeeds_or_raises_invalid_input(data: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        decode(data, Order)


def test_int128_bytes_are_sixteen_big_endian_bytes_and_refuse_overflow() -> None:
    assert int128_bytes(1) == b"\x00" * 15 + b"\x01"
    assert int128_bytes(-1) == b"\xff" * 16
    with pytest.raises(InvalidInput):
        int128_bytes(2**127)
