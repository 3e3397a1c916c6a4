"""A scenario: everything a simulation needs, as msgspec Structs loaded from TOML.

Every table has defaults, so an empty file is a valid (small) scenario; unknown keys are
refused, so a typo is an error rather than a silently ignored setting. Money in the file is in
whole USDC and sizes in lots, the units a person thinks in; the simulation converts them to base
units once.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from optex.agents import AgentReason, MarketMakerParams
from optex.core import InvalidInput
from optex.sim._paths import Gbm, PriceModel

_DEFAULT_START = datetime(2026, 11, 23, tzinfo=UTC)


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise InvalidInput(AgentReason.INVALID_SCENARIO, f"scenario: {what}")


class ChainConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The option chain: expiries ``expiry_days`` after the start, strikes around the spot."""

    expiry_days: list[int] = msgspec.field(default_factory=lambda: [7, 28])
    strikes_per_expiry: int = 11
    """Strikes per expiry, centred on the spot; each gets a call and a put."""
    strike_step: int = 2_000
    """USDC between neighbouring strikes."""
    vol: float | None = None
    """At-the-money implied volatility of the surface (default: the model's volatility)."""
    skew: float = 0.0
    """Raw SVI ``b`` per year of maturity: the wings' slope (0: a flat surface)."""
    skew_rho: float = -0.5
    """Raw SVI ``rho``: negative makes puts dearer than calls, as in crypto and equity."""
    skew_sigma: float = 0.1
    """Raw SVI ``sigma``: how rounded the smile is at the money."""

    def __post_init__(self) -> None:
        _require(bool(self.expiry_days), "chain.expiry_days must not be empty")
        _require(all(d >= 1 for d in self.expiry_days), "chain.expiry_days must be >= 1")
        _require(len(set(self.expiry_days)) == len(self.expiry_days), "expiry_days repeat")
        _require(self.strikes_per_expiry >= 1, "chain.strikes_per_expiry must be >= 1")
        _require(self.strike_step > 0, "chain.strike_step must be positive")
        _require(self.vol is None or self.vol > 0, "chain.vol must be positive")
        _require(self.skew >= 0 and self.skew_sigma > 0, "chain.skew must be >= 0, sigma > 0")
        _require(-1 < self.skew_rho < 1, "chain.skew_rho must be in (-1, 1)")


class NoiseConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Uninformed traders: Poisson arrivals, random side, size and instrument."""

    option_rate: float = 0.5
    """Option orders per second."""
    perp_rate: float = 1.0
    """Perpetual orders per second (before the volume profile)."""
    market_share: float = 0.5
    """Share of orders that are marketable (IOC market orders); the rest rest as GTD limits."""
    max_lots: int = 3
    limit_offset_ticks: int = 10
    limit_lifetime_ms: int = 30_000
    volume_profile: list[float] = msgspec.field(default_factory=lambda: [1.0])
    """Relative perpetual arrival intensity over the scenario, in equal buckets."""

    def __post_init__(self) -> None:
        _require(self.option_rate >= 0 and self.perp_rate >= 0, "noise rates must be >= 0")
        _require(0 <= self.market_share <= 1, "noise.market_share must be in [0, 1]")
        _require(self.max_lots >= 1 and self.limit_offset_ticks >= 0, "noise sizes invalid")
        _require(self.limit_lifetime_ms > 0, "noise.limit_lifetime_ms must be positive")
        _require(
            bool(self.volume_profile)
            and min(self.volume_profile) >= 0
            and sum(self.volume_profile) > 0,
            "noise.volume_profile must be non-negative with a positive sum",
        )


class InformedConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Traders who see the index ``lookahead_s`` ahead and trade when the move is large."""

    rate: float = 0.0
    """Arrivals per second."""
    lookahead_s: float = 30.0
    threshold_bps: float = 5.0
    lots: int = 2
    option_share: float = 0.5
    """Share of informed orders sent to the at-the-money option rather than the perpetual."""

    def __post_init__(self) -> None:
        _require(self.rate >= 0 and self.lookahead_s > 0, "informed rate/lookahead invalid")
        _require(self.threshold_bps >= 0 and self.lots >= 1, "informed threshold/lots invalid")
        _require(0 <= self.option_share <= 1, "informed.option_share must be in [0, 1]")


class VenueConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A venue with a liquidity provider's ladder on the perpetual around the index."""

    name: str = "main"
    taker_fee_ppm: int = 500
    spread_ticks: int = 2
    """Distance of the best level from the index, in ticks."""
    step_ticks: int = 2
    levels: int = 10
    level_lots: int = 200
    """Lots at each level (a lot of BTC-PERPETUAL is 0.0001 BTC)."""

    def __post_init__(self) -> None:
        _require(bool(self.name), "venue name must not be empty")
        _require(0 <= self.taker_fee_ppm < 1_000_000, "venue taker_fee_ppm must be in [0, 1e6)")
        _require(self.spread_ticks >= 1 and self.step_ticks >= 1, "venue ticks must be >= 1")
        _require(self.levels >= 1 and self.level_lots >= 1, "venue levels/lots must be >= 1")


AlgoKind = Literal[
    "twap",
    "vwap",
    "pov",
    "iceberg",
    "implementation_shortfall",
    "passive_aggressive",
    "smart_router",
    "market_order",
]


class AlgoConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One execution algorithm's parent order and parameters (unused ones are ignored)."""

    kind: AlgoKind
    instrument: str = "perpetual"
    """``perpetual``, ``atm_call``, ``atm_put`` or an instrument name."""
    side: Literal["buy", "sell"] = "buy"
    lots: int = 100
    start_s: float = 0.0
    duration_s: float = 300.0
    slices: int = 10
    profile: list[float] = msgspec.field(default_factory=lambda: [1.0])
    rate: float = 0.1
    display_lots: int = 5
    steps: int = 5
    step_s: float = 10.0
    sigma: float = 1.0
    eta: float = 1.0
    gamma: float = 0.0
    risk_aversion: float = 1.0

    def __post_init__(self) -> None:
        _require(self.lots >= 1, "algo lots must be >= 1")
        _require(self.start_s >= 0 and self.duration_s > 0, "algo start/duration invalid")


class Scenario(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A whole simulated market: price model, chain, agents, flow and algorithms."""

    name: str = "scenario"
    seed: int = 0
    start: datetime = _DEFAULT_START
    duration_s: float = 600.0
    step_ms: int = 1_000
    record_ms: int = 10_000
    underlying: str = "BTC"
    spot: int = 100_000
    """Starting index in whole USDC."""
    model: PriceModel = msgspec.field(default_factory=Gbm)
    chain: ChainConfig = msgspec.field(default_factory=ChainConfig)
    market_maker: MarketMakerParams = msgspec.field(default_factory=MarketMakerParams)
    mm_deposit: int = 50_000_000
    """The market maker's deposit in whole USDC."""
    noise: NoiseConfig = msgspec.field(default_factory=NoiseConfig)
    informed: InformedConfig = msgspec.field(default_factory=InformedConfig)
    venues: list[VenueConfig] = msgspec.field(default_factory=lambda: [VenueConfig()])
    algos: list[AlgoConfig] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        _require(self.duration_s > 0, "duration_s must be positive")
        _require(self.step_ms > 0 and self.record_ms >= self.step_ms, "step/record ms invalid")
        _require(self.spot > 0 and self.mm_deposit > 0, "spot and mm_deposit must be positive")
        _require(self.start.tzinfo is not None, "start must carry a time zone (e.g. Z)")
        _require(bool(self.venues), "at least one venue is needed")
        vol = self.chain.vol if self.chain.vol is not None else self.model.vol
        c = self.chain
        lowest = vol * vol - c.skew * c.skew_sigma * (1 - (1 - c.skew_rho**2) ** 0.5)
        _require(lowest > 0, "chain.skew is too steep: the smile's variance would go negative")
        names = [v.name for v in self.venues]
        _require(len(set(names)) == len(names), "venue names repeat")

    @property
    def steps(self) -> int:
        """Simulation steps of ``step_ms`` in the scenario."""
        return max(int(self.duration_s * 1000) // self.step_ms, 1)

    @property
    def start_ms(self) -> int:
        """Start time in milliseconds since the Unix epoch."""
        return int(self.start.timestamp() * 1000)


def parse_scenario(data: Any) -> Scenario:
    """A scenario from decoded TOML (a dict), or a clear error naming the bad field."""
    try:
        return msgspec.convert(data, Scenario, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(AgentReason.INVALID_SCENARIO, f"scenario: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario TOML file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            AgentReason.INVALID_SCENARIO, f"cannot read scenario {path}: {exc.strerror}"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(AgentReason.INVALID_SCENARIO, f"{path}: {exc}") from None
    return parse_scenario(data)
