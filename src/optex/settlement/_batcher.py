"""The settlement batcher: the engine's fills, proven by signed orders, onto the chain once each.

The batcher follows the engine's journal (a file through ``optex.journal.FileFollower``, or
JetStream) and replays it through its own ``optex.exchange.Pipeline``: the pipeline is
deterministic, so it produces exactly the fills the engine produced, without asking the engine
anything. A :class:`~optex.settlement.FillCollector` turns each fill into a ledger fill with
both parties' signed orders, in journal order. Fills are grouped into ``TradeBatch``
transactions (at most ``max_fills`` fills and ``max_batch_bytes``, after waiting ``linger_ms``
for more), signed with the operator key and submitted to a node; one batch is in flight at a
time and the next is built only when its outcome is known from a decided block.

Exactly once on chain:

* A batch's nonce is its last fill's journal position (``nonce_of``), so nonces rise with the
  journal, and the ledger refuses a nonce at or below the operator's last one.
* The batch in flight is written to the checkpoint before it is broadcast. A batcher killed at
  any moment restarts, resubmits exactly those bytes (a node answers ``duplicate_tx`` or
  ``nonce_reused`` if it is pending or committed) and scans the decided blocks after its
  checkpoint's height for the transaction's hash. Only when its outcome is known does the
  checkpoint move past its fills and the next batch get built.
* A batch the ledger refuses (one bad fill refuses the whole batch) is split in halves and
  retried until the bad fill is alone; that fill is reported (``fill_refused``, a counter and a
  log line) and settlement continues after it. A refusal that is not about fills (wrong
  operator key, another writer of the operator's nonces) stops the batcher rather than guess.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from optex.chain import SignedTx, TradeBatch, sign_tx, tx_hash
from optex.core import OptexError, decode, encode
from optex.crypto import PrivateKey
from optex.exchange import Command, Pipeline, Withdraw, Withdrawn
from optex.journal import FileFollower, Journal, JournalEntry, follow, open_journal
from optex.settlement._chain import ChainClient, Refused, TxOutcome
from optex.settlement._collect import (
    FillCollector,
    PendingFill,
    Position,
    Unsettled,
    nonce_of,
)
from optex.settlement._reasons import SettlementReason
from optex.settlement._store import (
    Checkpoint,
    Snapshot,
    load_checkpoint,
    load_state,
    save_checkpoint,
    save_state,
)

log = logging.getLogger("optex.settlement")

NOT_ABOUT_FILLS: Final = frozenset(
    {"wrong_signer", "bad_signature", "wrong_chain", "nonce_reused", "malformed_tx"}
)
"""Block results that refuse the operator's transaction itself: splitting the batch cannot help.

``malformed_tx`` is here too although a fill's price or quantity out of range also gives it:
the engine never produces such a fill, so it means a transaction this batcher cannot build."""
RETRY_LATER: Final = frozenset({"mempool_full"})
"""Admission refusals that pass with time; any other (``tx_too_large``, say) splits the batch."""


@dataclass(frozen=True)
class BatcherConfig:
    """How a batcher runs; ``journal`` is the engine's journal: a path or ``nats://HOST:PORT``."""

    home: Path
    journal: str
    operator: PrivateKey
    chain_id: str = "optex-devnet"
    stream: str = "OPTEX_JOURNAL"
    max_fills: int = 200
    max_batch_bytes: int = 192 * 1024
    """Below the node's default ``max_tx_bytes`` (256 KiB), with room for the envelope."""
    linger_ms: int = 20
    poll_s: float = 0.05
    resubmit_s: float = 5.0
    snapshot_every: int = 10_000
    """Entries between snapshots of the replica, as for the engine's own."""


class BatcherStopped(OptexError):
    """The batcher met a refusal it must not work around (see :data:`NOT_ABOUT_FILLS`)."""


class Batcher:
    """Follow the journal, settle its fills on chain, keep a checkpoint; see the module."""

    def __init__(
        self,
        config: BatcherConfig,
        chain: ChainClient,
        on_withdrawal: Callable[[Withdraw, bool], None] | None = None,
    ) -> None:
        self.config = config
        self.chain = chain
        self.on_withdrawal = on_withdrawal
        """Called with each journaled ``Withdraw`` that carries a chain transaction, and whether
        the engine debited it (the withdrawal desk's :meth:`~WithdrawalDesk.journaled`); again
        for entries replayed after a restart, so it must be idempotent."""
        config.home.mkdir(parents=True, exist_ok=True)
        self.checkpoint: Checkpoint = load_checkpoint(config.home)
        snapshot = load_state(config.home)
        settled = self.checkpoint.settled
        if snapshot is None:
            self.pipeline = Pipeline()
            self.collector = FillCollector(config.chain_id)
            queue: list[PendingFill] = []
        else:
            self.pipeline = Pipeline.restore(snapshot.pipeline)
            self.collector = FillCollector(config.chain_id, snapshot.collector)
            queue = [f for f in snapshot.queue if f.position > settled]
        self.queue: collections.deque[PendingFill] = collections.deque(queue)
        self.snapshot_seq = self.pipeline.last_seq
        self.unsettled: collections.deque[Unsettled] = collections.deque(maxlen=1000)
        """The latest fills that could not be settled (all are counted in ``unsettled_count``)."""
        self.unsettled_count = 0
        self.failure: BaseException | None = None
        self._arrived = asyncio.Event()
        self._limit: int | None = None
        self._scanned = self.checkpoint.height
        self._tasks: list[asyncio.Task[Any]] = []
        self._journal: Journal | None = None

    # Running -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start following the journal and submitting batches."""
        address = self.config.journal
        source: Journal | FileFollower
        if address.startswith("nats://"):
            self._journal = await open_journal(address, stream=self.config.stream)
            source = self._journal
        else:
            source = FileFollower(address.removeprefix("file://"))
        checkpoint = self.checkpoint
        log.info(
            "settling from journal %s: settled through %s/%s, chain height %s, %s",
            self.pipeline.last_seq + 1,
            checkpoint.settled_seq,
            checkpoint.settled_index,
            checkpoint.height,
            "a batch in flight" if checkpoint.inflight is not None else "nothing in flight",
        )
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(source)),
            loop.create_task(self._submit_forever()),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()
            log.error("settlement stopped: %r", self.failure)

    async def wait(self) -> None:
        """Until a task fails (then raise its error) or the batcher is stopped."""
        await asyncio.gather(*self._tasks)

    async def stop(self) -> None:
        """Stop; the snapshot is written, the checkpoint already is."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.failure is None:
            self.save_snapshot()
        if self._journal is not None:
            await self._journal.close()

    # Reading the journal -------------------------------------------------------------------

    async def _read(self, source: Journal | FileFollower) -> None:
        async for entry in follow(source, self.pipeline.last_seq + 1, poll_s=self.config.poll_s):
            self.apply_entry(entry)
            if entry.seq - self.snapshot_seq >= self.config.snapshot_every:
                self.save_snapshot()

    def apply_entry(self, entry: JournalEntry) -> None:
        """Replay one journal entry and queue the fills it caused."""
        # An entry's fills pay fees at the index it found: a SetPrices entry moves the index
        # only after the stops it triggers have traded.
        risk = self.pipeline.risk
        index_before = dict(risk.prices.index)
        events = self.pipeline.apply_entry(entry)
        command: Command | None
        try:
            command = decode(entry.payload, Command)  # type: ignore[arg-type]
        except (OptexError, UnicodeDecodeError):
            command = None
        if self.on_withdrawal is not None and isinstance(command, Withdraw) and command.chain_tx:
            debited = any(
                isinstance(e, Withdrawn) and e.withdrawal_id == command.withdrawal_id
                for e in events
            )
            self.on_withdrawal(command, debited)
        pending, unsettled = self.collector.collect(
            entry.seq, command, events, lambda name: risk.fee_index(name, index_before)
        )
        settled = self.checkpoint.settled
        for fill in pending:
            if fill.position > settled:
                self.queue.append(fill)
        for item in unsettled:
            if (item.seq, item.index) > settled:
                self._report(item)
        if entry.seq % 1024 == 0:
            self.collector.prune(self.pipeline.now_ms)
        if pending:
            self._arrived.set()

    def _report(self, item: Unsettled) -> None:
        self.unsettled.append(item)
        self.unsettled_count += 1
        log.warning(
            "fill %s (journal %s/%s) not settled: %s (%s)",
            item.trade_id,
            item.seq,
            item.index,
            item.message,
            item.reason,
        )

    def save_snapshot(self) -> None:
        """Write the replay state at the pipeline's sequence."""
        snapshot = Snapshot(self.pipeline.snapshot(), self.collector.state(), list(self.queue))
        save_state(self.config.home, snapshot)
        self.snapshot_seq = self.pipeline.last_seq

    # Submitting ----------------------------------------------------------------------------

    async def _submit_forever(self) -> None:
        if self.checkpoint.inflight is not None:
            await self._settle(self.checkpoint.inflight)
        while True:
            batch = await self._next_batch()
            last = batch[-1]
            body = TradeBatch(
                chain_id=self.config.chain_id,
                nonce=nonce_of(last.position),
                fills=tuple(f.fill for f in batch),
            )
            tx = sign_tx(self.config.operator, body)
            self._save(
                self.checkpoint,
                inflight=tx,
                inflight_seq=last.seq,
                inflight_index=last.index,
                inflight_count=len(batch),
            )
            await self._settle(tx)

    async def _next_batch(self) -> list[PendingFill]:
        while not self.queue:
            self._arrived.clear()
            await self._arrived.wait()
        if len(self.queue) < self.config.max_fills:
            await asyncio.sleep(self.config.linger_ms / 1000)
        limit = min(self._limit or self.config.max_fills, self.config.max_fills)
        batch: list[PendingFill] = []
        size = 0
        for fill in self.queue:
            size += len(encode(fill.fill))
            if len(batch) >= limit or (batch and size > self.config.max_batch_bytes):
                break
            batch.append(fill)
        return batch

    async def _settle(self, tx: SignedTx) -> None:
        """Broadcast ``tx`` (again after ``resubmit_s``) until a decided block holds it."""
        digest = tx_hash(tx).hex()
        while True:
            nonce_taken = False
            try:
                await asyncio.to_thread(self.chain.broadcast, tx)
            except Refused as refusal:
                if refusal.reason == "nonce_reused":
                    nonce_taken = True  # committed already, or someone else's: the scan says
                elif refusal.reason == "duplicate_tx" or refusal.reason in RETRY_LATER:
                    pass
                else:
                    await self._decided(tx, None, refusal.reason, refusal.message)
                    return
            except OSError as exc:
                log.info("node unreachable (%s); retrying", exc)
            deadline = time.monotonic() + self.config.resubmit_s
            while True:
                try:
                    found = await asyncio.to_thread(self._scan_for, digest)
                except OSError:
                    found = None
                if found is not None:
                    height, outcome = found
                    await self._decided(tx, height, outcome.reason, outcome.reason)
                    return
                if nonce_taken:
                    raise BatcherStopped(
                        SettlementReason.NONCE_CONFLICT,
                        "the operator's nonce is past this batch, but no decided block holds it",
                    )
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(self.config.poll_s)

    def _scan_for(self, digest: str) -> tuple[int, TxOutcome] | None:
        """Read decided blocks after the last scanned one; the outcome of ``digest`` if seen."""
        top = self.chain.height()
        operator = self.config.operator.public_key.raw
        while self._scanned < top:
            height = self._scanned + 1
            block = self.chain.block(height)
            self._scanned = height
            for outcome in block.txs:
                if outcome.hash == digest:
                    return height, outcome
                if outcome.tx.signer == operator and outcome.code == 0:
                    raise BatcherStopped(
                        SettlementReason.NONCE_CONFLICT,
                        f"block {height} holds an operator transaction this batcher did not send",
                    )
        return None

    async def _decided(self, tx: SignedTx, height: int | None, reason: str, message: str) -> None:
        checkpoint = self.checkpoint
        count = checkpoint.inflight_count
        last: Position = (checkpoint.inflight_seq, checkpoint.inflight_index)
        scanned = self._scanned if height is None else height
        if not reason:
            self._drop_through(last)
            self._limit = None
            self._save(
                checkpoint,
                settled_seq=last[0],
                settled_index=last[1],
                height=scanned,
                committed_fills=checkpoint.committed_fills + count,
                committed_batches=checkpoint.committed_batches + 1,
            )
            log.info("settled %d fills through journal %s/%s at height %s", count, *last, height)
            return
        if reason in NOT_ABOUT_FILLS:
            self._save(checkpoint, height=scanned)
            raise BatcherStopped(
                SettlementReason.OPERATOR_REFUSED, f"the chain refused the batch: {reason}"
            )
        if count > 1:
            self._limit = count // 2
            log.warning("batch of %d fills refused (%s); retrying in halves", count, reason)
            self._save(checkpoint, height=scanned)
            return
        refused = self.queue[0] if self.queue and self.queue[0].position == last else None
        self._report(
            Unsettled(
                last[0],
                last[1],
                refused.trade_id if refused else 0,
                int(SettlementReason.FILL_REFUSED),
                SettlementReason.FILL_REFUSED.reason,
                f"the ledger refused it: {message}",
            )
        )
        self._drop_through(last)
        self._limit = None
        self._save(
            checkpoint,
            settled_seq=last[0],
            settled_index=last[1],
            height=scanned,
            refused_fills=checkpoint.refused_fills + 1,
        )

    def _drop_through(self, position: Position) -> None:
        while self.queue and self.queue[0].position <= position:
            self.queue.popleft()

    def _save(self, base: Checkpoint, **changes: Any) -> None:
        fields = {"inflight": None, "inflight_seq": 0, "inflight_index": 0, "inflight_count": 0}
        fields.update(changes)
        record = Checkpoint(**{**_fields(base), **fields})
        save_checkpoint(self.config.home, record)
        self.checkpoint = record

    # Reading the state ---------------------------------------------------------------------

    def check_replay(self, engine_seq: int, engine_hash: str) -> bool | None:
        """Whether the replay has the engine's state hash at the engine's sequence (``None``
        when they are at different sequences and cannot be compared).

        The pipeline is deterministic, so a difference means the two run different code or
        configuration: the fills the batcher derives may not be the engine's.
        """
        if engine_seq != self.pipeline.last_seq:
            return None
        return self.pipeline.state_hash().hex() == engine_hash

    def metrics(self) -> dict[str, int]:
        """Counters for a status page: fills committed, refused, not settleable, and more."""
        checkpoint = self.checkpoint
        return {
            "journal_seq": self.pipeline.last_seq,
            "settled_seq": checkpoint.settled_seq,
            "height": checkpoint.height,
            "committed_fills": checkpoint.committed_fills,
            "committed_batches": checkpoint.committed_batches,
            "refused_fills": checkpoint.refused_fills,
            "unsettled_fills": self.unsettled_count,
            "queued_fills": len(self.queue),
        }


def _fields(record: Checkpoint) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__struct_fields__}
