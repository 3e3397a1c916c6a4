"""An option market maker: Avellaneda-Stoikov quoting of a whole chain, hedged with the perpetual.

Avellaneda and Stoikov (2008) quote one asset around a reservation price ``r = s - q gamma
sigma^2 (T - t)`` with a total spread ``gamma sigma^2 (T - t) + (2 / gamma) ln(1 + gamma / k)``.
For an option book the inventory is not a count of one asset but the portfolio's exposure: its
delta ``D`` (whole underlying) and vega ``V`` (per 1.00 of volatility). Over a horizon ``tau`` the
portfolio's P&L variance is about ``(D S sigma)^2 tau + (V omega)^2 tau`` (``omega`` the
volatility of volatility), and one more unit of option ``i`` changes it by
``2 tau (D delta_i S^2 sigma^2 + V nu_i omega^2)``. Half of ``gamma`` times that is the
reservation shift, so for option ``i`` with model value ``v_i``::

    r_i = v_i - gamma tau (D delta_i S^2 sigma^2 + V nu_i omega^2)
    h_i = gamma/2 (delta_i^2 S^2 sigma^2 tau + nu_i^2 omega^2 tau + Gamma_i^2 S^4 sigma^4 tau^2 / 2)
          + (1 / gamma) ln(1 + gamma / k)

The half-spread ``h_i`` is the risk of holding one unit alone (delta, vega and the gamma term
``Var(Gamma dS^2 / 2)``) plus the Avellaneda-Stoikov liquidity term, so it widens with vega and
gamma; the reservation price skews every quote against the inventory. Bids round down and asks
up onto the tick grid. Money inside the model is USDC as float; quotes leave as integers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

from optex.agents._errors import AgentReason
from optex.agents._venue import Venue
from optex.core import Instrument, InvalidInput, OptexError, asset
from optex.market import (
    Event,
    Fill,
    MassQuote,
    MmpTriggered,
    NewOrder,
    OrderType,
    Quote,
    SetMmpConfig,
    Side,
    TimeInForce,
)
from optex.risk import Mark

MS_PER_YEAR = 365.0 * 24 * 3600 * 1000


class MarketMakerParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the market maker quotes, hedges and limits itself (a table of a scenario file)."""

    account: str = "mm"
    mmp_group: str = "mm"
    quote_lots: int = 1
    """Lots shown on each side of each option."""
    risk_aversion: float = 1e-4
    """Avellaneda-Stoikov gamma, per USDC."""
    arrival_decay: float = 0.1
    """Avellaneda-Stoikov k, per USDC: how fast fill intensity falls with distance from fair."""
    horizon_s: float = 3600.0
    """tau: the inventory holding horizon the risk terms are computed over."""
    vol_of_vol: float = 1.0
    """omega: annualised volatility of implied volatility, for the vega terms."""
    min_half_spread_ticks: int = 1
    max_position_lots: int = 10
    """Per option: the side that would grow a position beyond this is not quoted."""
    max_vega: float = 200_000.0
    """Portfolio vega limit (USDC per 1.00 of vol): beyond it only vega-reducing sides quote."""
    hedge_threshold: float = 0.5
    """Hedge with the perpetual when the absolute portfolio delta exceeds this (underlying)."""
    max_margin_ratio: float = 0.8
    """Quote only position-reducing sides while initial margin exceeds this share of equity."""
    requote_ms: int = 1_000
    requote_ticks: int = 2
    """Keep a resting quote's price while the new one is fewer than this many ticks away:
    an unchanged quote keeps its queue priority and costs the engine no margin check."""
    mmp_interval_ms: int = 1_000
    mmp_frozen_ms: int = 5_000
    mmp_quantity_lots: int = 50
    mmp_delta: float = 5.0
    """MMP delta limit in whole underlying."""

    def __post_init__(self) -> None:
        checks = (
            (self.quote_lots > 0, "quote_lots must be positive"),
            (self.risk_aversion > 0, "risk_aversion must be positive"),
            (self.arrival_decay > 0, "arrival_decay must be positive"),
            (self.horizon_s > 0, "horizon_s must be positive"),
            (self.vol_of_vol >= 0, "vol_of_vol must be non-negative"),
            (self.min_half_spread_ticks >= 1, "min_half_spread_ticks must be at least 1"),
            (self.max_position_lots >= 1, "max_position_lots must be at least 1"),
            (self.max_vega > 0 and self.hedge_threshold > 0, "limits must be positive"),
            (0 < self.max_margin_ratio <= 1, "max_margin_ratio must be in (0, 1]"),
            (self.requote_ms > 0 and self.mmp_interval_ms > 0, "intervals must be positive"),
            (self.requote_ticks >= 1, "requote_ticks must be at least 1"),
            (self.mmp_frozen_ms > 0, "mmp_frozen_ms must be positive"),
            (self.mmp_quantity_lots > 0 and self.mmp_delta > 0, "MMP limits must be positive"),
        )
        for ok, what in checks:
            if not ok:
                raise InvalidInput(AgentReason.INVALID_AGENT_PARAMS, f"market maker: {what}")


class Greeks(msgspec.Struct, frozen=True):
    """Portfolio greeks: delta in whole underlying, gamma in underlying per USDC of spot move,
    vega (per 1.00 of volatility) and theta (per year) in USDC."""

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0


class MarketMaker:
    """Quotes every option of ``options`` on ``venue`` with mass quotes and hedges delta."""

    def __init__(
        self,
        params: MarketMakerParams,
        venue: Venue,
        options: Sequence[Instrument],
        hedge: Instrument,
    ) -> None:
        if not options:
            raise InvalidInput(AgentReason.INVALID_AGENT_PARAMS, "the market maker needs options")
        self.params = params
        self.venue = venue
        self.options = list(options)
        self.hedge = hedge
        settlement = asset(hedge.settlement)
        self._usdc = float(settlement.scale)
        self._scale = float(asset(hedge.underlying).scale)
        self.spread_pnl = 0.0
        """Edge captured on fills against the model value at the time (USDC)."""
        self.fills = 0
        self.mmp_trips = 0
        self.hedges = 0
        self.quotes_sent = 0
        self.margin_tight = False
        """Whether the last requote was reduce-only because initial margin was near equity."""
        self.tight_quotes = 0
        self._fair: dict[str, float] = {}
        self._sent: dict[str, tuple[int | None, int | None]] = {}
        self._ticks = {o.name: o.tick_size for o in self.options}
        self._next_quote_ms = 0
        venue.subscribe(params.account, self._on_fill)
        venue.subscribe_mmp(params.account, self._on_mmp)

    # Set-up ---------------------------------------------------------------------------------

    def start(self, ts_ms: int) -> list[Event]:
        """Configure market maker protection for the quoting group."""
        p = self.params
        lot = self.options[0].lot_size
        return self.venue.submit(
            SetMmpConfig(
                ts_ms,
                p.account,
                p.mmp_group,
                interval_ms=p.mmp_interval_ms,
                frozen_ms=p.mmp_frozen_ms,
                quantity_limit=p.mmp_quantity_lots * lot,
                delta_limit=round(p.mmp_delta * self._scale),
            )
        )

    # Reading ---------------------------------------------------------------------------------

    def position(self, instrument: str) -> int:
        """Net position in ``instrument`` (underlying base units)."""
        account = self.venue.risk.ledger.accounts.get(self.params.account)
        if account is None:
            return 0
        held = account.positions.get(instrument)
        return held.quantity if held else 0

    def greeks(self, marks: Mapping[str, Mark]) -> Greeks:
        """The portfolio's greeks at ``marks`` (the hedge counts as delta one)."""
        account = self.venue.risk.ledger.accounts.get(self.params.account)
        if account is None:
            return Greeks()
        delta = gamma = vega = theta = 0.0
        for name, held in account.positions.items():
            units = held.quantity / self._scale
            mark = marks.get(name)
            if mark is None:
                continue
            delta += units * mark.delta
            gamma += units * mark.gamma * self._usdc
            vega += units * mark.vega / self._usdc
            theta += units * mark.theta / self._usdc
        return Greeks(delta, gamma, vega, theta)

    # Acting ----------------------------------------------------------------------------------

    def step(self, ts_ms: int, index: int, vol: float, marks: Mapping[str, Mark]) -> None:
        """Requote the chain (when due) around ``marks`` and hedge the delta."""
        if ts_ms < self._next_quote_ms:
            return
        self._next_quote_ms = ts_ms + self.params.requote_ms
        greeks = self.greeks(marks)
        self._hedge(ts_ms, greeks)
        if self.venue.engine.mmp_frozen(self.params.account, self.params.mmp_group):
            return
        greeks = self.greeks(marks)
        self.margin_tight = self._margin_tight()
        self.tight_quotes += self.margin_tight
        quotes = [
            self._sticky(q) for q in self.quotes(index, vol, marks, greeks, self.margin_tight)
        ]
        if quotes:
            self.quotes_sent += 1
            self.venue.submit(
                MassQuote(ts_ms, self.params.account, self.params.mmp_group, tuple(quotes))
            )

    def quotes(
        self,
        index: int,
        vol: float,
        marks: Mapping[str, Mark],
        greeks: Greeks,
        reduce_only: bool = False,
    ) -> list[Quote]:
        """Two-sided quotes for every option with a mark, per the module's formulas."""
        p = self.params
        s = index / self._usdc
        tau = p.horizon_s * 1000.0 / MS_PER_YEAR
        gamma_ra = p.risk_aversion
        s2v = s * s * vol * vol * tau
        w2 = p.vol_of_vol * p.vol_of_vol * tau
        liquidity = math.log1p(gamma_ra / p.arrival_decay) / gamma_ra
        quotes: list[Quote] = []
        for option in self.options:
            mark = marks.get(option.name)
            if mark is None:
                continue
            fair = mark.price / self._usdc
            self._fair[option.name] = fair
            nu = mark.vega / self._usdc
            shift = gamma_ra * (greeks.delta * mark.delta * s2v + greeks.vega * nu * w2)
            gamma_risk = 0.5 * (mark.gamma * self._usdc * s2v) ** 2
            risk = mark.delta**2 * s2v + nu * nu * w2 + gamma_risk
            tick = option.tick_size / self._usdc
            half = max(0.5 * gamma_ra * risk + liquidity, p.min_half_spread_ticks * tick)
            quotes.append(
                self._quote(
                    option, fair - shift, half, nu=nu, greeks=greeks, reduce_only=reduce_only
                )
            )
        return quotes

    def _quote(
        self,
        option: Instrument,
        reservation: float,
        half: float,
        *,
        nu: float,
        greeks: Greeks,
        reduce_only: bool,
    ) -> Quote:
        p = self.params
        tick = option.tick_size
        lot = option.lot_size
        held = self.position(option.name)
        limit = p.max_position_lots * lot
        size = p.quote_lots * lot
        bid_room = limit - held
        ask_room = limit + held
        if reduce_only:
            bid_room = min(bid_room, max(-held, 0))
            ask_room = min(ask_room, max(held, 0))
        if nu > 0 and abs(greeks.vega) >= p.max_vega:
            # Buying an option adds vega: at the limit only the side that reduces |vega| quotes.
            if greeks.vega > 0:
                bid_room = 0
            else:
                ask_room = 0
        bid = math.floor((reservation - half) * self._usdc / tick) * tick
        ask = math.ceil((reservation + half) * self._usdc / tick) * tick
        ask = max(ask, tick)
        if ask <= bid:
            ask = bid + tick
        bid_qty = min(size, bid_room) // lot * lot if bid >= tick else 0
        ask_qty = min(size, ask_room) // lot * lot
        return Quote(
            option.name,
            bid if bid_qty > 0 else None,
            max(bid_qty, 0),
            ask if ask_qty > 0 else None,
            max(ask_qty, 0),
        )

    def _sticky(self, quote: Quote) -> Quote:
        """Keep the last prices sent while the new ones are within ``requote_ticks``."""
        sent = self._sent.get(quote.instrument)
        bid, ask = quote.bid_price, quote.ask_price
        if sent is not None:
            band = self.params.requote_ticks * self._ticks[quote.instrument]
            old_bid, old_ask = sent
            kept_bid = old_bid if bid is not None and old_bid is not None else bid
            kept_ask = old_ask if ask is not None and old_ask is not None else ask
            if kept_bid is not None and bid is not None and abs(kept_bid - bid) >= band:
                kept_bid = bid
            if kept_ask is not None and ask is not None and abs(kept_ask - ask) >= band:
                kept_ask = ask
            if kept_bid is None or kept_ask is None or kept_bid < kept_ask:
                bid, ask = kept_bid, kept_ask
        self._sent[quote.instrument] = (bid, ask)
        return Quote(quote.instrument, bid, quote.bid_quantity, ask, quote.ask_quantity)

    def _margin_tight(self) -> bool:
        risk = self.venue.risk
        try:
            initial = risk.margin(self.params.account).initial
            equity = risk.equity(self.params.account)
        except OptexError:
            return True
        return initial > self.params.max_margin_ratio * equity

    def _hedge(self, ts_ms: int, greeks: Greeks) -> None:
        if abs(greeks.delta) <= self.params.hedge_threshold:
            return
        lot = self.hedge.lot_size
        quantity = round(abs(greeks.delta) * self._scale / lot) * lot
        if quantity < self.hedge.min_lots * lot:
            return
        side = Side.SELL if greeks.delta > 0 else Side.BUY
        self.hedges += 1
        self.venue.submit(
            NewOrder(
                ts_ms,
                self.params.account,
                self.hedge.name,
                side,
                quantity,
                order_type=OrderType.MARKET,
                tif=TimeInForce.IOC,
            )
        )

    def _on_mmp(self, event: MmpTriggered) -> None:
        if event.mmp_group == self.params.mmp_group:
            self.mmp_trips += 1

    def _on_fill(self, fill: Fill) -> None:
        if fill.instrument == self.hedge.name:
            return
        fair = self._fair.get(fill.instrument)
        if fair is None:
            return
        self.fills += 1
        bought = (fill.maker_account == self.params.account) == (fill.aggressor_side is Side.SELL)
        units = fill.quantity / self._scale
        price = fill.price / self._usdc
        self.spread_pnl += (fair - price) * units if bought else (price - fair) * units
