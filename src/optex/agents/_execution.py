"""Execution algorithms for a parent order: each child order goes through the normal engine.

Every algorithm works one :class:`ParentOrder` (buy or sell ``quantity`` of one instrument
between ``start_ms`` and ``end_ms``) for its own account, and is driven by the simulation's
clock through :meth:`ExecutionAlgo.step`. At the start it records the arrival price (the mid,
else the last trade) and the venue's tape; at the end it cancels what still rests and reports
(:class:`ExecutionReport`) its average fill price, the slippage in basis points against arrival
and against the market's VWAP over its own window, and its fill rate. Slippage is signed as a
cost: positive means the algorithm paid more (bought higher or sold lower) than the benchmark.

Scheduled algorithms (TWAP, VWAP, implementation shortfall) hold a cumulative target per slice
and at each slice send a marketable IOC order for what is behind the target, so rounding and
partial fills never accumulate; quantities are whole lots throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from optex.agents._almgren import ac_trade_list
from optex.agents._errors import AgentReason
from optex.agents._venue import Venue
from optex.core import Instrument, InvalidInput
from optex.market import Fill, MassCancel, NewOrder, OrderType, Side, TimeInForce


def _require(ok: bool, what: str, reason: AgentReason = AgentReason.INVALID_PARENT_ORDER) -> None:
    if not ok:
        raise InvalidInput(reason, what)


class ParentOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What to execute: ``quantity`` (base units, whole lots) of ``instrument`` in a window."""

    account: str
    instrument: str
    side: Side
    quantity: int
    start_ms: int
    end_ms: int


class ExecutionReport(msgspec.Struct, frozen=True):
    """How an execution went. Prices are settlement base units per whole underlying."""

    algorithm: str
    account: str
    instrument: str
    side: str
    quantity: int
    filled: int
    children: int
    arrival_price: float | None
    average_price: float | None
    market_vwap: float | None
    slippage_bps: float | None
    """Against the arrival price; positive is a cost."""
    vwap_slippage_bps: float | None
    """Against the market VWAP over the algorithm's window; positive is a cost."""
    fill_rate: float


def _bps(side: Side, price: float | None, benchmark: float | None) -> float | None:
    if price is None or benchmark is None or benchmark <= 0:
        return None
    sign = 1.0 if side is Side.BUY else -1.0
    return sign * (price - benchmark) / benchmark * 1e4


def cumulative_targets(quantity: int, lot: int, weights: Sequence[float]) -> list[int]:
    """Cumulative quantities after each slice, proportional to ``weights``, on the lot grid.

    The last target is exactly ``quantity``; each is the rounded cumulative weight, so that the
    children track the profile to within half a lot at every slice.
    """
    _require(quantity > 0 and lot > 0 and quantity % lot == 0, "quantity must be whole lots")
    _require(len(weights) > 0, "a schedule needs at least one slice", AgentReason.INVALID_SCHEDULE)
    _require(
        all(w >= 0 for w in weights) and sum(weights) > 0,
        "schedule weights must be non-negative with a positive sum",
        AgentReason.INVALID_SCHEDULE,
    )
    total = float(sum(weights))
    lots = quantity // lot
    targets: list[int] = []
    running = 0.0
    for weight in weights:
        running += weight
        targets.append(min(lots, round(lots * running / total)) * lot)
    targets[-1] = quantity
    return targets


class ExecutionAlgo:
    """Base of the algorithms: fill accounting, arrival and VWAP benchmarks, the report."""

    name = "algo"

    def __init__(self, parent: ParentOrder, venue: Venue, *, protection_bps: int = 500) -> None:
        _require(parent.quantity > 0, "the parent quantity must be positive")
        _require(parent.end_ms > parent.start_ms, "the parent order's window is empty")
        instrument = venue.risk.ledger.instruments.get(parent.instrument)
        _require(instrument is not None, f"{parent.instrument!r} is not listed on {venue.name}")
        assert instrument is not None  # noqa: S101 - narrowing after the check above
        _require(parent.quantity % instrument.lot_size == 0, "the quantity must be whole lots")
        _require(0 < protection_bps < 10_000, "protection_bps must be in (0, 10000)")
        self.parent = parent
        self.venue = venue
        self.instrument: Instrument = instrument
        self.protection_bps = protection_bps
        self.filled = 0
        self.notional = 0
        self.children = 0
        self.arrival: float | None = None
        self.started = False
        self.finished = False
        self._tape_start: dict[str, tuple[int, int]] = {}
        self._tape_end: dict[str, tuple[int, int]] = {}
        self._own_volume = 0
        for each in self.venues():
            each.subscribe(parent.account, self._on_fill)

    def venues(self) -> list[Venue]:
        """The venues this algorithm trades on (one, except for the router)."""
        return [self.venue]

    @property
    def remaining(self) -> int:
        """Quantity still to execute."""
        return self.parent.quantity - self.filled

    @property
    def is_buy(self) -> bool:
        """Whether the parent order buys."""
        return self.parent.side is Side.BUY

    def step(self, ts_ms: int) -> None:
        """Act at simulated time ``ts_ms``: start, trade, or finish when the window ends."""
        if self.finished or ts_ms < self.parent.start_ms:
            return
        if not self.started:
            self._start(ts_ms)
        if ts_ms >= self.parent.end_ms:
            self._act(ts_ms)
            self.finish(ts_ms)
            return
        if self.remaining > 0:
            self._act(ts_ms)

    def _start(self, ts_ms: int) -> None:
        self.started = True
        venue = self.venue
        mid = venue.mid(self.parent.instrument)
        tape = venue.tape(self.parent.instrument)
        self.arrival = float(mid) if mid is not None else _float(tape.last_price)
        for each in self.venues():
            t = each.tape(self.parent.instrument)
            self._tape_start[each.name] = (t.volume, t.notional)

    def finish(self, ts_ms: int) -> None:
        """Cancel what still rests and freeze the market VWAP window."""
        if self.finished:
            return
        self.finished = True
        for each in self.venues():
            each.submit(MassCancel(ts_ms, self.parent.account, self.parent.instrument))
            t = each.tape(self.parent.instrument)
            self._tape_end[each.name] = (t.volume, t.notional)

    def _act(self, ts_ms: int) -> None:
        raise NotImplementedError

    def _on_fill(self, fill: Fill) -> None:
        if fill.instrument != self.parent.instrument:
            return
        self.filled += fill.quantity
        self.notional += fill.price * fill.quantity
        self._own_volume += fill.quantity

    def market_volume(self) -> int:
        """Quantity traded by everyone else on the instrument since the start."""
        total = 0
        for each in self.venues():
            volume0, _ = self._tape_start.get(each.name, (0, 0))
            total += each.tape(self.parent.instrument).volume - volume0
        return total - self._own_volume

    def _protected_price(self) -> int:
        """The worst price a marketable child accepts: arrival moved by ``protection_bps``."""
        tick = self.instrument.tick_size
        reference = self.arrival or float(self.venue.tape(self.parent.instrument).last_price or 0)
        if self.is_buy:
            worst = reference * (1 + self.protection_bps / 1e4)
            return max(int(worst // tick) * tick, tick)
        worst = reference * (1 - self.protection_bps / 1e4)
        return max(-int(-worst // tick) * tick, tick)

    def _take(self, ts_ms: int, quantity: int, venue: Venue | None = None) -> None:
        """Send a marketable IOC child order for ``quantity`` (rounded down to lots)."""
        lot = self.instrument.lot_size
        quantity = min(quantity, self.remaining) // lot * lot
        if quantity < self.instrument.min_lots * lot:
            return
        quantity = min(quantity, self.instrument.max_lots * lot)
        self.children += 1
        (venue or self.venue).submit(
            NewOrder(
                ts_ms,
                self.parent.account,
                self.parent.instrument,
                self.parent.side,
                quantity,
                price=self._protected_price(),
                order_type=OrderType.MARKET,
                tif=TimeInForce.IOC,
            )
        )

    def report(self) -> ExecutionReport:
        """The execution's figures (market VWAP up to now if it has not finished)."""
        average = self.notional / self.filled if self.filled else None
        volume = notional = 0
        for each in self.venues():
            volume0, notional0 = self._tape_start.get(each.name, (0, 0))
            t = each.tape(self.parent.instrument)
            volume1, notional1 = self._tape_end.get(each.name, (t.volume, t.notional))
            volume += volume1 - volume0
            notional += notional1 - notional0
        vwap = notional / volume if volume else None
        return ExecutionReport(
            algorithm=self.name,
            account=self.parent.account,
            instrument=self.parent.instrument,
            side=str(self.parent.side),
            quantity=self.parent.quantity,
            filled=self.filled,
            children=self.children,
            arrival_price=self.arrival,
            average_price=average,
            market_vwap=vwap,
            slippage_bps=_bps(self.parent.side, average, self.arrival),
            vwap_slippage_bps=_bps(self.parent.side, average, vwap),
            fill_rate=self.filled / self.parent.quantity,
        )


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


class ScheduledAlgo(ExecutionAlgo):
    """Trades towards cumulative targets at evenly spaced slice times."""

    def __init__(
        self, parent: ParentOrder, venue: Venue, targets: Sequence[int], *, protection_bps: int
    ) -> None:
        super().__init__(parent, venue, protection_bps=protection_bps)
        self.targets = list(targets)
        _require(
            self.targets == sorted(self.targets) and self.targets[-1] == parent.quantity,
            "cumulative targets must rise to the parent quantity",
            AgentReason.INVALID_SCHEDULE,
        )
        self.next_slice = 0
        self.executed_at_slice: list[int] = []
        """Filled quantity right after each slice's child order (for schedule checks)."""

    def schedule(self) -> list[tuple[int, int]]:
        """``(slice time in ms, cumulative target)`` for every slice."""
        n = len(self.targets)
        span = self.parent.end_ms - self.parent.start_ms
        return [
            (self.parent.start_ms + (k * span) // n, target)
            for k, target in enumerate(self.targets)
        ]

    def _act(self, ts_ms: int) -> None:
        schedule = self.schedule()
        while self.next_slice < len(schedule) and schedule[self.next_slice][0] <= ts_ms:
            target = schedule[self.next_slice][1]
            self.next_slice += 1
            if self.next_slice < len(schedule) and schedule[self.next_slice][0] <= ts_ms:
                continue
            self._take_to(ts_ms, target)
            self.executed_at_slice.append(self.filled)
        if ts_ms >= self.parent.end_ms and self.remaining > 0:
            # The window is over: one clean-up order for whatever thin books left behind.
            self._take_to(ts_ms, self.parent.quantity)

    def _take_to(self, ts_ms: int, target: int) -> None:
        self._take(ts_ms, target - self.filled)


class Twap(ScheduledAlgo):
    """Time-weighted: equal slices over the window."""

    name = "twap"

    def __init__(
        self, parent: ParentOrder, venue: Venue, *, slices: int = 10, protection_bps: int = 500
    ) -> None:
        _require(slices >= 1, "TWAP needs at least one slice", AgentReason.INVALID_SCHEDULE)
        lot = _lot(venue, parent)
        targets = cumulative_targets(parent.quantity, lot, [1.0] * slices)
        super().__init__(parent, venue, targets, protection_bps=protection_bps)


class Vwap(ScheduledAlgo):
    """Volume-weighted: slices proportional to an expected volume profile over the window."""

    name = "vwap"

    def __init__(
        self,
        parent: ParentOrder,
        venue: Venue,
        *,
        profile: Sequence[float],
        protection_bps: int = 500,
    ) -> None:
        targets = cumulative_targets(parent.quantity, _lot(venue, parent), list(profile))
        super().__init__(parent, venue, targets, protection_bps=protection_bps)


class ImplementationShortfall(ScheduledAlgo):
    """Almgren-Chriss: the mean-variance optimal trajectory for the given impact and risk.

    ``sigma`` is in price units per sqrt(window), ``eta``/``gamma`` in price units per lot (per
    window, for ``eta``) and ``risk_aversion`` per price unit, all in the window's time unit
    (the whole window is 1), so the parameters read as in the paper.
    """

    name = "implementation_shortfall"

    def __init__(
        self,
        parent: ParentOrder,
        venue: Venue,
        *,
        slices: int = 10,
        sigma: float,
        eta: float,
        gamma: float = 0.0,
        risk_aversion: float,
        protection_bps: int = 500,
    ) -> None:
        sizes = ac_trade_list(
            parent.quantity,
            slices,
            _lot(venue, parent),
            sigma=sigma,
            eta=eta,
            gamma=gamma,
            risk_aversion=risk_aversion,
        )
        targets = [sum(sizes[: k + 1]) for k in range(len(sizes))]
        super().__init__(parent, venue, targets, protection_bps=protection_bps)


class Immediate(ExecutionAlgo):
    """The whole parent order as one marketable order at the start: the baseline."""

    name = "market_order"

    def _act(self, ts_ms: int) -> None:
        if self.children == 0:
            self._take(ts_ms, self.parent.quantity)


class Pov(ExecutionAlgo):
    """Participation of volume: keep executed quantity at ``rate`` of everyone else's volume."""

    name = "pov"

    def __init__(
        self, parent: ParentOrder, venue: Venue, *, rate: float = 0.1, protection_bps: int = 500
    ) -> None:
        _require(0 < rate < 1, "the participation rate must be in (0, 1)")
        super().__init__(parent, venue, protection_bps=protection_bps)
        self.rate = rate

    def _act(self, ts_ms: int) -> None:
        target = min(self.parent.quantity, int(self.rate * self.market_volume()))
        self._take(ts_ms, target - self.filled)


def _lot(venue: Venue, parent: ParentOrder) -> int:
    instrument = venue.risk.ledger.instruments.get(parent.instrument)
    _require(instrument is not None, f"{parent.instrument!r} is not listed on {venue.name}")
    assert instrument is not None  # noqa: S101 - narrowing after the check above
    return instrument.lot_size
