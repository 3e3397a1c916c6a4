"""Shared builders for the settlement tests: an engine on a file journal, a chain, signed orders."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable
from pathlib import Path

from optex.core import ManualClock, Unauthorized, instrument_from_name
from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    SecurityReason,
    Side,
    SignedOrder,
    TradingScope,
    sign_order,
)
from optex.exchange import (
    Command,
    Deposit,
    Pipeline,
    PlaceSignedOrder,
    Receipt,
    Sequencer,
    SetPrices,
)
from optex.journal import FileJournal, FsyncPolicy
from optex.market import AddInstrument
from optex.risk import Mark
from optex.settlement import Batcher, BatcherConfig, LocalChain
from tests.chain.kit import CHAIN, PERP, T0, Chain, trader

PERP_INSTRUMENT = instrument_from_name(PERP)
INDEX = 100_000_000_000
"""100,000 USDC per BTC in base units."""
USDC = 1_000_000
LOT = PERP_INSTRUMENT.lot_size
TICK = PERP_INSTRUMENT.tick_size


class Keys:
    """A key authority that knows each account's trading key (the engine's side of the chain's
    registered keys)."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys

    def check(self, account: str, public_key: bytes, scope: TradingScope, now_ms: int) -> None:
        if self.keys.get(account) != public_key:
            raise Unauthorized(SecurityReason.DELEGATION_NOT_FOUND, account=account)


_nonces = itertools.count(1)


def signed(
    account: str,
    side: Side,
    price: int,
    quantity: int,
    *,
    key: PrivateKey | None = None,
    chain_id: str = CHAIN,
    expiry_ms: int = T0 + 3_600_000,
) -> SignedOrder:
    """A limit order on the perpetual signed by ``account``'s trading key."""
    intent = OrderIntent(
        chain_id=chain_id,
        account=account,
        instrument=PERP,
        side=side,
        order_type=OrderType.LIMIT,
        price=price,
        quantity=quantity,
        nonce=next(_nonces),
        expiry_ms=expiry_ms,
    )
    return sign_order(key or trader(account), intent)


def setup_commands(accounts: tuple[str, ...], ts: int = T0) -> list[Command]:
    """List the perpetual, fund ``accounts`` and set its prices."""
    commands: list[Command] = [AddInstrument(ts, PERP_INSTRUMENT)]
    commands += [Deposit(ts, a, 1_000_000 * USDC) for a in accounts]
    commands.append(SetPrices(ts, {"BTC": INDEX}, {PERP: Mark(INDEX)}))
    return commands


class Engine:
    """A real sequencer and pipeline on a file journal, in process (the journal is what the
    batcher follows)."""

    def __init__(self, path: Path, accounts: tuple[str, ...], clock: ManualClock) -> None:
        self.path = path
        self.pipeline = Pipeline()
        self.journal = FileJournal(path, fsync=FsyncPolicy.NEVER)
        authority = Keys({a: trader(a).public_key.raw for a in accounts})
        self.sequencer = Sequencer(
            self.journal, self.pipeline.apply, clock=clock, chain_id=CHAIN, authority=authority
        )

    async def submit(self, command: Command, key: str | None = None) -> Receipt:
        """Journal and apply one command."""
        return await self.sequencer.submit(command, key)

    async def place(self, order: SignedOrder) -> Receipt:
        """Place a signed order."""
        return await self.submit(PlaceSignedOrder(0, order))

    def balance(self, account: str) -> int:
        """The engine's cash balance of ``account``."""
        return self.pipeline.risk.ledger.accounts[account].balance

    def position(self, account: str) -> int:
        """The engine's perpetual position of ``account``."""
        found = self.pipeline.risk.ledger.accounts[account].positions.get(PERP)
        return 0 if found is None else found.quantity

    async def close(self) -> None:
        """Stop the sequencer and close the journal."""
        await self.sequencer.close()
        await self.journal.close()


def local_chain(registered: tuple[str, ...]) -> tuple[Chain, LocalChain]:
    """A ledger with ``registered`` accounts' trading keys on chain, as a ``LocalChain``."""
    chain = Chain()
    chain.run(*(chain.register(a) for a in registered))
    clock: Callable[[], int] = lambda: chain.now + 1_000  # noqa: E731 - a tiny closure
    return chain, LocalChain(chain.ledger, clock)


async def until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Wait until ``condition()`` holds, or fail the test after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.01)


async def run_batcher(
    config: BatcherConfig,
    chain: LocalChain,
    engine: Engine,
    *conditions: Callable[[Batcher], bool],
) -> Batcher:
    """Run a real batcher until each of ``conditions`` holds in turn, then stop it and close
    the engine (also when a condition is never met: the test fails, nothing keeps running)."""
    batcher = Batcher(config, chain)
    await batcher.start()
    try:
        for condition in conditions:
            await until(functools.partial(condition, batcher))
    finally:
        await batcher.stop()
        await engine.close()
    return batcher
