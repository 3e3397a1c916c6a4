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
from optex.settlement._chain import ChainClient, Refused
from optex.settlement._reasons import SettlementReason
from optex.settlement._store import write_atomic
from optex.settlement._watch import Submitter, withdraw_key

log = logging.getLogger("optex.settlement")

DESK_FILE: Final = "withdrawals.bin"


class Stage(StrEnum):
    """Where one withdrawal stands."""

    DEBITING = "debiting"
    SUBMITTED = "submitted"
    DONE = "done"
    REFUSED = "refused"
    REFUNDED = "refunded"


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

    def _set(self, digest: str, tx: SignedTx, stage: Stage) -> None:
        self.records[digest] = WithdrawalRecord(tx, stage)
        write_atomic(self.home / DESK_FILE, encode(self.records))

    def knows(self, digest: str) -> bool:
        """Whether the desk took this withdrawal (the engine debited it, or refused it)."""
        return digest in self.records

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
        if receipt.duplicate or not any(isinstance(e, Withdrawn) for e in receipt.events):
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

    async def _refund(self, digest: str, tx: SignedTx) -> None:
        body = self._check(tx)
        await self.engine.submit(Deposit(0, body.account, body.amount), refund_key(digest))
        self._set(digest, tx, Stage.REFUNDED)
        log.info("withdrawal %s refused by the chain: refunded", digest)
