"""Risk parameters per underlying: msgspec Structs with defaults, loadable from TOML.

Rates and fractions that enter money are integers in parts per million (``PPM``), so that the
chain can apply them without floats; parameters that only shape a model's scenarios (portfolio
margin) are floats, because they only ever feed the pricing library. Defaults follow Deribit's
published standard-margin formula and a SPAN-like scenario grid; see
``docs/decisions/0002-margin-models.md`` for the reasons behind each number.

A TOML file has one table per underlying; a table's missing keys take their defaults::

    [BTC.standard]
    option_im_ppm = 150000

    [ETH.portfolio]
    price_range = 0.2
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

import msgspec

from optex.core import InvalidInput, NotFound
from optex.risk._reasons import RiskReason


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise InvalidInput(RiskReason.INVALID_PARAMETERS, f"risk parameters: {what}")


class IndexParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How an index is formed from several sources, and how expiry settlement averages it."""

    max_age_ms: int = 10_000
    """A source quote older than this is stale and ignored."""
    outlier_ppm: int = 20_000
    """A source further than this from the median of the fresh sources is dropped (2%)."""
    min_sources: int = 2
    """Fewer agreeing fresh sources than this and there is no index."""
    settlement_window_ms: int = 30 * 60_000
    """Options and futures settle at the average index over this window before expiry."""
    min_settlement_samples: int = 1

    def __post_init__(self) -> None:
        _require(self.max_age_ms > 0, "index.max_age_ms must be positive")
        _require(0 < self.outlier_ppm < 1_000_000, "index.outlier_ppm must be in (0, 1e6)")
        _require(self.min_sources >= 1, "index.min_sources must be at least 1")
        _require(self.settlement_window_ms > 0, "index.settlement_window_ms must be positive")
        _require(self.min_settlement_samples >= 1, "index.min_settlement_samples must be >= 1")


class MarkParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Futures marks: index plus a bounded basis; option marks: an SVI fit per expiry."""

    max_basis_ppm: int = 50_000
    """A future's or perpetual's mark stays within this fraction of the index (5%)."""
    min_quotes: int = 5
    """An expiry's surface is refitted only from at least this many quotes."""
    max_fit_error: float = 0.05
    """A fit whose root-mean-square volatility error exceeds this is refused (keep last good)."""
    trade_weight: float = 2.0
    """Weight of a recent trade's implied volatility relative to a book mid's."""
    rate: float = 0.0
    """Discount rate for option marks (USDC-margined crypto options are priced undiscounted)."""

    def __post_init__(self) -> None:
        _require(0 <= self.max_basis_ppm < 1_000_000, "marks.max_basis_ppm must be in [0, 1e6)")
        _require(self.min_quotes >= 5, "marks.min_quotes must be at least 5 (SVI has 5 params)")
        _require(self.max_fit_error > 0, "marks.max_fit_error must be positive")
        _require(self.trade_weight > 0, "marks.trade_weight must be positive")


class StandardMarginParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Deribit's standard model: fractions of the underlying (options) or notional (futures)."""

    option_im_ppm: int = 150_000
    """Short option initial margin before the out-of-the-money reduction (0.15)."""
    option_im_min_ppm: int = 100_000
    """Floor of the short option initial margin fraction (0.10)."""
    option_mm_ppm: int = 75_000
    """Short option maintenance margin fraction (0.075)."""
    future_im_ppm: int = 20_000
    """Futures and perpetual initial margin fraction of notional at zero size (2%)."""
    future_mm_ppm: int = 10_000
    """Futures and perpetual maintenance margin fraction at zero size (1%)."""
    future_growth_ppm: int = 50
    """Both fractions grow by this much per whole underlying of position (0.005% per BTC)."""
    future_max_ppm: int = 1_000_000
    """The fractions never exceed this (100%: the whole notional)."""

    def __post_init__(self) -> None:
        _require(
            0 < self.option_im_min_ppm <= self.option_im_ppm <= 1_000_000,
            "standard: need 0 < option_im_min_ppm <= option_im_ppm <= 1e6",
        )
        _require(
            0 < self.option_mm_ppm <= self.option_im_min_ppm,
            "standard: need 0 < option_mm_ppm <= option_im_min_ppm",
        )
        _require(
            0 < self.future_mm_ppm <= self.future_im_ppm <= self.future_max_ppm <= 1_000_000,
            "standard: need 0 < future_mm_ppm <= future_im_ppm <= future_max_ppm <= 1e6",
        )
        _require(self.future_growth_ppm >= 0, "standard.future_growth_ppm must be >= 0")


class PortfolioMarginParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The scenario grid of portfolio margin (Deribit's portfolio margin, CME SPAN)."""

    price_range: float = 0.16
    """Underlying moves span ``±price_range``..."""
    price_steps: int = 8
    """...in this many equal steps each side (8: ±2%, ±4%, ... ±16%, and 0)."""
    vol_up: float = 0.30
    """Relative implied-volatility shock up at the reference expiry (+30%)."""
    vol_down: float = 0.20
    """Relative implied-volatility shock down at the reference expiry (-20%)."""
    vol_reference_days: float = 30.0
    vol_power: float = 0.3
    """Shocks scale as ``(reference_days / days) ** vol_power``: larger for short expiries."""
    vol_up_cap: float = 1.5
    vol_down_cap: float = 0.6
    extended_moves: tuple[float, ...] = (-0.5, -0.33, 0.33, 0.5)
    """Extreme moves, revalued at unchanged volatility..."""
    extended_weight: float = 0.35
    """...of which only this fraction of the loss is required (SPAN's extreme scenarios)."""
    short_option_contingency_ppm: int = 10_000
    """Added per short option: this fraction of the underlying's index value (1%)."""
    mm_fraction_ppm: int = 800_000
    """Maintenance margin is this fraction of the initial requirement (80%)."""
    min_vol: float = 0.01

    def __post_init__(self) -> None:
        _require(0 < self.price_range < 1, "portfolio.price_range must be in (0, 1)")
        _require(self.price_steps >= 1, "portfolio.price_steps must be at least 1")
        _require(self.vol_up >= 0 and self.vol_down >= 0, "portfolio vol shocks must be >= 0")
        _require(self.vol_reference_days > 0, "portfolio.vol_reference_days must be positive")
        _require(self.vol_power >= 0, "portfolio.vol_power must be >= 0")
        _require(0 <= self.vol_down_cap < 1, "portfolio.vol_down_cap must be in [0, 1)")
        _require(self.vol_up_cap >= self.vol_up, "portfolio.vol_up_cap must be >= vol_up")
        _require(all(m > -1 for m in self.extended_moves), "extended moves must be above -100%")
        _require(0 <= self.extended_weight <= 1, "portfolio.extended_weight must be in [0, 1]")
        _require(self.short_option_contingency_ppm >= 0, "contingency must be >= 0")
        _require(0 < self.mm_fraction_ppm <= 1_000_000, "mm_fraction_ppm must be in (0, 1e6]")
        _require(self.min_vol > 0, "portfolio.min_vol must be positive")


class FundingParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Perpetual funding: every ``interval_ms``, from the premium index, clamped."""

    interval_ms: int = 8 * 3_600_000
    interest_ppm: int = 100
    """Interest component per interval (0.01% per 8 hours)."""
    damper_ppm: int = 500
    """The rate is the premium unless it is within ``±damper`` of the interest (0.05%)."""
    cap_ppm: int = 5_000
    """The rate per interval is clamped to ``±cap`` (0.5%)."""

    def __post_init__(self) -> None:
        _require(self.interval_ms > 0, "funding.interval_ms must be positive")
        _require(self.damper_ppm >= 0, "funding.damper_ppm must be >= 0")
        _require(0 < self.cap_ppm < 1_000_000, "funding.cap_ppm must be in (0, 1e6)")


class FeeParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Trading fees (Deribit's schedule): options on the underlying, capped by the premium."""

    option_maker_ppm: int = 300
    option_taker_ppm: int = 300
    """Option fees are this fraction of the underlying's index value per unit (0.03%)..."""
    option_cap_ppm: int = 125_000
    """...but never more than this fraction of the premium (12.5%)."""
    future_maker_ppm: int = 0
    future_taker_ppm: int = 500
    """Futures and perpetual fees are a fraction of the traded notional (0.05%)."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            _require(0 <= getattr(self, name) < 1_000_000, f"fees.{name} must be in [0, 1e6)")


class LiquidationParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How an account below maintenance is reduced: bounded steps, a penalty, a price band."""

    step_ppm: int = 250_000
    """At most this fraction of a position is sent to the book per liquidation order (25%)."""
    price_band_ppm: int = 50_000
    """A liquidation order's limit is the mark worsened by at most this fraction (5%)."""
    option_price_band_ppm: int = 500_000
    """Options are less liquid: their band is wider (50% of the option's mark)."""
    penalty_ppm: int = 5_000
    """Penalty to the insurance fund: this fraction of the liquidated underlying value (0.5%)."""
    max_steps: int = 64
    """A liquidation run stops after this many orders (the next run continues)."""

    def __post_init__(self) -> None:
        _require(0 < self.step_ppm <= 1_000_000, "liquidation.step_ppm must be in (0, 1e6]")
        _require(0 < self.price_band_ppm < 1_000_000, "liquidation.price_band_ppm in (0, 1e6)")
        _require(0 < self.option_price_band_ppm < 1_000_000, "option_price_band_ppm in (0, 1e6)")
        _require(0 <= self.penalty_ppm < 1_000_000, "liquidation.penalty_ppm in [0, 1e6)")
        _require(self.max_steps >= 1, "liquidation.max_steps must be at least 1")


class RiskParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every risk parameter of one underlying."""

    index: IndexParams = msgspec.field(default_factory=IndexParams)
    marks: MarkParams = msgspec.field(default_factory=MarkParams)
    standard: StandardMarginParams = msgspec.field(default_factory=StandardMarginParams)
    portfolio: PortfolioMarginParams = msgspec.field(default_factory=PortfolioMarginParams)
    funding: FundingParams = msgspec.field(default_factory=FundingParams)
    fees: FeeParams = msgspec.field(default_factory=FeeParams)
    liquidation: LiquidationParams = msgspec.field(default_factory=LiquidationParams)


def load_params(text: str) -> dict[str, RiskParams]:
    """Parameters per underlying from TOML text (one table per underlying), or a clear error."""
    try:
        data: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(RiskReason.INVALID_PARAMETERS, f"risk parameters: {exc}") from exc
    try:
        return msgspec.convert(data, dict[str, RiskParams])
    except msgspec.ValidationError as exc:
        raise InvalidInput(RiskReason.INVALID_PARAMETERS, f"risk parameters: {exc}") from exc


def params_for(params: Mapping[str, RiskParams], underlying: str) -> RiskParams:
    """The parameters of ``underlying``, or a clear error naming what is configured."""
    try:
        return params[underlying]
    except KeyError:
        known = ", ".join(sorted(params)) or "none"
        raise NotFound(
            RiskReason.UNKNOWN_UNDERLYING,
            f"no risk parameters for {underlying!r}; configured: {known}",
        ) from None
