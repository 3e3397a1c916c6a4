"""Withdrawals: the engine debits first, then the chain pays out.

An owner signs a chain ``withdraw`` transaction and hands it to the :class:`WithdrawalDesk`
(the gateway does this after its TOTP check). The desk

1. records it (``withdrawals.bin``, written atomically) before anything else;
2. submits ``Withdraw`` to the engine under the key ``chain:withdraw:<tx hash>``: the engine
   debits the amount only if the balance covers it and the margin of what stays open still
   does; otherwise the withdrawal is refused here and never reaches the chain;
3. broadcasts the transaction. If the node refuses it at once, or the ledger later refuses it
   in a block (allowlist, time lock, balance), the desk refunds the engine with a ``Deposit``
   under the key ``chain:refund:<tx hash>``, once.

The gateway takes the other path, :meth:`WithdrawalDesk.journaled`: after its TOTP check it
submits ``Withdraw(account, amount, withdrawal_id=<tx hash>, chain_tx=<signed tx>)`` to the
engine itself (same key as step 2), so the debit and the transaction are in the journal. The
batcher, which follows the journal, hands each debited one (a ``Withdrawn`` event) to the desk,
which records it before it returns (so a snapshot taken after the entry never loses it) and
broadcasts it from :meth:`WithdrawalDesk.run`; records still ``submitted`` are broadcast again
after a restart (the node answers ``duplicate_tx`` or ``nonce_reused``), never refunded twice.

The :class:`~optex.settlement.ChainWatcher` reports each desk withdrawal's outcome; one that
reached the chain some other way is debited by the watcher with the same key as step 2, so an
engine debit happens at most once per chain transaction whichever path saw it first.
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from pathlib import Path
from typing import Final

import msgspec

from optex.chain import SignedTx, tx_domain, tx_hash
from optex.chain import Withdraw as ChainWithdraw
from optex.core import InvalidInput, OptexError, decode, encode
from optex.crypto import verify
from optex.exchange import CommandFailed, Deposit, Withdraw, Withdrawn
from optex.journal import write_atomic
from optex.settlement._chain import ChainClient, Refused
from optex.settlement._reasons import SettlementReason
from optex.settlement._watch import Submitter, withdraw_key

log = logging.getLogger("optex.settlement")

DESK_FILE: Final = "withdrawals.bin"


NOT_REFUNDED: Final = frozenset({"duplicate_tx", "nonce_reused", "mempool_full"})
"""Admission refusals that do not prove the chain will never apply the withdrawal: the
transaction is pending or committed already (or the node is full): the decided block says."""


class Stage(StrEnum):
    """Where one withdrawal stands."""

    DEBITING = "debiting"
    SUBMITTED = "submitted"
    DONE = "done"
    REFUSED = "refused"
    REFUNDED = "refunded"
    UNPAYABLE = "unpayable"
    """Debited by the engine from the journal, but the transaction cannot be paid: refund it."""


class WithdrawalRecord(msgspec.Struct, frozen=True):
    """One withdrawal the desk took."""

    tx: SignedTx
    stage: Stage


def refund_key(digest: str) -> str:
    """The engine idempotency key of a refused withdrawal's refund."""
    return f"chain:refund:{digest}"


class WithdrawalDesk:
    """Take owner-signed withdrawals: engine debit, then chain; refund if the chain refuses."""

    def __init__(
        self,
        home: Path,
        chain: ChainClient,
        engine: Submitter,
        *,
        chain_id: str = "optex-devnet",
        settlement_asset: str = "USDC",
    ) -> None:
        self.home = home
        self.chain = chain
        self.engine = engine
        self.chain_id = chain_id
        self.settlement_asset = settlement_asset
        home.mkdir(parents=True, exist_ok=True)
        try:
            data = (home / DESK_FILE).read_bytes()
            self.records: dict[str, WithdrawalRecord] = decode(data, dict[str, WithdrawalRecord])
        except FileNotFoundError:
            self.records = {}
        self._lock = asyncio.Lock()
        self._to_broadcast: asyncio.Queue[str] = asyncio.Queue()
        for digest, record in self.records.items():
            if record.stage in (Stage.SUBMITTED, Stage.UNPAYABLE):
                self._to_broadcast.put_nowait(digest)
        self.retry_s = 0.5

    def _set(self, digest: str, tx: SignedTx, stage: Stage) -> None:
        self.records[digest] = WithdrawalRecord(tx, stage)
        write_atomic(self.home / DESK_FILE, encode(self.records))

    def knows(self, digest: str) -> bool:
        """Whether the desk took this withdrawal (the engine debited it, or refused it)."""
        return digest in self.records

    def refused(self, digest: str) -> bool:
        """Whether the engine refused to debit this withdrawal (its debit key is spent)."""
        return self.stage(digest) is Stage.REFUSED

    def stage(self, digest: str) -> Stage | None:
        """Where the withdrawal ``digest`` stands, if the desk took it."""
        record = self.records.get(digest)
        return None if record is None else record.stage

    def _check(self, tx: SignedTx) -> ChainWithdraw:
        body = tx.body
        if not isinstance(body, ChainWithdraw):
            raise InvalidInput(SettlementReason.WITHDRAWAL_INVALID, "not a withdraw transaction")
        if body.chain_id != self.chain_id:
            raise InvalidInput(SettlementReason.WITHDRAWAL_INVALID, f"for chain {body.chain_id}")
        if body.asset != self.settlement_asset:
            raise InvalidInput(SettlementReason.UNSUPPORTED_ASSET, f"{body.asset} is not held")
        try:
            verify(tx.signer, tx.signature, tx_domain(body), body.chain_id, body)
        except OptexError:
            raise InvalidInput(SettlementReason.WITHDRAWAL_INVALID, "bad signature") from None
        return body

    async def request(self, tx: SignedTx) -> str:
        """Debit the engine, then broadcast; the transaction's hash, or the refusal raised."""
        body = self._check(tx)
        digest = tx_hash(tx).hex()
        async with self._lock:
            if digest in self.records:
                raise InvalidInput(SettlementReason.WITHDRAWAL_INVALID, "already requested")
            self._set(digest, tx, Stage.DEBITING)
        command = Withdraw(0, body.account, body.amount, digest)
        try:
            receipt = await self.engine.submit(command, withdraw_key(digest))
        except OptexError:
            self._set(digest, tx, Stage.REFUSED)
            raise
        if receipt.duplicate:
            # The key was spent before (the watcher debited it, the chain having paid it
            # already): not this desk's withdrawal, and not a refusal the watcher must repair.
            async with self._lock:
                del self.records[digest]
                write_atomic(self.home / DESK_FILE, encode(self.records))
            raise InvalidInput(SettlementReason.WITHDRAWAL_REFUSED, "debited before")
        if not any(isinstance(e, Withdrawn) for e in receipt.events):
            failed = [e for e in receipt.events if isinstance(e, CommandFailed)]
            message = failed[0].message if failed else "the engine did not debit it"
            self._set(digest, tx, Stage.REFUSED)
            raise InvalidInput(SettlementReason.WITHDRAWAL_REFUSED, message)
        self._set(digest, tx, Stage.SUBMITTED)
        try:
            await asyncio.to_thread(self.chain.broadcast, tx)
        except Refused as refusal:
            if refusal.reason != "duplicate_tx":
                await self._refund(digest, tx)
                raise InvalidInput(
                    SettlementReason.WITHDRAWAL_REFUSED, f"the node refused it: {refusal.message}"
                ) from None
        except OSError:
            log.warning("withdrawal %s not broadcast (node unreachable): resubmit it", digest)
        return digest

    async def decided(self, digest: str, applied: bool) -> None:
        """The chain decided the withdrawal (the watcher calls this)."""
        record = self.records.get(digest)
        if record is None or record.stage is not Stage.SUBMITTED:
            return
        if applied:
            self._set(digest, record.tx, Stage.DONE)
        else:
            await self._refund(digest, record.tx)

    async def _refund(self, digest: str, tx: SignedTx, *, checked: bool = True) -> None:
        body = self._check(tx) if checked else tx.body
        assert isinstance(body, ChainWithdraw)  # noqa: S101 - records hold withdrawals only
        await self.engine.submit(Deposit(0, body.account, body.amount), refund_key(digest))
        self._set(digest, tx, Stage.REFUNDED)
        log.info("withdrawal %s refused by the chain: refunded", digest)

    # Withdrawals the gateway journaled -------------------------------------------------------

    @staticmethod
    def _placeholder(command: Withdraw) -> SignedTx:
        """A record of the engine's side only, for a transaction that is not kept."""
        debit = ChainWithdraw(
            chain_id="",
            nonce=0,
            account=command.account,
            asset="",
            amount=command.amount,
            address="",
        )
        return SignedTx(debit, b"", b"")

    def journaled(self, command: Withdraw, debited: bool = True) -> None:
        """Take a withdrawal from the journal (the batcher calls this for each ``Withdraw``
        with a ``chain_tx``; ``debited`` when it produced a ``Withdrawn`` event; one the engine
        refused is recorded ``refused`` and never broadcast).

        Recorded synchronously (``withdrawals.bin`` is written before this returns), so a
        process killed afterwards broadcasts it on restart; one already recorded (a replay of
        the journal after a restart) is ignored. A transaction the desk cannot take (it does
        not decode, or does not match the debit) is recorded ``unpayable`` and refunded by
        :meth:`run`: the engine took the money, the chain will not pay it.
        """
        digest = command.withdrawal_id
        if digest in self.records:
            return
        if not debited:
            # The engine refused it (margin): nothing to pay, but remember it, so that the
            # watcher debits it should its owner have the chain pay it directly.
            self._set(digest, self._placeholder(command), Stage.REFUSED)
            return
        try:
            tx = decode(command.chain_tx, SignedTx)
            body = self._check(tx)
            if tx_hash(tx).hex() != digest:
                raise InvalidInput(SettlementReason.WITHDRAWAL_INVALID, "another tx hash")
            if (body.account, body.amount) != (command.account, command.amount):
                raise InvalidInput(SettlementReason.WITHDRAWAL_INVALID, "not the amount debited")
        except OptexError as exc:
            log.error("journaled withdrawal %s is not payable (%s): refunding", digest, exc)
            self._set(digest, self._placeholder(command), Stage.UNPAYABLE)
        else:
            self._set(digest, tx, Stage.SUBMITTED)
        self._to_broadcast.put_nowait(digest)

    async def run(self) -> None:
        """Broadcast the journaled withdrawals (and refund those that cannot be paid), forever."""
        while True:
            digest = await self._to_broadcast.get()
            record = self.records[digest]
            if record.stage is Stage.UNPAYABLE:
                await self._refund_logged(digest, record.tx, checked=False)
                continue
            if record.stage is not Stage.SUBMITTED:
                continue
            try:
                await asyncio.to_thread(self.chain.broadcast, record.tx)
            except Refused as refusal:
                if refusal.reason == "mempool_full":
                    await asyncio.sleep(self.retry_s)
                    self._to_broadcast.put_nowait(digest)
                elif refusal.reason not in NOT_REFUNDED:
                    log.warning("withdrawal %s refused by the node: %s", digest, refusal.message)
                    await self._refund_logged(digest, record.tx)
            except OSError as exc:
                log.info("withdrawal %s not broadcast (%s); retrying", digest, exc)
                await asyncio.sleep(self.retry_s)
                self._to_broadcast.put_nowait(digest)
            else:
                log.info("withdrawal %s broadcast", digest)

    async def _refund_logged(self, digest: str, tx: SignedTx, *, checked: bool = True) -> None:
        try:
            await self._refund(digest, tx, checked=checked)
        except OptexError as exc:
            # The engine refused the refund before journaling it: nothing to retry; the
            # operator must reconcile (the record stays as it was, and the log says why).
            log.error("refund of withdrawal %s refused by the engine: %s", digest, exc)

    def stages(self) -> dict[str, str]:
        """Every withdrawal's stage by transaction hash (for the status file)."""
        return {digest: record.stage.value for digest, record in self.records.items()}
