"""The simulation loop: one clock, one generator, the real matching and risk engines.

Each step of ``step_ms`` simulated milliseconds: the index moves along the seeded path; the
risk engine's prices (index, perpetual mark, option marks from the flat-volatility surface
priced with Black-76) are refreshed; the liquidity providers requote the perpetual; the market
maker requotes and hedges; noise and informed traders arrive; the execution algorithms act; and
every ``record_ms`` a sample of the market maker's P&L, inventory and greeks is taken. Nothing
reads the wall clock and every random draw comes from the one ``numpy.random.Generator``, in a
fixed order, so a scenario and a seed give the same report on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np

from optex.agents import (
    ExecutionAlgo,
    Iceberg,
    Immediate,
    ImplementationShortfall,
    MarketMaker,
    ParentOrder,
    PassiveAggressive,
    Pov,
    SmartRouter,
    Twap,
    Venue,
    Vwap,
)
from optex.core import Instrument, OptionType, asset, instrument_from_name
from optex.market import AddInstrument, MatchingEngine, PriceSource, Side, UpdatePrice
from optex.pricing import SviParams
from optex.risk import (
    FeeParams,
    Ledger,
    Mark,
    Prices,
    RiskEngine,
    RiskParams,
    add_instrument,
    deposit,
    option_marks,
)
from optex.sim._config import AlgoConfig, Scenario
from optex.sim._flow import InformedTraders, LiquidityProvider, NoiseTraders
from optex.sim._paths import simulate_path
from optex.sim._report import McSample, Report, build_report

MS_PER_YEAR = 365.0 * 24 * 3600 * 1000
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_RICH = 10**15
"""Deposit (base units) of the flow accounts: they are not what is being measured."""

Progress = Callable[[int, int], None]


def option_chain(scenario: Scenario) -> list[Instrument]:
    """The scenario's options: calls and puts for each expiry and strike, sorted by name."""
    names: list[str] = []
    half = scenario.chain.strikes_per_expiry // 2
    step = scenario.chain.strike_step
    centre = round(scenario.spot / step) * step
    for days in scenario.chain.expiry_days:
        day = (scenario.start + timedelta(days=days)).date()
        code = f"{day.day}{_MONTHS[day.month - 1]}{day.year % 100:02d}"
        for k in range(scenario.chain.strikes_per_expiry):
            strike = centre + (k - half) * step
            if strike <= 0:
                continue
            names += [f"{scenario.underlying}-{code}-{strike}-C"]
            names += [f"{scenario.underlying}-{code}-{strike}-P"]
    return sorted((instrument_from_name(n) for n in names), key=lambda i: i.name)


class Simulation:
    """A scenario wired to engines and agents, run step by step."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int | None = None,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        """Wire ``scenario``; randomness comes from ``rng`` if given, else from
        ``numpy.random.default_rng(seed)`` (``seed`` defaulting to the scenario's)."""
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.rng = rng if rng is not None else np.random.default_rng(self.seed)
        s = scenario
        self.usdc = asset("USDC").scale
        self.perp = instrument_from_name(f"{s.underlying}-PERPETUAL")
        self.options = option_chain(s)
        self.vol = s.chain.vol if s.chain.vol is not None else s.model.vol
        self.start_ms = s.start_ms
        steps = s.steps
        dt_years = s.step_ms / MS_PER_YEAR
        self.path = simulate_path(s.model, float(s.spot), dt_years, steps, self.rng)
        instruments = [self.perp, *self.options]
        self.venues: list[Venue] = []
        for config in s.venues:
            # Makers trade free, so that the market maker's edge is its spread; takers pay the
            # venue's perpetual fee (what the router weighs) and the default option fee.
            fees = FeeParams(
                option_maker_ppm=0, future_maker_ppm=0, future_taker_ppm=config.taker_fee_ppm
            )
            params = {s.underlying: RiskParams(fees=fees)}
            ledger = Ledger()
            for instrument in instruments:
                add_instrument(ledger, instrument)
            risk = RiskEngine(params, ledger, Prices(ts_ms=self.start_ms))
            engine = MatchingEngine(pre_trade=risk)
            venue = Venue(config.name, engine, risk)
            listed = instruments if not self.venues else [self.perp]
            for instrument in listed:
                venue.submit(AddInstrument(self.start_ms, instrument))
            self.venues.append(venue)
        self.home = self.venues[0]
        self._update_prices(self.start_ms, 0)
        mm = s.market_maker
        deposit(self.home.risk.ledger, mm.account, s.mm_deposit * self.usdc)
        self.market_maker = MarketMaker(mm, self.home, self.options, self.perp)
        self.market_maker.start(self.start_ms)
        self.providers = [
            LiquidityProvider(venue, config, self.perp)
            for venue, config in zip(self.venues, s.venues, strict=True)
        ]
        for provider in self.providers:
            deposit(provider.venue.risk.ledger, provider.account, _RICH)
            provider.start(self.start_ms)
        duration_ms = steps * s.step_ms
        self.noise = NoiseTraders(self.home, s.noise, self.options, self.perp, duration_ms)
        self.informed = InformedTraders(self.home, s.informed, self.perp, s.step_ms)
        for account in (self.noise.account, self.informed.account):
            deposit(self.home.risk.ledger, account, _RICH)
        self._atm = (self._instrument("atm_call"), self._instrument("atm_put"))
        self.algos = [self._algo(i, config) for i, config in enumerate(s.algos)]
        self.samples: list[McSample] = []
        self.steps_done = 0

    # Wiring -----------------------------------------------------------------------------------

    def _instrument(self, which: str) -> Instrument:
        if which == "perpetual":
            return self.perp
        if which in ("atm_call", "atm_put"):
            kind = OptionType.CALL if which == "atm_call" else OptionType.PUT
            spot = self.scenario.spot * self.usdc
            candidates = [o for o in self.options if o.option_type is kind]
            return min(candidates, key=lambda o: (o.expiry_ms, abs((o.strike or 0) - spot)))
        return instrument_from_name(which)

    def _algo(self, i: int, config: AlgoConfig) -> ExecutionAlgo:
        instrument = self._instrument(config.instrument)
        account = f"algo-{i}-{config.kind}"
        start = self.start_ms + int(config.start_s * 1000)
        parent = ParentOrder(
            account,
            instrument.name,
            Side(config.side),
            config.lots * instrument.lot_size,
            start,
            start + int(config.duration_s * 1000),
        )
        for venue in self.venues:
            deposit(venue.risk.ledger, account, _RICH)
        home = self.home
        if config.kind == "twap":
            return Twap(parent, home, slices=config.slices)
        if config.kind == "vwap":
            return Vwap(parent, home, profile=config.profile)
        if config.kind == "pov":
            return Pov(parent, home, rate=config.rate)
        if config.kind == "iceberg":
            return Iceberg(parent, home, display_lots=config.display_lots)
        if config.kind == "implementation_shortfall":
            return ImplementationShortfall(
                parent,
                home,
                slices=config.slices,
                sigma=config.sigma,
                eta=config.eta,
                gamma=config.gamma,
                risk_aversion=config.risk_aversion,
            )
        if config.kind == "passive_aggressive":
            return PassiveAggressive(
                parent, home, steps=config.steps, step_ms=int(config.step_s * 1000)
            )
        if config.kind == "smart_router":
            fees = {v.name: v.taker_fee_ppm for v in self.scenario.venues}
            return SmartRouter(parent, self.venues, fees_ppm=fees, slices=config.slices)
        return Immediate(parent, home)

    # Prices -----------------------------------------------------------------------------------

    def index_at(self, i: int) -> int:
        """The index at step ``i`` in settlement base units."""
        return round(float(self.path[i]) * self.usdc)

    def smile(self, t: float) -> SviParams:
        """The raw SVI smile of maturity ``t`` years, at-the-money variance ``vol^2`` exactly.

        ``w(k) = a + b t (rho k + sqrt(k^2 + s^2))`` with ``a = vol^2 t - b t s``: the wings'
        slope grows with maturity, so total variance rises with ``t`` at every strike.
        """
        c = self.scenario.chain
        b = c.skew * t
        return SviParams(
            a=self.vol * self.vol * t - b * c.skew_sigma,
            b=b,
            rho=c.skew_rho,
            m=0.0,
            sigma=c.skew_sigma,
        )

    def _update_prices(self, ts_ms: int, i: int) -> dict[str, Mark]:
        index = self.index_at(i)
        marks: dict[str, Mark] = {self.perp.name: Mark(price=index)}
        by_expiry: dict[int, list[Instrument]] = {}
        for option in self.options:
            by_expiry.setdefault(option.expiry_ms or 0, []).append(option)
        for expiry, group in by_expiry.items():
            t = max(expiry - ts_ms, 0) / MS_PER_YEAR
            smile = self.smile(t)
            marks.update(option_marks(group, smile, forward=float(index), now_ms=ts_ms))
        for venue in self.venues:
            prices = venue.risk.prices
            prices.index[self.scenario.underlying] = index
            prices.marks.update(marks)
            prices.ts_ms = ts_ms
        self.marks = marks
        return marks

    def _publish_marks(self, ts_ms: int) -> None:
        """Tell the engines the marks, with option deltas for market maker protection."""
        for venue in self.venues:
            for name, mark in self.marks.items():
                if name != self.perp.name and venue is not self.home:
                    continue
                delta = None if name == self.perp.name else round(mark.delta * 1_000_000)
                venue.submit(UpdatePrice(ts_ms, name, PriceSource.MARK, mark.price, delta))

    # Running ----------------------------------------------------------------------------------

    def step(self, i: int) -> None:
        """Run step ``i`` (1-based: the index has made ``i`` moves)."""
        s = self.scenario
        ts = self.start_ms + i * s.step_ms
        marks = self._update_prices(ts, i)
        if (i - 1) % max(s.record_ms // s.step_ms, 1) == 0:
            self._publish_marks(ts)
        index = self.index_at(i)
        for provider in self.providers:
            provider.step(ts, index)
        self.market_maker.step(ts, index, self.vol, marks)
        dt_s = s.step_ms / 1000
        self.noise.step(ts, (i - 1) * s.step_ms, dt_s, marks, self.rng)
        self.informed.step(ts, i, dt_s, path=self.path, atm=self._atm, rng=self.rng)
        for algo in self.algos:
            algo.step(ts)
        if i % max(s.record_ms // s.step_ms, 1) == 0 or i == s.steps:
            self._record(ts, i)
        self.steps_done = i

    def _record(self, ts_ms: int, i: int) -> None:
        mm = self.market_maker
        risk = self.home.risk
        account = mm.params.account
        pnl = (risk.equity(account) - self.scenario.mm_deposit * self.usdc) / self.usdc
        greeks = mm.greeks(self.marks)
        held = risk.ledger.accounts[account].positions
        option_lots = [held[o.name].quantity // o.lot_size for o in self.options if o.name in held]
        perp = held.get(self.perp.name)
        self.samples.append(
            McSample(
                t_s=(ts_ms - self.start_ms) / 1000,
                index=self.index_at(i) / self.usdc,
                pnl=pnl,
                spread_pnl=mm.spread_pnl,
                net_option_lots=sum(option_lots),
                gross_option_lots=sum(abs(q) for q in option_lots),
                max_option_lots=max((abs(q) for q in option_lots), default=0),
                perp_position=(perp.quantity if perp else 0) / asset(self.perp.underlying).scale,
                delta=greeks.delta,
                gamma=greeks.gamma,
                vega=greeks.vega,
                theta=greeks.theta,
            )
        )

    def run(self, progress: Progress | None = None) -> Report:
        """Run every step, finish the algorithms and build the report."""
        total = self.scenario.steps
        for i in range(self.steps_done + 1, total + 1):
            self.step(i)
            if progress is not None:
                progress(i, total)
        end = self.start_ms + total * self.scenario.step_ms
        for algo in self.algos:
            algo.finish(end)
        return build_report(self)

    @property
    def events(self) -> int:
        """Events produced by every venue so far."""
        return sum(v.events for v in self.venues)


def run_scenario(
    scenario: Scenario, seed: int | None = None, progress: Progress | None = None
) -> Report:
    """Run ``scenario`` (with ``seed`` instead of its own, if given) and report."""
    return Simulation(scenario, seed).run(progress)
