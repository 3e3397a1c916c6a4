"""The chain's feedback to the engine: deposits credited, withdrawals debited, once each.

:class:`ChainWatcher` reads every decided block after its checkpoint and, for each applied
transaction the engine must know about, submits an engine command under an idempotency key
derived from the transaction's hash:

* a ``deposit`` of the settlement asset becomes ``optex.exchange.Deposit`` (key
  ``chain:deposit:<hash>``);
* a ``withdraw`` that the :class:`~optex.settlement.WithdrawalDesk` took has already been debited
  by the engine, so it only completes the desk's record; any other (an owner who sent a
  withdrawal to a node directly) is mirrored with a forced ``Withdraw`` (key
  ``chain:withdraw:<hash>``, the same key the desk uses, so the two can never both debit);
* a withdrawal of the desk's that the ledger refused is refunded through the desk;
* a withdrawal the engine refused (margin) but its owner then had the chain pay directly is
  debited (forced) under ``chain:withdraw-paid:<hash>``: its ``chain:withdraw:`` key was spent
  by the refused command.

Then what the ledger did at the start of a block, from the block's events (``_events``): an
expiry settlement becomes ``optex.exchange.SettleExpiry`` at the chain's price with the chain's
credits (key ``chain:settle:<instrument>``: an instrument settles once), a funding becomes
``optex.exchange.PayFunding`` with the chain's amount per account (key
``chain:funding:<instrument>:<height>``). Slashing, jailing, unbonding and rewards move only the
stake asset, which the engine does not hold; the chain liquidates nothing.

The checkpoint (``watcher.bin``: the last height handled) is written after the engine
acknowledged every command of a block. A watcher killed in between resubmits those commands
with the same keys, and the engine's journal recognises them as duplicates; the engine refuses
a second settlement of an instrument or a replayed funding whatever key carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import msgspec

from optex.chain import Deposit as ChainDeposit
from optex.chain import Withdraw as ChainWithdraw
from optex.core import OptexError, decode, encode
from optex.exchange import (
    Command,
    CommandFailed,
    Deposit,
    ExpirySettled,
    FundingPaid,
    Receipt,
    Withdraw,
)
from optex.journal import write_atomic
from optex.settlement._chain import ChainClient, DecidedBlock
from optex.settlement._events import FUNDING_SKIPPED, block_commands

log = logging.getLogger("optex.settlement")

WATCHER_FILE: Final = "watcher.bin"


class Submitter(Protocol):
    """Where the watcher sends engine commands (an :class:`~optex.settlement.EngineLink`)."""

    async def submit(self, command: Command, key: str) -> Receipt:
        """Submit under an idempotency key."""
        ...


class DeskView(Protocol):
    """What the watcher tells the withdrawal desk."""

    def knows(self, digest: str) -> bool:
        """Whether the desk took (and the engine debited) this withdrawal."""
        ...

    async def decided(self, digest: str, applied: bool) -> None:
        """The withdrawal was decided on chain: applied, or refused (then refund it)."""
        ...

    def refused(self, digest: str) -> bool:
        """Whether the engine refused to debit this withdrawal (its debit key is spent)."""
        ...


class WatcherState(msgspec.Struct, frozen=True):
    """The last block whose commands the engine acknowledged, and counters."""

    height: int = 0
    deposits: int = 0
    withdrawals: int = 0
    settlements: int = 0
    fundings: int = 0


@dataclass(frozen=True)
class WatcherConfig:
    """Where the watcher keeps its checkpoint, and which asset the engine settles in."""

    home: Path
    settlement_asset: str = "USDC"
    poll_s: float = 0.1


def deposit_key(digest: str) -> str:
    """The engine idempotency key of a chain deposit."""
    return f"chain:deposit:{digest}"


def withdraw_key(digest: str) -> str:
    """The engine idempotency key of a chain withdrawal's debit."""
    return f"chain:withdraw:{digest}"


def paid_key(digest: str) -> str:
    """The key of the debit of a withdrawal the chain paid after the engine had refused it
    (``withdraw_key`` is spent by the refused ``Withdraw``)."""
    return f"chain:withdraw-paid:{digest}"


class ChainWatcher:
    """Feed decided blocks' deposits and withdrawals into the engine; see the module."""

    def __init__(
        self,
        config: WatcherConfig,
        chain: ChainClient,
        engine: Submitter,
        desk: DeskView | None = None,
        journal_caught_up: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.journal_caught_up = journal_caught_up
        """Returns once the batcher has replayed every entry the engine journaled when called
        (the desk then knows every journaled withdrawal the engine refused)."""
        self.chain = chain
        self.engine = engine
        self.desk = desk
        config.home.mkdir(parents=True, exist_ok=True)
        self.state = self._load()
        self.failure: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    def _load(self) -> WatcherState:
        try:
            return decode((self.config.home / WATCHER_FILE).read_bytes(), WatcherState)
        except FileNotFoundError:
            return WatcherState()

    def _save(self, state: WatcherState) -> None:
        write_atomic(self.config.home / WATCHER_FILE, encode(state))
        self.state = state

    async def start(self) -> None:
        """Start polling the chain."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.failure = task.exception()
            log.error("the chain watcher stopped: %r", self.failure)

    async def wait(self) -> None:
        """Until the watcher fails (raising its error) or is stopped."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Stop polling (the checkpoint is already on disk)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.catch_up()
            except OSError as exc:
                log.info("node unreachable (%s); retrying", exc)
            await asyncio.sleep(self.config.poll_s)

    async def catch_up(self) -> int:
        """Handle every decided block after the checkpoint; the height reached."""
        top = await asyncio.to_thread(self.chain.height)
        while self.state.height < top:
            height = self.state.height + 1
            block = await asyncio.to_thread(self.chain.block, height)
            # The ledger settles and funds at the start of a block, before its transactions.
            settlements, fundings = await self._handle_events(block)
            deposits, withdrawals = await self._handle(block)
            if deposits or withdrawals or settlements or fundings or height % 50 == 0:
                state = self.state
                self._save(
                    WatcherState(
                        height,
                        state.deposits + deposits,
                        state.withdrawals + withdrawals,
                        state.settlements + settlements,
                        state.fundings + fundings,
                    )
                )
            elif height == top:
                self._save(msgspec.structs.replace(self.state, height=height))
            else:
                self.state = msgspec.structs.replace(self.state, height=height)
        return self.state.height

    async def _handle_events(self, block: DecidedBlock) -> tuple[int, int]:
        """Feed the block's settlements and fundings; how many of each the engine applied."""
        settlements = fundings = 0
        for skipped in block.events:
            if skipped.kind == FUNDING_SKIPPED:
                # Nothing to feed: the chain paid no funding. Logged because it means the
                # validators stopped voting a price the perpetual needs.
                log.warning(
                    "block %d skipped the funding of %s: no live vote for %s",
                    block.height,
                    skipped.attributes.get("instrument", "?"),
                    skipped.attributes.get("stale_prices", "?"),
                )
        for item in block_commands(block):
            receipt = await self._submit(item.command, item.key, f"block {block.height}")
            if receipt is None:
                continue
            for event in receipt.events:
                if isinstance(event, FundingPaid):
                    fundings += 1
                elif isinstance(event, ExpirySettled):
                    settlements += 1
                if isinstance(event, ExpirySettled) and event.mismatched:
                    log.error(
                        "%s settled at %d, but the engine's positions of %s differed from the "
                        "chain's: reconcile them",
                        event.instrument,
                        event.price,
                        ", ".join(event.mismatched),
                    )
        return settlements, fundings

    async def _submit(self, command: Command, key: str, origin: str) -> Receipt | None:
        """Submit one command; log (never retry) what the engine refuses."""
        try:
            receipt = await self.engine.submit(command, key)
        except OptexError as exc:
            log.error("%s not fed to the engine (%s): %s", key, origin, exc)
            return None
        if receipt.duplicate:
            log.info("%s was fed before (journal %s)", key, receipt.seq)
        for event in receipt.events:
            if isinstance(event, CommandFailed):
                log.error("the engine refused %s (%s): %s", key, origin, event.message)
        return receipt

    async def _handle(self, block: DecidedBlock) -> tuple[int, int]:
        deposits = withdrawals = 0
        asset = self.config.settlement_asset
        for outcome in block.txs:
            body = outcome.tx.body
            paid_after_refusal = False
            if isinstance(body, ChainWithdraw) and self.desk and self.desk.knows(outcome.hash):
                if not (outcome.code == 0 and self.desk.refused(outcome.hash)):
                    await self.desk.decided(outcome.hash, applied=outcome.code == 0)
                    continue
                # The engine refused it (its key is spent), yet the owner had the chain pay it.
                paid_after_refusal = True
            if outcome.code != 0:
                continue
            if isinstance(body, ChainDeposit | ChainWithdraw) and body.asset != asset:
                log.info("%s of %s is not the engine's asset: not fed", outcome.hash, body.asset)
                continue
            command: Command
            if isinstance(body, ChainDeposit):
                command, key = Deposit(0, body.account, body.amount), deposit_key(outcome.hash)
                deposits += 1
            elif isinstance(body, ChainWithdraw):
                command = Withdraw(0, body.account, body.amount, outcome.hash, force=True)
                key = (paid_key if paid_after_refusal else withdraw_key)(outcome.hash)
                withdrawals += 1
            else:
                continue
            try:
                receipt = await self.engine.submit(command, key)
            except OptexError as exc:
                # The engine refused it before journaling (an account id it cannot hold, say):
                # nothing to retry; say so loudly, the operator must reconcile by hand.
                log.error("chain tx %s not fed to the engine: %s", outcome.hash, exc)
                continue
            if receipt.duplicate:
                log.info("chain tx %s was fed before (journal %s)", outcome.hash, receipt.seq)
                if isinstance(body, ChainWithdraw) and not paid_after_refusal:
                    await self._debit_if_refused(command, outcome.hash)
        return deposits, withdrawals

    async def _debit_if_refused(self, command: Command, digest: str) -> None:
        """The withdrawal key was spent before the chain paid: by a debit (nothing to do), or
        by a ``Withdraw`` the engine refused (the chain paid it anyway: debit it now).

        The desk learns of refused journaled withdrawals from the batcher, so wait until the
        batcher has replayed everything the engine journaled so far, then ask it."""
        if self.desk is None or self.journal_caught_up is None:
            return
        await self.journal_caught_up()
        if self.desk.refused(digest):
            log.warning("withdrawal %s paid on chain after the engine refused it", digest)
            await self.engine.submit(command, paid_key(digest))
