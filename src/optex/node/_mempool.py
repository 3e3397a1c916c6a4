"""The mempool: signed transactions waiting for a block, deduplicated, bounded and checked.

A transaction is admitted only after a check against the ledger's committed state (the
signature, the chain id and the nonce, :class:`LedgerCheck`), so that a flood of invalid or
replayed transactions costs a peer one signature check each and never reaches a block. It is
refused if it is already pending or was committed recently (hashes of committed transactions
are remembered in a bounded cache), if it is larger than ``max_tx_bytes``, or if the pool would
exceed ``max_txs`` or ``max_bytes``. After each block the committed transactions leave and the
rest are re-checked cheaply (:attr:`Mempool.recheck`, the nonce only), as CometBFT rechecks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Final

from optex.chain import ChainReason, Ledger, SignedTx, tx_domain, tx_hash
from optex.core import Conflict, InvalidInput, LimitExceeded, OptexError, Unauthorized, encode
from optex.crypto import verify
from optex.node._errors import NodeReason

Check = Callable[[SignedTx], None]
"""Raises an :class:`optex.core.OptexError` if a transaction may not enter the pool."""

_U64: Final = 2**64
NONCE_PREFIX: Final = "nonce/"


class LedgerCheck:
    """The admission check against a ledger's committed state.

    ``__call__`` is the full check (shape, chain id, nonce, signature); :meth:`recheck` only
    the nonce, for transactions already admitted once. Who may sign a transaction's type is
    left to the ledger (a wrongly signed one is recorded in its block with ``wrong_signer``).
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def __call__(self, tx: SignedTx) -> None:
        body = tx.body
        if body.chain_id != self.ledger.chain_id:
            raise Unauthorized(ChainReason.WRONG_CHAIN, chain_id=body.chain_id)
        if isinstance(body.nonce, bool) or not 0 <= body.nonce < _U64 or len(tx.signer) != 32:
            raise InvalidInput(ChainReason.MALFORMED_TX, "the nonce is a u64, the signer 32 bytes")
        self.recheck(tx)
        try:
            verify(tx.signer, tx.signature, tx_domain(body), body.chain_id, body)
        except (Unauthorized, InvalidInput):
            raise Unauthorized(ChainReason.BAD_SIGNATURE) from None

    def recheck(self, tx: SignedTx) -> None:
        """Refuse a transaction whose nonce the committed state has passed."""
        last = self.ledger.get(NONCE_PREFIX + tx.signer.hex())
        if last is not None and tx.body.nonce <= last.value:
            raise Conflict(ChainReason.NONCE_REUSED, last_nonce=last.value)


class Mempool:
    """Pending transactions in arrival order, keyed by their hash."""

    def __init__(
        self,
        check: Check,
        *,
        recheck: Check | None = None,
        max_txs: int = 50_000,
        max_bytes: int = 64 * 1024 * 1024,
        max_tx_bytes: int = 256 * 1024,
        cache_size: int = 200_000,
    ) -> None:
        if min(max_txs, max_bytes, max_tx_bytes, cache_size) < 1:
            raise InvalidInput(NodeReason.INVALID_CONFIG, "mempool limits must be positive")
        self.check = check
        self.recheck = recheck
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_tx_bytes = max_tx_bytes
        self.cache_size = cache_size
        self._pending: OrderedDict[bytes, tuple[SignedTx, int]] = OrderedDict()
        self._committed: OrderedDict[bytes, None] = OrderedDict()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, digest: object) -> bool:
        return digest in self._pending

    def seen(self, digest: bytes) -> bool:
        """Whether the transaction is pending or was committed recently."""
        return digest in self._pending or digest in self._committed

    def add(self, tx: SignedTx, digest: bytes | None = None) -> bytes:
        """Admit ``tx`` and return its hash, or raise the reason it was refused."""
        size = len(encode(tx))
        digest = digest if digest is not None else tx_hash(tx)
        if self.seen(digest):
            raise Conflict(NodeReason.DUPLICATE_TX, hash=digest.hex())
        if size > self.max_tx_bytes:
            raise LimitExceeded(NodeReason.TX_TOO_LARGE, f"{size} > {self.max_tx_bytes} bytes")
        if len(self._pending) >= self.max_txs or self.size_bytes + size > self.max_bytes:
            raise LimitExceeded(NodeReason.MEMPOOL_FULL, f"{len(self._pending)} transactions")
        self.check(tx)
        self._pending[digest] = (tx, size)
        self.size_bytes += size
        return digest

    def reap(self, max_txs: int, max_bytes: int) -> list[SignedTx]:
        """The oldest pending transactions that fit in a block (they stay until committed)."""
        chosen: list[SignedTx] = []
        total = 0
        for tx, size in self._pending.values():
            if len(chosen) >= max_txs or total + size > max_bytes:
                break
            chosen.append(tx)
            total += size
        return chosen

    def update(self, committed: Iterable[SignedTx]) -> None:
        """Remove committed transactions, remember their hashes, and recheck the rest."""
        for tx in committed:
            digest = tx_hash(tx)
            entry = self._pending.pop(digest, None)
            if entry is not None:
                self.size_bytes -= entry[1]
            self._committed[digest] = None
        while len(self._committed) > self.cache_size:
            self._committed.popitem(last=False)
        if self.recheck is None:
            return
        for digest, (tx, size) in list(self._pending.items()):
            try:
                self.recheck(tx)
            except OptexError:
                del self._pending[digest]
                self.size_bytes -= size
