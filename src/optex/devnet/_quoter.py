"""The devnet's market makers, trading on the engine service through its request protocol.

The agents of ``optex.agents`` read a :class:`~optex.agents.Venue`'s engine and risk state
(positions, margin, the touch, MMP freezes) and send commands through it. Here that state is a
replica: a :class:`~optex.exchange.Pipeline` that follows the engine's journal file, entry by
entry, exactly as a standby does, so it is the engine's state as of the last entry read,
computed by the same code. Commands go to the real engine (:class:`EngineSession`), which
journals and matches them; the replica sees their effect when it reads them back. The agents
therefore run unchanged against a remote engine, with the lag a real remote market maker has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, cast, get_args

from optex.agents import MarketMaker, MarketMakerParams, Venue
from optex.core import Instrument, InstrumentKind, OptexError
from optex.devnet._signer import QuoteSigner
from optex.exchange import Command, Deposit, EngineClient, Pipeline, Receipt, SetPrices
from optex.journal import FileFollower
from optex.market import AddInstrument, Event, MassQuote, NewOrder, Quote, SetMmpConfig
from optex.market import Command as MarketCommand
from optex.risk import Mark

log = logging.getLogger(__name__)

MarketEvents: Final = get_args(Event)

LP_ACCOUNT: Final = "devnet-lp"
LP_LEVELS: Final = 3
LP_SPREAD_TICKS: Final = 2
LP_STEP_TICKS: Final = 4
LP_LEVEL_LOTS: Final = 5_000
"""Per level and side: 0.5 BTC or 5 ETH, so a user's order of a few coins finds depth."""


class EngineSession:
    """A blocking client of the engine service, on an event loop of its own.

    The agents are synchronous; the engine's client is asyncio. Each call runs the loop until
    its reply arrives, so one thread can drive both without sharing a loop with anything else.
    """

    def __init__(self, host: str, port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = self._loop.run_until_complete(EngineClient.connect(host, port))

    def submit(self, command: Command, key: str | None = None) -> Receipt:
        """Journal and apply ``command``; its receipt (``duplicate`` when ``key`` was seen)."""
        return self._loop.run_until_complete(self._client.submit(command, key=key))

    def close(self) -> None:
        """Close the connection and the loop."""
        self._loop.run_until_complete(self._client.close())
        self._loop.close()


class ReplicaVenue(Venue):
    """A venue whose state is a replica of the engine service's, kept by reading its journal.

    With a :class:`QuoteSigner`, the mass quotes and orders of the accounts it holds keys for
    go to the engine signed (``SignedMassQuote``, ``PlaceSignedOrder``), so that their fills
    settle on chain; everything else is sent as it is.
    """

    def __init__(
        self,
        name: str,
        journal: Path,
        session: EngineSession,
        signer: Callable[[Pipeline], QuoteSigner] | None = None,
    ) -> None:
        self.pipeline = Pipeline()
        super().__init__(name, self.pipeline.engine, self.pipeline.risk)
        self.session = session
        self._follower = FileFollower(journal)
        self.signer = None if signer is None else signer(self.pipeline)

    def catch_up(self) -> int:
        """Apply every journal entry written since the last call; how many were applied."""
        applied = 0
        while entries := self._follower.poll():
            for entry in entries:
                self.observe(self.pipeline.apply_entry(entry))
            applied += len(entries)
        return applied

    def submit(self, command: MarketCommand) -> list[Event]:
        """Send ``command`` to the engine (signed, when the signer holds the account's key);
        the market events it caused there."""
        signer = self.signer
        if signer is None or not signer.signs(command):
            return cast(list[Event], list(self.session.submit(command).events))
        if isinstance(command, MassQuote):
            receipts = signer.submit_quote(command, self.session.submit)
        else:
            receipts = [self.session.submit(signer.signed_order(cast(NewOrder, command)))]
        return [e for r in receipts for e in r.events if isinstance(e, MarketEvents)]


class Quoting:
    """The market makers of a devnet: one option market maker per underlying, and a ladder on
    each future and perpetual (the option market makers hedge with the perpetuals)."""

    def __init__(self, venue: ReplicaVenue, instruments: Sequence[Instrument]) -> None:
        self.venue = venue
        self.futures = [i for i in instruments if i.kind is not InstrumentKind.OPTION]
        self.makers: dict[str, MarketMaker] = {}
        for underlying in sorted({i.underlying for i in instruments}):
            options = [
                i
                for i in instruments
                if i.kind is InstrumentKind.OPTION and i.underlying == underlying
            ]
            perp = next(
                i
                for i in self.futures
                if i.underlying == underlying and i.kind is InstrumentKind.PERPETUAL
            )
            params = MarketMakerParams(
                account=maker_account(underlying), mmp_group=f"mm-{underlying}"
            )
            self.makers[underlying] = MarketMaker(params, venue, options, perp)

    def start(self, ts_ms: int) -> None:
        """Set market maker protection for every group."""
        for maker in self.makers.values():
            maker.start(ts_ms)
        for instrument in self.futures:
            for level in range(LP_LEVELS):
                self.venue.submit(
                    SetMmpConfig(
                        ts_ms,
                        LP_ACCOUNT,
                        _lp_group(instrument, level),
                        interval_ms=1,
                        frozen_ms=1,
                        quantity_limit=10**15,
                        delta_limit=10**15,
                    )
                )

    def step(self, ts_ms: int, index: dict[str, int], vol: float, marks: dict[str, Mark]) -> None:
        """Requote every book around the latest index and marks; a refused command is logged."""
        self.venue.catch_up()
        for instrument in self.futures:
            centre = index[instrument.underlying] // instrument.tick_size * instrument.tick_size
            size = LP_LEVEL_LOTS * instrument.lot_size
            for level in range(LP_LEVELS):
                offset = (LP_SPREAD_TICKS + level * LP_STEP_TICKS) * instrument.tick_size
                quote = Quote(instrument.name, centre - offset, size, centre + offset, size)
                self._send(MassQuote(ts_ms, LP_ACCOUNT, _lp_group(instrument, level), (quote,)))
        for underlying, maker in self.makers.items():
            try:
                maker.step(ts_ms, index[underlying], vol, marks)
            except OptexError as exc:
                log.warning("market maker %s: %s", underlying, exc)

    def _send(self, command: MarketCommand) -> None:
        try:
            self.venue.submit(command)
        except OptexError as exc:
            log.warning("quote refused: %s", exc)


def maker_account(underlying: str) -> str:
    """The option market maker's account for ``underlying``."""
    return f"devnet-mm-{underlying.lower()}"


def _lp_group(instrument: Instrument, level: int) -> str:
    # One group per instrument and level: a mass quote replaces its group's quotes.
    return f"lp-{instrument.name}-{level}"


def list_and_fund(
    session: EngineSession,
    instruments: Sequence[Instrument],
    deposits: dict[str, int],
    ts_ms: int,
) -> None:
    """List ``instruments`` and fund the makers' accounts, once: each command carries an
    idempotency key, so a devnet restarted on the same home repeats none of them."""
    for instrument in instruments:
        session.submit(AddInstrument(ts_ms, instrument), key=f"devnet:list:{instrument.name}")
    for account, amount in sorted(deposits.items()):
        session.submit(Deposit(ts_ms, account, amount), key=f"devnet:deposit:{account}")


def publish_prices(
    session: EngineSession, index: dict[str, int], marks: dict[str, Mark], ts_ms: int
) -> None:
    """Send the engine the index and the marks (risk takes them whole, books as UpdatePrice)."""
    session.submit(SetPrices(ts_ms, index=index, marks=marks))
