"""A sparse Merkle tree over the whole state, with inclusion proofs.

Each state entry is a leaf at the path ``SHA-256(key)`` (256 bits, most significant first). The
tree is the binary trie of those paths with two compressions, as in Diem's Jellyfish Merkle
tree: a subtree holding one leaf is that leaf's hash, and an empty subtree is 32 zero bytes.
Hashing is domain separated as in RFC 6962 (a leaf starts with ``0x00``, an inner node with
``0x01``), so a leaf can never pass for an inner node or the reverse, and the leaf commits its
full key, so a leaf hoisted up the trie still names its own path.

The shape depends only on the set of keys, never on the order they were written, so replaying
the same blocks anywhere gives the same root. Inner hashes are cached; after a block only the
subtrees that hold a changed path are rehashed, about ``log2(n)`` hashes per changed entry.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import Final

import msgspec

from optex.chain._reasons import ChainReason
from optex.core import InvalidInput, NotFound

EMPTY: Final = bytes(32)
DEPTH: Final = 256
_LEAF: Final = b"\x00"
_INNER: Final = b"\x01"


def key_path(key: bytes) -> int:
    """The 256-bit path of ``key`` in the tree."""
    return int.from_bytes(hashlib.sha256(key).digest(), "big")


def value_hash(value: bytes) -> bytes:
    """SHA-256 of a record's canonical bytes."""
    return hashlib.sha256(value).digest()


def leaf_hash(key: bytes, digest: bytes) -> bytes:
    """The hash of the leaf for ``key`` whose record hashes to ``digest``."""
    if len(key) > 0xFFFF:
        raise InvalidInput(ChainReason.MALFORMED_TX, "a state key is at most 65535 bytes")
    return hashlib.sha256(_LEAF + len(key).to_bytes(2, "big") + key + digest).digest()


def inner_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node."""
    return hashlib.sha256(_INNER + left + right).digest()


class MerkleProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """That ``key`` holds the record ``value`` under some root.

    ``siblings`` run from the root down to the leaf; their number is the leaf's depth.
    """

    key: bytes
    value: bytes
    siblings: tuple[bytes, ...]


def proof_root(proof: MerkleProof) -> bytes:
    """The root that ``proof`` proves its entry under."""
    if len(proof.siblings) > DEPTH or any(len(s) != 32 for s in proof.siblings):
        raise InvalidInput(
            ChainReason.INVALID_PROOF, "a proof has at most 256 siblings of 32 bytes"
        )
    path = key_path(proof.key)
    node = leaf_hash(proof.key, value_hash(proof.value))
    for depth in range(len(proof.siblings) - 1, -1, -1):
        sibling = proof.siblings[depth]
        if (path >> (DEPTH - 1 - depth)) & 1:
            node = inner_hash(sibling, node)
        else:
            node = inner_hash(node, sibling)
    return node


def verify_proof(proof: MerkleProof, root: bytes) -> None:
    """Return if ``proof`` proves its entry under ``root``; else raise with the reason."""
    if proof_root(proof) != root:
        raise InvalidInput(ChainReason.INVALID_PROOF, "the Merkle proof does not reach the root")


class MerkleTree:
    """The sparse Merkle tree of a key-value state, updated entry by entry."""

    def __init__(self) -> None:
        self._paths: list[int] = []
        self._leaves: dict[int, bytes] = {}
        self._keys: dict[int, bytes] = {}
        self._cache: dict[tuple[int, int], bytes] = {}
        self._dirty: set[int] = set()
        self._root: bytes | None = EMPTY

    def __len__(self) -> int:
        return len(self._leaves)

    def set(self, key: bytes, digest: bytes | None) -> None:
        """Set the record hash of ``key``, or remove the key when ``digest`` is None."""
        path = key_path(key)
        present = path in self._leaves
        if digest is None:
            if not present:
                return
            del self._leaves[path]
            del self._keys[path]
            index = bisect_left(self._paths, path)
            del self._paths[index]
        else:
            if not present:
                insort(self._paths, path)
                self._keys[path] = key
            self._leaves[path] = leaf_hash(key, digest)
        self._dirty.add(path)
        self._root = None

    def load(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """Replace the whole tree by ``(key, record hash)`` entries in one pass."""
        self._leaves = {}
        self._keys = {}
        for key, digest in entries:
            path = key_path(key)
            self._leaves[path] = leaf_hash(key, digest)
            self._keys[path] = key
        self._paths = sorted(self._leaves)
        self._cache = {}
        self._dirty = set()
        self._root = None

    def root(self) -> bytes:
        """The root hash, rehashing only the subtrees that changed since the last call."""
        if self._root is None:
            dirty = sorted(self._dirty)
            self._root = self._node(0, 0, 0, len(self._paths), dirty)
            self._dirty.clear()
        return self._root

    def _node(self, depth: int, prefix: int, lo: int, hi: int, dirty: list[int]) -> bytes:
        count = hi - lo
        key = (depth, prefix)
        if count <= 1:
            self._cache.pop(key, None)
            return EMPTY if count == 0 else self._leaves[self._paths[lo]]
        cached = self._cache.get(key)
        if cached is not None and dirty:
            shift = DEPTH - depth
            start = bisect_left(dirty, prefix << shift)
            if start == len(dirty) or dirty[start] >= (prefix + 1) << shift:
                return cached
        elif cached is not None:
            return cached
        boundary = (2 * prefix + 1) << (DEPTH - 1 - depth)
        mid = bisect_left(self._paths, boundary, lo, hi)
        left = self._node(depth + 1, 2 * prefix, lo, mid, dirty)
        right = self._node(depth + 1, 2 * prefix + 1, mid, hi, dirty)
        digest = inner_hash(left, right)
        self._cache[key] = digest
        return digest

    def prove(self, key: bytes, value: bytes) -> MerkleProof:
        """The inclusion proof of ``key`` holding ``value`` (whose hash must be the stored one)."""
        self.root()
        path = key_path(key)
        if path not in self._leaves:
            raise NotFound(ChainReason.NOT_FOUND, f"{key!r} is not in the state")
        if self._leaves[path] != leaf_hash(key, value_hash(value)):
            raise InvalidInput(ChainReason.INVALID_PROOF, f"{key!r} holds another value")
        siblings: list[bytes] = []
        depth, prefix, lo, hi = 0, 0, 0, len(self._paths)
        while hi - lo > 1:
            boundary = (2 * prefix + 1) << (DEPTH - 1 - depth)
            mid = bisect_left(self._paths, boundary, lo, hi)
            if path >= boundary:
                siblings.append(self._node(depth + 1, 2 * prefix, lo, mid, []))
                prefix, lo = 2 * prefix + 1, mid
            else:
                siblings.append(self._node(depth + 1, 2 * prefix + 1, mid, hi, []))
                prefix, hi = 2 * prefix, mid
            depth += 1
        return MerkleProof(key=key, value=value, siblings=tuple(siblings))
