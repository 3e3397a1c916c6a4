"""Blocks, headers, results and the hashes that tie them together.

A header commits to everything a light client needs: the previous header, the transactions, their
results, the Merkle root of the state after the block, and the validator sets that sign this
block and the next. Its hash (domain ``block/v1``) is the value consensus precommits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import msgspec

from optex.chain._records import ValidatorSetRecord
from optex.chain._tx import SignedTx
from optex.core import content_hash, encode

BLOCK_DOMAIN: Final = "block/v1"
TXS_DOMAIN: Final = "txs/v1"
RESULTS_DOMAIN: Final = "results/v1"
VALSET_DOMAIN: Final = "valset/v1"
OK: Final = 0


class Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A block header; ``state_root`` is the state after this block's transactions."""

    chain_id: str
    height: int
    ts_ms: int
    prev_hash: bytes
    txs_hash: bytes
    results_hash: bytes
    state_root: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    proposer: bytes = b""


class Block(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A header, its transactions, and the addresses that signed the previous block's commit
    (as CometBFT hands the application its last commit info)."""

    header: Header
    txs: tuple[SignedTx, ...]
    signers: tuple[bytes, ...] = ()


class Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Something the ledger did that others act on (the bridge pays out ``withdrawn``)."""

    kind: str
    attributes: dict[str, str]


class TxResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The outcome of one transaction: code 0 and events, or a reason code and message."""

    code: int
    reason: str
    message: str
    events: tuple[Event, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the transaction was applied."""
        return self.code == OK


class BlockResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The results of a block's transactions and the events of its begin and end steps."""

    height: int
    block_hash: bytes
    state_root: bytes
    txs: tuple[TxResult, ...]
    events: tuple[Event, ...]


def block_hash(header: Header) -> bytes:
    """The identity of a block: what validators precommit."""
    return content_hash(BLOCK_DOMAIN, header.chain_id, header)


def txs_hash(chain_id: str, txs: Sequence[SignedTx]) -> bytes:
    """The commitment to a block's transactions (hash of their hashes, in order)."""
    hashes = [hashlib.sha256(encode(tx)).digest() for tx in txs]
    return content_hash(TXS_DOMAIN, chain_id, hashes)


def results_hash(chain_id: str, results: Sequence[TxResult], events: Sequence[Event]) -> bytes:
    """The commitment to a block's results and events."""
    return content_hash(RESULTS_DOMAIN, chain_id, (tuple(results), tuple(events)))


def validators_hash(chain_id: str, validators: ValidatorSetRecord) -> bytes:
    """The commitment to a validator set: members and powers, by address."""
    return content_hash(VALSET_DOMAIN, chain_id, validators.members)
