"""Order flow around the market maker: liquidity on the perpetual, noise and informed traders.

Arrivals are Poisson: in a step of ``dt`` seconds a flow with intensity ``rate`` sends
``Poisson(rate x dt)`` orders, every draw from the simulation's one generator, in a fixed order,
so that the same seed gives the same flow. Noise traders pick side, size and instrument at
random; informed traders see the index ``lookahead`` ahead and trade only when the coming move
exceeds their threshold, which is what makes a market maker's spread pay for adverse selection.
The liquidity provider keeps a ladder of quotes on the perpetual around the index, so that the
execution algorithms meet a book with depth (and a market order pays for walking it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from optex.agents import Venue
from optex.core import Instrument, InstrumentKind
from optex.market import (
    MassQuote,
    NewOrder,
    OrderType,
    Quote,
    SetMmpConfig,
    Side,
    TimeInForce,
)
from optex.risk import Mark
from optex.sim._config import InformedConfig, NoiseConfig, VenueConfig


class LiquidityProvider:
    """A ladder of ``levels`` quotes each side of the index on the perpetual, one MMP group per
    level (a mass quote holds one price per side and instrument)."""

    def __init__(self, venue: Venue, config: VenueConfig, perp: Instrument) -> None:
        self.venue = venue
        self.config = config
        self.perp = perp
        self.account = f"lp-{venue.name}"

    def start(self, ts_ms: int) -> None:
        """Configure a group per level with limits it never reaches."""
        for level in range(self.config.levels):
            self.venue.submit(
                SetMmpConfig(
                    ts_ms,
                    self.account,
                    f"L{level}",
                    interval_ms=1,
                    frozen_ms=1,
                    quantity_limit=10**15,
                    delta_limit=10**15,
                )
            )

    def step(self, ts_ms: int, index: int) -> None:
        """Requote the ladder around ``index``."""
        tick = self.perp.tick_size
        centre = index // tick * tick
        size = self.config.level_lots * self.perp.lot_size
        for level in range(self.config.levels):
            offset = (self.config.spread_ticks + level * self.config.step_ticks) * tick
            quote = Quote(self.perp.name, centre - offset, size, centre + offset, size)
            self.venue.submit(MassQuote(ts_ms, self.account, f"L{level}", (quote,)))


class NoiseTraders:
    """Uninformed flow on the options and the perpetual."""

    account = "noise"

    def __init__(
        self,
        venue: Venue,
        config: NoiseConfig,
        options: Sequence[Instrument],
        perp: Instrument,
        duration_ms: int,
    ) -> None:
        self.venue = venue
        self.config = config
        self.options = list(options)
        self.perp = perp
        self.duration_ms = duration_ms
        profile = np.asarray(config.volume_profile, dtype=np.float64)
        self._profile = profile * profile.size / profile.sum()
        self.arrivals = 0
        """Orders that arrived (Poisson draws), including limits that could not be priced."""

    def step(
        self,
        ts_ms: int,
        elapsed_ms: int,
        dt_s: float,
        marks: dict[str, Mark],
        rng: np.random.Generator,
    ) -> None:
        """Send this step's Poisson arrivals."""
        bucket = min(elapsed_ms * self._profile.size // self.duration_ms, self._profile.size - 1)
        perp_rate = self.config.perp_rate * float(self._profile[bucket])
        option_rate = self.config.option_rate if self.options else 0.0
        n_perp = int(rng.poisson(perp_rate * dt_s))
        n_option = int(rng.poisson(option_rate * dt_s))
        self.arrivals += n_perp + n_option
        for _ in range(n_perp):
            self._order(ts_ms, self.perp, marks, rng)
        for _ in range(n_option):
            option = self.options[int(rng.integers(len(self.options)))]
            self._order(ts_ms, option, marks, rng)

    def _order(
        self, ts_ms: int, instrument: Instrument, marks: dict[str, Mark], rng: np.random.Generator
    ) -> None:
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        quantity = int(rng.integers(1, self.config.max_lots + 1)) * instrument.lot_size
        if instrument.kind is InstrumentKind.PERPETUAL:
            quantity *= 10
        marketable = rng.random() < self.config.market_share
        offset = int(rng.integers(0, self.config.limit_offset_ticks + 1))
        mark = marks.get(instrument.name)
        if mark is None:
            return
        tick = instrument.tick_size
        if marketable:
            order = NewOrder(
                ts_ms,
                self.account,
                instrument.name,
                side,
                quantity,
                order_type=OrderType.MARKET,
                tif=TimeInForce.IOC,
            )
        else:
            ticks = (
                mark.price // tick - offset if side is Side.BUY else -(-mark.price // tick) + offset
            )
            if ticks < 1:
                return
            order = NewOrder(
                ts_ms,
                self.account,
                instrument.name,
                side,
                quantity,
                price=ticks * tick,
                tif=TimeInForce.GTD,
                expire_ts_ms=ts_ms + self.config.limit_lifetime_ms,
            )
        self.venue.submit(order)


class InformedTraders:
    """Traders who know where the index will be ``lookahead`` from now."""

    account = "informed"

    def __init__(
        self, venue: Venue, config: InformedConfig, perp: Instrument, step_ms: int
    ) -> None:
        self.venue = venue
        self.config = config
        self.perp = perp
        self.ahead = max(int(config.lookahead_s * 1000) // step_ms, 1)
        self.trades = 0

    def step(
        self,
        ts_ms: int,
        i: int,
        dt_s: float,
        *,
        path: npt.NDArray[np.float64],
        atm: tuple[Instrument, Instrument] | None,
        rng: np.random.Generator,
    ) -> None:
        """Send this step's arrivals that see a move beyond the threshold."""
        arrivals = int(rng.poisson(self.config.rate * dt_s)) if self.config.rate else 0
        if arrivals == 0:
            return
        future = path[min(i + self.ahead, path.size - 1)]
        move_bps = (future / path[i] - 1.0) * 1e4
        if abs(move_bps) <= self.config.threshold_bps:
            return
        up = move_bps > 0
        for _ in range(arrivals):
            use_option = atm is not None and rng.random() < self.config.option_share
            if use_option and atm is not None:
                instrument, side = (atm[0] if up else atm[1]), Side.BUY
            else:
                instrument, side = self.perp, Side.BUY if up else Side.SELL
            lots = self.config.lots * (10 if instrument is self.perp else 1)
            self.trades += 1
            self.venue.submit(
                NewOrder(
                    ts_ms,
                    self.account,
                    instrument.name,
                    side,
                    lots * instrument.lot_size,
                    order_type=OrderType.MARKET,
                    tif=TimeInForce.IOC,
                )
            )
