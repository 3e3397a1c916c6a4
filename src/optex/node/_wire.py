"""What peers send each other inside secret-connection frames, as tagged msgspec structs.

Consensus proposals and votes travel as they are (they carry their own tags and signatures);
the node adds transactions, block-sync requests and responses, and a status announcing the
last committed height so that a node that fell behind while nothing else was said learns it.
"""

from __future__ import annotations

import msgspec

from optex.chain import SignedTx
from optex.chain.consensus import Proposal, SyncedBlock, Vote


class Txs(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """Signed transactions to add to the mempool (gossip)."""

    txs: tuple[SignedTx, ...]


class SyncRequest(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """Ask for decided blocks from ``height`` on."""

    height: int


class SyncBlocks(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """Decided blocks with the commits that sealed them, in height order."""

    blocks: tuple[SyncedBlock, ...]


class Status(msgspec.Struct, frozen=True, tag=True, tag_field="tag"):
    """The sender's last committed height."""

    height: int


Message = Proposal | Vote | Txs | SyncRequest | SyncBlocks | Status

_encoder = msgspec.msgpack.Encoder(order="sorted")
_decoder = msgspec.msgpack.Decoder(Message)


def encode_message(message: Message) -> bytes:
    """The bytes of a peer message."""
    return _encoder.encode(message)


def decode_message(data: bytes) -> Message:
    """A peer message from its bytes; raises :class:`msgspec.DecodeError` if malformed."""
    message: Message = _decoder.decode(data)
    return message
