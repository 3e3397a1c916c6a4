"""The narrow boundary to the settlement chain: submit a transaction, read decided blocks.

:class:`ChainClient` is all the batcher and the watcher need. :class:`RpcChain` talks to a
node's local JSON RPC (``optex.node.RpcClient``); :class:`LocalChain` is an in-process ledger
that decides a block for every admitted transaction, for unit tests and the embedded case. Both
are blocking; the services call them from a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from optex.chain import Block, Event, Ledger, SignedTx, tx_hash
from optex.core import InvalidInput, OptexError, decode
from optex.node import LedgerCheck, NodeReason, RpcClient, RpcError
from optex.settlement._reasons import SettlementReason


class Refused(Exception):
    """The node refused to admit a transaction (its reason from the chain's tables)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{message} [{reason} {code}]")
        self.code = code
        self.reason = reason
        self.message = message


class TxOutcome(msgspec.Struct, frozen=True):
    """One transaction of a decided block and its result (code 0: applied)."""

    hash: str
    tx: SignedTx
    code: int
    reason: str


class DecidedBlock(msgspec.Struct, frozen=True):
    """A decided block's height, time, state root, transactions with their results, and the
    events of its begin and end steps (expiry settlement, funding, withdrawals paid, slashing),
    in the order the ledger emitted them."""

    height: int
    ts_ms: int
    state_root: str
    txs: list[TxOutcome]
    events: tuple[Event, ...] = ()


class ChainClient(Protocol):
    """What the settlement services need from the chain."""

    def height(self) -> int:
        """The last decided height."""
        ...

    def broadcast(self, tx: SignedTx) -> str:
        """Admit ``tx``; its hash in hex, or :class:`Refused`; ``OSError`` if unreachable."""
        ...

    def block(self, height: int) -> DecidedBlock:
        """The decided block at ``height``."""
        ...


class RpcChain:
    """A node's RPC (``http://127.0.0.1:PORT``) as a :class:`ChainClient`."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        address = url.removeprefix("http://").rstrip("/")
        host, _, port = address.rpartition(":")
        self.url = url
        self._client = RpcClient(host or "127.0.0.1", int(port), timeout_s=timeout_s)

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def height(self) -> int:
        return int(self._client.status()["height"])

    def status(self) -> dict[str, object]:
        """The node's status (height, ``app_hash`` and more)."""
        return self._client.status()

    def broadcast(self, tx: SignedTx) -> str:
        try:
            return self._client.broadcast_tx(tx)
        except RpcError as exc:
            body = exc.body
            raise Refused(
                int(body.get("code", 0)), str(body.get("reason", "")), str(body.get("message", ""))
            ) from None

    def block(self, height: int) -> DecidedBlock:
        answer = self._client.block(height)
        block = decode(bytes.fromhex(answer["raw"]), Block)
        outcomes = [
            TxOutcome(digest, tx, int(result["code"]), str(result["reason"]))
            for digest, tx, result in zip(
                answer["tx_hashes"], block.txs, answer["results"], strict=True
            )
        ]
        header = block.header
        events = _events(answer.get("events"), height)
        return DecidedBlock(header.height, header.ts_ms, header.state_root.hex(), outcomes, events)


def _events(found: object, height: int) -> tuple[Event, ...]:
    """The block events of a ``/block`` answer; a node that does not send them is refused
    rather than read as a block without settlements."""
    if not isinstance(found, list):
        raise InvalidInput(
            SettlementReason.OLD_NODE, f"the node's block {height} has no events", height=height
        )
    return tuple(msgspec.convert(item, Event) for item in found)


class LocalChain:
    """An in-process ledger that decides one block per admitted transaction.

    Admission is the node's own check (``optex.node.LedgerCheck``: chain id, nonce, signature)
    plus its duplicate cache, so a resubmitted transaction is refused as a node would.
    """

    def __init__(self, ledger: Ledger, clock: Callable[[], int]) -> None:
        self.ledger = ledger
        self.clock = clock
        self._check = LedgerCheck(ledger)
        self._seen: set[bytes] = set()
        self.hold = False
        """While set, admitted transactions wait in :attr:`pending` for :meth:`decide`."""
        self.pending: list[SignedTx] = []

    def height(self) -> int:
        return self.ledger.height

    def broadcast(self, tx: SignedTx) -> str:
        digest = tx_hash(tx)
        if digest in self._seen or tx in self.pending:
            code = NodeReason.DUPLICATE_TX
            raise Refused(int(code), code.reason, code.message)
        try:
            self._check(tx)
        except OptexError as exc:
            raise Refused(int(exc.code), exc.reason, exc.message) from None
        self.pending.append(tx)
        if not self.hold:
            self.decide()
        return digest.hex()

    def decide(self) -> None:
        """Decide one block with every pending transaction (an empty block if none)."""
        last = self.ledger.last_header
        ts = max(self.clock(), (last.ts_ms + 1) if last is not None else 0)
        txs, self.pending = self.pending, []
        block = self.ledger.build_block(ts, txs)
        self.ledger.apply_block(block)
        self._seen.update(tx_hash(tx) for tx in txs)

    def block(self, height: int) -> DecidedBlock:
        block, result = self.ledger.load_block(height)
        outcomes = [
            TxOutcome(tx_hash(tx).hex(), tx, r.code, r.reason)
            for tx, r in zip(block.txs, result.txs, strict=True)
        ]
        header = block.header
        return DecidedBlock(
            header.height, header.ts_ms, header.state_root.hex(), outcomes, result.events
        )
