"""The state as records in memory, its Merkle tree, and copy-on-write overlays.

:class:`State` is the committed state. A block runs on an :class:`Overlay` of it and each
transaction on an overlay of the block's, so a rejected transaction is dropped with its overlay
and changes nothing; a block is committed only when its state root matches its header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final, Protocol

from optex.chain._codec import encode_record
from optex.chain._merkle import MerkleProof, MerkleTree, value_hash
from optex.chain._records import VALIDATOR

INDEXED_PREFIXES: Final = (VALIDATOR,)


class View(Protocol):
    """Read access to records by key."""

    def get(self, key: str) -> Any:
        """The record under ``key``, or None."""
        ...

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The keys that start with ``prefix``, sorted."""
        ...


class State:
    """The committed records, their hashes and the Merkle tree over them."""

    def __init__(self) -> None:
        self.records: dict[str, Any] = {}
        self._digests: dict[str, bytes] = {}
        self._indexed: dict[str, set[str]] = {prefix: set() for prefix in INDEXED_PREFIXES}
        self.tree = MerkleTree()

    def get(self, key: str) -> Any:
        """The record under ``key``, or None."""
        return self.records.get(key)

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The keys that start with ``prefix``, sorted (a full scan unless the prefix is one of
        :data:`INDEXED_PREFIXES`, which are read every epoch)."""
        indexed = self._indexed.get(prefix)
        if indexed is not None:
            return sorted(indexed)
        return sorted(k for k in self.records if k.startswith(prefix))

    def load(self, records: Mapping[str, Any], encoded: Mapping[str, bytes]) -> None:
        """Replace the whole state (after genesis or when opening a store)."""
        self.records = dict(records)
        for prefix, keys in self._indexed.items():
            keys.clear()
            keys.update(k for k in self.records if k.startswith(prefix))
        self._digests = {key: value_hash(data) for key, data in encoded.items()}
        self.tree.load((key.encode(), digest) for key, digest in self._digests.items())

    def stage(
        self,
        writes: Mapping[str, Any | None],
        encoded: Mapping[str, bytes | None] | None = None,
    ) -> dict[str, bytes | None]:
        """Put ``writes`` into the Merkle tree (not the records) and return their bytes;
        ``encoded`` is what an earlier ``stage`` of the same writes returned (saves encoding
        them again)."""
        staged: dict[str, bytes | None] = {}
        for key, record in writes.items():
            if encoded is not None:
                data = encoded[key]
            else:
                data = None if record is None else encode_record(record)
            staged[key] = data
            self.tree.set(key.encode(), None if data is None else value_hash(data))
        return staged

    def unstage(self, writes: Mapping[str, Any | None]) -> None:
        """Undo :meth:`stage`: put the committed hashes of these keys back into the tree."""
        for key in writes:
            self.tree.set(key.encode(), self._digests.get(key))

    def commit(self, writes: Mapping[str, Any | None], encoded: Mapping[str, bytes | None]) -> None:
        """Make staged writes part of the committed records."""
        for key, record in writes.items():
            data = encoded[key]
            indexed = self._indexed.get(key[: key.find("/") + 1])
            if record is None or data is None:
                self.records.pop(key, None)
                self._digests.pop(key, None)
                if indexed is not None:
                    indexed.discard(key)
            else:
                self.records[key] = record
                self._digests[key] = value_hash(data)
                if indexed is not None:
                    indexed.add(key)

    def root(self) -> bytes:
        """The Merkle root of the staged state."""
        return self.tree.root()

    def prove(self, key: str) -> MerkleProof:
        """The inclusion proof of the committed record under ``key``."""
        record = self.records.get(key)
        data = b"" if record is None else encode_record(record)
        return self.tree.prove(key.encode(), data)

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)


class Overlay:
    """Writes on top of a parent view, merged into the parent only on success."""

    __slots__ = ("parent", "writes")

    def __init__(self, parent: View) -> None:
        self.parent = parent
        self.writes: dict[str, Any | None] = {}

    def get(self, key: str) -> Any:
        """The record under ``key`` as this overlay sees it."""
        writes = self.writes
        if key in writes:
            return writes[key]
        return self.parent.get(key)

    def put(self, key: str, record: Any) -> None:
        """Write ``record`` under ``key``."""
        self.writes[key] = record

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        self.writes[key] = None

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The keys that start with ``prefix``, as this overlay sees them, sorted."""
        keys = set(self.parent.keys_with_prefix(prefix))
        for key, record in self.writes.items():
            if key.startswith(prefix):
                if record is None:
                    keys.discard(key)
                else:
                    keys.add(key)
        return sorted(keys)

    def merge_into(self, parent: Overlay) -> None:
        """Apply these writes to ``parent`` (which must be this overlay's parent)."""
        parent.writes.update(self.writes)
