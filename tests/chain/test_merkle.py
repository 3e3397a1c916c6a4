"""The sparse Merkle tree: order independence, incremental roots, proofs that break."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.chain import MerkleProof, MerkleTree, proof_root, verify_proof
from optex.chain._merkle import EMPTY, inner_hash, leaf_hash, value_hash
from optex.core import InvalidInput

keys = st.binary(min_size=1, max_size=12)
values = st.binary(max_size=24)


def fresh_root(entries: dict[bytes, bytes]) -> bytes:
    tree = MerkleTree()
    tree.load((k, value_hash(v)) for k, v in entries.items())
    return tree.root()


def test_empty_tree_has_the_empty_root() -> None:
    assert MerkleTree().root() == EMPTY


def test_one_leaf_tree_root_is_the_leaf_hash() -> None:
    tree = MerkleTree()
    tree.set(b"a", value_hash(b"1"))
    assert tree.root() == leaf_hash(b"a", value_hash(b"1"))


def test_two_leaves_hash_as_rfc6962_style_inner_node() -> None:
    tree = MerkleTree()
    tree.set(b"a", value_hash(b"1"))
    tree.set(b"b", value_hash(b"2"))
    a, b = leaf_hash(b"a", value_hash(b"1")), leaf_hash(b"b", value_hash(b"2"))
    first_bit_a = hashlib.sha256(b"a").digest()[0] >> 7
    first_bit_b = hashlib.sha256(b"b").digest()[0] >> 7
    if first_bit_a != first_bit_b:
        expected = inner_hash(a, b) if first_bit_a == 0 else inner_hash(b, a)
        assert tree.root() == expected
    assert tree.root() not in (a, b, EMPTY)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=60))
def test_incremental_root_equals_a_fresh_build_after_every_step(
    ops: list[tuple[bytes, bytes | None]],
) -> None:
    tree = MerkleTree()
    model: dict[bytes, bytes] = {}
    for key, value in ops:
        tree.set(key, None if value is None else value_hash(value))
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value
        assert tree.root() == fresh_root(model)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=40), st.randoms())
def test_root_does_not_depend_on_insertion_order(entries: dict[bytes, bytes], rnd: object) -> None:
    items = list(entries.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    tree = MerkleTree()
    for key, value in items:
        tree.set(key, value_hash(value))
    assert tree.root() == fresh_root(entries)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=40), st.data())
def test_every_proof_verifies_and_fails_after_any_single_byte_change(
    entries: dict[bytes, bytes], data: st.DataObject
) -> None:
    tree = MerkleTree()
    tree.load((k, value_hash(v)) for k, v in entries.items())
    root = tree.root()
    key = data.draw(st.sampled_from(sorted(entries)))
    proof = tree.prove(key, entries[key])
    verify_proof(proof, root)
    fields = [("key", proof.key), ("value", proof.value)] + [
        (i, s) for i, s in enumerate(proof.siblings)
    ]
    field, blob = data.draw(st.sampled_from([f for f in fields if f[1]]))
    index = data.draw(st.integers(0, len(blob) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(blob)
    changed[index] ^= flip
    if field == "key":
        bad = MerkleProof(bytes(changed), proof.value, proof.siblings)
    elif field == "value":
        bad = MerkleProof(proof.key, bytes(changed), proof.siblings)
    else:
        siblings = list(proof.siblings)
        siblings[field] = bytes(changed)  # type: ignore[call-overload]
        bad = MerkleProof(proof.key, proof.value, tuple(siblings))
    with pytest.raises(InvalidInput):
        verify_proof(bad, root)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(keys, values, min_size=2, max_size=30), st.data())
def test_a_proof_fails_after_any_entry_of_the_state_changes(
    entries: dict[bytes, bytes], data: st.DataObject
) -> None:
    tree = MerkleTree()
    tree.load((k, value_hash(v)) for k, v in entries.items())
    key = data.draw(st.sampled_from(sorted(entries)))
    proof = tree.prove(key, entries[key])
    other = data.draw(st.sampled_from(sorted(entries)))
    tree.set(other, value_hash(entries[other] + b"!"))
    with pytest.raises(InvalidInput):
        verify_proof(proof, tree.root())


def test_a_proof_with_a_dropped_sibling_reaches_another_root() -> None:
    tree = MerkleTree()
    tree.load((bytes([i]), value_hash(bytes([i]))) for i in range(50))
    proof = tree.prove(bytes([7]), bytes([7]))
    shorter = MerkleProof(proof.key, proof.value, proof.siblings[1:])
    assert proof_root(shorter) != tree.root()
