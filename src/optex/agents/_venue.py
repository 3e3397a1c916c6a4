"""A venue: one matching engine with its risk engine, a trade tape and fill notifications.

Agents never touch an engine directly: every command goes through :meth:`Venue.submit`, which
runs the engine, feeds the events back into the risk engine (so margin and positions stay
exact) and tells each account's listeners about the fills it took part in. The tape keeps the
cumulative traded quantity and notional per instrument, which is what VWAP benchmarks and
participation-of-volume algorithms read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from optex.market import Command, Event, Fill, MatchingEngine, MmpTriggered
from optex.risk import RiskEngine

FillListener = Callable[[Fill], None]
MmpListener = Callable[[MmpTriggered], None]


class Tape:
    """Cumulative traded quantity and notional (price x quantity) of one instrument."""

    __slots__ = ("last_price", "notional", "trades", "volume")

    def __init__(self) -> None:
        self.volume = 0
        self.notional = 0
        self.trades = 0
        self.last_price: int | None = None


class Venue:
    """A named book set: ``engine`` checked by ``risk``, with a tape and fill listeners."""

    def __init__(self, name: str, engine: MatchingEngine, risk: RiskEngine) -> None:
        self.name = name
        self.engine = engine
        self.risk = risk
        self.events = 0
        """Events produced so far: the simulation's unit of work."""
        self._tapes: dict[str, Tape] = {}
        self._listeners: dict[str, list[FillListener]] = {}
        self._mmp_listeners: dict[str, list[MmpListener]] = {}

    def subscribe(self, account: str, listener: FillListener) -> None:
        """Call ``listener`` with every fill in which ``account`` is maker or taker."""
        self._listeners.setdefault(account, []).append(listener)

    def subscribe_mmp(self, account: str, listener: MmpListener) -> None:
        """Call ``listener`` whenever market maker protection trips for ``account``."""
        self._mmp_listeners.setdefault(account, []).append(listener)

    def submit(self, command: Command) -> list[Event]:
        """Run ``command`` through the engine and the risk engine; return the events."""
        events = self.engine.process(command)
        self.risk.apply(events)
        self.observe(events)
        return events

    def observe(self, events: Sequence[object]) -> None:
        """Count ``events``, record their fills on the tapes and tell the listeners.

        :meth:`submit` calls it for the events it caused; a venue whose engine runs elsewhere
        (a replica following a journal) calls it for each entry it applies.
        """
        self.events += len(events)
        listeners = self._listeners
        for event in events:
            if type(event) is Fill:
                tape = self.tape(event.instrument)
                tape.volume += event.quantity
                tape.notional += event.price * event.quantity
                tape.trades += 1
                tape.last_price = event.price
                for callback in listeners.get(event.maker_account, ()):
                    callback(event)
                if event.taker_account != event.maker_account:
                    for callback in listeners.get(event.taker_account, ()):
                        callback(event)
            elif type(event) is MmpTriggered:
                for on_mmp in self._mmp_listeners.get(event.account, ()):
                    on_mmp(event)

    def tape(self, instrument: str) -> Tape:
        """The trade tape of ``instrument`` (created empty on first use)."""
        tape = self._tapes.get(instrument)
        if tape is None:
            tape = self._tapes[instrument] = Tape()
        return tape

    def touch(self, instrument: str) -> tuple[int | None, int | None]:
        """Best bid and best ask of ``instrument`` (``None`` for an empty side)."""
        book = self.engine.book(instrument)
        return book.best_bid(), book.best_ask()

    def mid(self, instrument: str) -> int | None:
        """The midpoint of the touch, rounded down; ``None`` unless both sides are quoted."""
        bid, ask = self.touch(instrument)
        if bid is None or ask is None:
            return None
        return (bid + ask) // 2
