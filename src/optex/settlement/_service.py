"""The settlement process: batcher, chain watcher and withdrawal desk on one event loop.

``optex settle`` runs :func:`serve`. It writes ``HOME/status.json`` (the batcher's counters and
the watcher's height, replaced atomically) every ``status_every_s``, so operators and tests can
watch it without a protocol. SIGTERM or SIGINT stops it cleanly (a snapshot is written); a
SIGKILL loses nothing either: the checkpoint and the in-flight batch are on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from optex.core import OptexError
from optex.crypto import PrivateKey
from optex.journal import write_atomic
from optex.settlement._batcher import Batcher, BatcherConfig, BatcherStopped
from optex.settlement._chain import RpcChain
from optex.settlement._desk import WithdrawalDesk
from optex.settlement._engine import EngineLink
from optex.settlement._reasons import SettlementReason
from optex.settlement._watch import ChainWatcher, WatcherConfig

log = logging.getLogger("optex.settlement")

STATUS_FILE = "status.json"


@dataclass(frozen=True)
class SettleConfig:
    """Everything ``optex settle`` needs."""

    home: Path
    engine_home: Path
    node: str
    operator: PrivateKey
    journal: str | None = None
    """The engine's journal; by default ``ENGINE_HOME/journal.optexj``."""
    chain_id: str = "optex-devnet"
    stream: str = "OPTEX_JOURNAL"
    settlement_asset: str = "USDC"
    max_fills: int = 200
    linger_ms: int = 20
    status_every_s: float = 0.2
    verify_every_s: float = 1.0


class SettleService:
    """The three parts and their shared connections."""

    def __init__(self, config: SettleConfig) -> None:
        self.config = config
        self.failure: BaseException | None = None
        journal = config.journal or str(config.engine_home / "journal.optexj")
        self.engine = EngineLink(config.engine_home)
        # The desk first: the batcher hands it the withdrawals the gateway journaled.
        self.desk = WithdrawalDesk(
            config.home,
            RpcChain(config.node),
            self.engine,
            chain_id=config.chain_id,
            settlement_asset=config.settlement_asset,
        )
        self.batcher = Batcher(
            BatcherConfig(
                home=config.home,
                journal=journal,
                operator=config.operator,
                chain_id=config.chain_id,
                stream=config.stream,
                max_fills=config.max_fills,
                linger_ms=config.linger_ms,
            ),
            RpcChain(config.node),
            on_withdrawal=self.desk.journaled,
        )
        self.watcher = ChainWatcher(
            WatcherConfig(config.home, config.settlement_asset),
            RpcChain(config.node),
            self.engine,
            self.desk,
            journal_caught_up=self._journal_caught_up,
        )

    async def _journal_caught_up(self) -> None:
        """Until the batcher has replayed every entry the engine has journaled by now."""
        target = (await self.engine.status()).last_seq
        while self.batcher.pipeline.last_seq < target and self.batcher.failure is None:
            await asyncio.sleep(0.05)

    async def _verify(self) -> None:
        """Compare the batcher's replay with the engine whenever both are at one sequence."""
        while self.failure is None:
            await asyncio.sleep(self.config.verify_every_s)
            try:
                status = await asyncio.wait_for(self.engine.status(), self.config.verify_every_s)
            except (TimeoutError, OptexError):
                continue
            if self.batcher.check_replay(status.last_seq, status.state_hash) is False:
                self.failure = BatcherStopped(
                    SettlementReason.REPLAY_DIVERGED,
                    f"at journal {status.last_seq} the engine's state hash is {status.state_hash}",
                )
                log.error("settlement stopped: %s", self.failure)

    def write_status(self) -> None:
        """Replace ``status.json`` with the current counters."""
        record = {
            **self.batcher.metrics(),
            "watcher_height": self.watcher.state.height,
            "deposits_fed": self.watcher.state.deposits,
            "withdrawals_fed": self.watcher.state.withdrawals,
            "withdrawals": self.desk.stages(),
            "pid": os.getpid(),
        }
        write_atomic(self.config.home / STATUS_FILE, json.dumps(record).encode())

    async def run(self, stopped: asyncio.Event) -> None:
        """Run until ``stopped`` is set or a part fails (its error is raised)."""
        await self.batcher.start()
        await self.watcher.start()
        parts = asyncio.gather(
            self.batcher.wait(), self.watcher.wait(), self._verify(), self.desk.run()
        )
        try:
            while not stopped.is_set() and not parts.done() and self.failure is None:
                self.write_status()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopped.wait(), self.config.status_every_s)
        finally:
            await self.watcher.stop()
            await self.batcher.stop()
            await self.engine.close()
            self.write_status()
            parts.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await parts
        failure = self.batcher.failure or self.watcher.failure or self.failure
        if failure is not None:
            raise failure


async def serve(config: SettleConfig) -> int:
    """Run the settlement process until SIGTERM or SIGINT; the exit code."""
    service = SettleService(config)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await service.run(stopped)
    return 0


def run(config: SettleConfig) -> int:
    """Run the settlement process in a new event loop (the ``optex settle`` command)."""
    return asyncio.run(serve(config))
