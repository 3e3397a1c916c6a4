"""The ledger as consensus's application: blocks are the values validators agree on.

A value is ``Value(block_hash(header), encode(block))``. The proposer reaps the mempool and
builds the block on its ledger (the header carries the state root after the block). Every other
validator checks a proposed block by building it again from the same time, transactions,
signers and proposer and comparing headers, so a block whose state root, results or validator
sets are wrong is never prevoted, and a decided block always applies. Both only read the
ledger: it changes when the node applies the decided block.
"""

from __future__ import annotations

from collections.abc import Callable

from optex.chain import Block, Ledger, block_hash
from optex.chain.consensus import Value
from optex.core import OptexError, decode, encode
from optex.node._mempool import Mempool


class ChainApp:
    """:class:`optex.chain.consensus.Application` over a :class:`Ledger` and a mempool."""

    def __init__(
        self,
        ledger: Ledger,
        mempool: Mempool,
        *,
        clock_ms: Callable[[], int],
        proposer: bytes,
        block_max_txs: int,
        block_max_bytes: int,
    ) -> None:
        self.ledger = ledger
        self.mempool = mempool
        self.clock_ms = clock_ms
        self.proposer = proposer
        self.block_max_txs = block_max_txs
        self.block_max_bytes = block_max_bytes
        self.last_signers: tuple[bytes, ...] | None = None
        """Addresses whose precommits sealed the last block (``None``: the whole set)."""
        self._built: tuple[int, Value] | None = None

    def propose_value(self, height: int) -> Value:
        """A block of the oldest pending transactions on top of the ledger."""
        txs = self.mempool.reap(self.block_max_txs, self.block_max_bytes)
        ts_ms = max(self.clock_ms(), self.ledger.meta.ts_ms + 1)
        block = self.ledger.build_block(
            ts_ms, txs, signers=self.last_signers, proposer=self.proposer
        )
        value = Value(block_hash(block.header), encode(block))
        self._built = (height, value)
        return value

    def validate_value(self, height: int, value: Value) -> bool:
        """Whether the block is the one its own contents build on this ledger."""
        if self._built == (height, value) and height == self.ledger.height + 1:
            # This node built it on this very ledger state a moment ago: running it a second
            # time can only give the same header.
            return True
        try:
            block = decode(value.payload, Block)
            header = block.header
            if block_hash(header) != value.block_hash or header.height != height:
                return False
            if header.height != self.ledger.height + 1:
                return False
            rebuilt = self.ledger.build_block(
                header.ts_ms, block.txs, signers=block.signers, proposer=header.proposer
            )
        except OptexError:
            return False
        return rebuilt.header == header
