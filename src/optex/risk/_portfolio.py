"""Portfolio margin: full revaluation of the whole portfolio under a grid of scenarios.

As Deribit's portfolio margin and CME SPAN do, every position is revalued under underlying moves
of ``±price_range`` in ``price_steps`` steps, each crossed with an implied-volatility shock up,
none and down; the shocks are larger for short expiries (``(30 days / T) ** vol_power``, capped).
An extended table of extreme moves at unchanged volatility counts ``extended_weight`` of its loss.
The initial requirement is the worst weighted loss plus a contingency for short options
(a fraction of the index per short option); maintenance is a fraction of it.

The work is vectorized the way a risk engine sweeping every account needs it: each distinct
instrument is priced once per scenario with the Black-76 kernel of ``optex.pricing`` (an
instruments x scenarios matrix of P&L per whole underlying), and the accounts' scenario P&L is
one matrix product of their positions with that matrix. Floats stop at :func:`to_units`, which
rounds the requirement up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optex.core import Instrument, InstrumentKind, InvalidInput, OptionType, Rounding
from optex.pricing import black76_price
from optex.risk._ledger import Account, Ledger, instrument_of, scale_of
from optex.risk._money import PPM, cash, to_units
from optex.risk._params import PortfolioMarginParams, RiskParams, params_for
from optex.risk._prices import Prices
from optex.risk._reasons import RiskReason
from optex.risk._standard import OpenOrder, Requirement

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MS_PER_YEAR = 365.0 * 24 * 3600 * 1000
"""Time to expiry in years on a 365-day calendar, as crypto option venues quote it."""


@dataclass(frozen=True, slots=True)
class ScenarioGrid:
    """Scenario ``j`` moves the underlying by ``moves[j]`` with volatility shocked in
    direction ``vol_shift[j]`` (-1, 0, +1); its P&L counts with ``weights[j]``."""

    moves: FloatArray
    vol_shift: FloatArray
    weights: FloatArray


def scenario_grid(params: PortfolioMarginParams) -> ScenarioGrid:
    """The core grid (moves x {vol down, unchanged, up}) followed by the extended moves."""
    core = np.linspace(-params.price_range, params.price_range, 2 * params.price_steps + 1)
    shifts = np.array([-1.0, 0.0, 1.0])
    extended = np.asarray(params.extended_moves, dtype=np.float64)
    return ScenarioGrid(
        moves=np.concatenate([np.repeat(core, 3), extended]),
        vol_shift=np.concatenate([np.tile(shifts, core.size), np.zeros(extended.size)]),
        weights=np.concatenate(
            [np.ones(3 * core.size), np.full(extended.size, params.extended_weight)]
        ),
    )


@dataclass(frozen=True, slots=True)
class ScenarioTable:
    """One underlying's instruments x scenarios P&L, per whole underlying, already weighted.

    ``contingency[i]`` is the charge per whole unit short of instrument ``i`` (zero for
    futures); ``column`` maps an instrument name to its row.
    """

    underlying: str
    scale: int
    instruments: tuple[str, ...]
    pnl: FloatArray
    contingency: FloatArray
    column: dict[str, int]


def scenario_table(
    underlying: str,
    instruments: Sequence[Instrument],
    prices: Prices,
    *,
    now_ms: int,
    params: PortfolioMarginParams,
    rate: float = 0.0,
) -> ScenarioTable:
    """Revalue each of ``instruments`` (all on ``underlying``) under every scenario once."""
    grid = scenario_grid(params)
    index = prices.index_of(underlying)
    n = len(instruments)
    pnl = np.zeros((n, grid.moves.size))
    contingency = np.zeros(n)
    options = [i for i, inst in enumerate(instruments) if inst.kind is InstrumentKind.OPTION]
    linear = [i for i, inst in enumerate(instruments) if inst.kind is not InstrumentKind.OPTION]
    if linear:
        marks = np.array([prices.mark_of(instruments[i].name).price for i in linear], float)
        pnl[linear] = marks[:, None] * grid.moves[None, :]
    if options:
        forward, strike, years, vol, call = _option_inputs(
            [instruments[i] for i in options], prices, index, now_ms
        )
        days = np.maximum(years * 365.0, 1e-6)
        stretch = (params.vol_reference_days / days) ** params.vol_power
        up = np.minimum(params.vol_up * stretch, params.vol_up_cap)
        down = np.minimum(params.vol_down * stretch, params.vol_down_cap)
        shift = grid.vol_shift[None, :]
        factor = (
            1.0 + np.where(shift > 0, up[:, None], 0.0) - np.where(shift < 0, down[:, None], 0.0)
        )
        shocked = np.maximum(vol[:, None] * factor, params.min_vol)
        base = black76_price(forward=forward, strike=strike, t=years, rate=rate, vol=vol, call=call)
        moved = black76_price(
            forward=forward[:, None] * (1.0 + grid.moves[None, :]),
            strike=strike[:, None],
            t=years[:, None],
            rate=rate,
            vol=shocked,
            call=call[:, None],
        )
        pnl[options] = moved - base[:, None]
        contingency[options] = index * params.short_option_contingency_ppm / PPM
    names = tuple(inst.name for inst in instruments)
    return ScenarioTable(
        underlying=underlying,
        scale=scale_of(instruments[0]) if instruments else 1,
        instruments=names,
        pnl=pnl * grid.weights[None, :],
        contingency=contingency,
        column={name: i for i, name in enumerate(names)},
    )


def _option_inputs(
    options: Sequence[Instrument], prices: Prices, index: int, now_ms: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    forward = np.empty(len(options))
    vol = np.empty(len(options))
    for i, inst in enumerate(options):
        mark = prices.mark_of(inst.name)
        if mark.iv is None:
            raise InvalidInput(
                RiskReason.NO_MARK_PRICE, f"the mark of {inst.name} carries no volatility"
            )
        forward[i] = mark.forward if mark.forward is not None else float(index)
        vol[i] = mark.iv
    strike = np.array([inst.strike or 0 for inst in options], dtype=np.float64)
    expiry = np.array([inst.expiry_ms or now_ms for inst in options], dtype=np.float64)
    years = np.maximum(expiry - now_ms, 0.0) / MS_PER_YEAR
    call = np.array([inst.option_type is OptionType.CALL for inst in options])
    return forward, strike, years, vol, call


def portfolio_margins(
    table: ScenarioTable, quantities: IntArray, mm_fraction_ppm: int
) -> tuple[IntArray, IntArray]:
    """Initial and maintenance margin of many accounts on one underlying.

    ``quantities`` is accounts x instruments (in ``table``'s order), in underlying base units.
    Returns two int64 arrays in settlement base units, rounded up.
    """
    units = np.asarray(quantities, dtype=np.float64) / table.scale
    scenario = units @ table.pnl
    loss = np.maximum(-scenario.min(axis=1), 0.0) if scenario.shape[1] else np.zeros(len(units))
    charge = np.minimum(units, 0.0) @ (-table.contingency)
    initial = to_units(loss + charge, Rounding.CEILING)
    whole, rest = np.divmod(initial, PPM)
    maintenance = whole * mm_fraction_ppm + -((-rest * mm_fraction_ppm) // PPM)
    return initial, maintenance


def _table(
    underlying: str,
    instruments: Sequence[Instrument],
    prices: Prices,
    now_ms: int,
    risk: RiskParams,
) -> ScenarioTable:
    return scenario_table(
        underlying,
        instruments,
        prices,
        now_ms=now_ms,
        params=risk.portfolio,
        rate=risk.marks.rate,
    )


def _by_underlying(ledger: Ledger, names: Iterable[str]) -> dict[str, list[Instrument]]:
    groups: dict[str, list[Instrument]] = {}
    for name in sorted(set(names)):
        instrument = instrument_of(ledger, name)
        groups.setdefault(instrument.underlying, []).append(instrument)
    return groups


def portfolio_margin_many(
    ledger: Ledger,
    account_names: Sequence[str],
    prices: Prices,
    params: Mapping[str, RiskParams],
    *,
    now_ms: int,
) -> dict[str, Requirement]:
    """Portfolio margin of many accounts at once: each instrument priced once per scenario."""
    accounts = [ledger.accounts[name] for name in account_names]
    held = {name for account in accounts for name in account.positions}
    initial = np.zeros(len(accounts), dtype=np.int64)
    maintenance = np.zeros(len(accounts), dtype=np.int64)
    for underlying, instruments in _by_underlying(ledger, held).items():
        risk = params_for(params, underlying)
        table = _table(underlying, instruments, prices, now_ms, risk)
        quantities = np.zeros((len(accounts), len(instruments)), dtype=np.int64)
        column = table.column
        for row, account in enumerate(accounts):
            for name, position in account.positions.items():
                col = column.get(name)
                if col is not None:
                    quantities[row, col] = position.quantity
        im, mm = portfolio_margins(table, quantities, risk.portfolio.mm_fraction_ppm)
        initial += im
        maintenance += mm
    return {
        name: Requirement(int(initial[i]), int(maintenance[i]))
        for i, name in enumerate(account_names)
    }


def portfolio_margin(
    ledger: Ledger,
    account: Account,
    prices: Prices,
    params: Mapping[str, RiskParams],
    *,
    now_ms: int,
    orders: Iterable[OpenOrder] = (),
) -> Requirement:
    """One account's portfolio margin, its open orders reserving initial margin.

    As in standard margin, the requirement is the worst of "nothing fills", "every buy fills"
    and "every sell fills", each plus what those fills would cost in equity at the marks.
    """
    orders = list(orders)
    base = {name: p.quantity for name, p in account.positions.items()}
    states = [(base, 0)]
    for sign in (1, -1):
        side = [o for o in orders if o.quantity * sign > 0]
        if not side:
            continue
        after = dict(base)
        adjustment = 0
        for order in side:
            instrument = instrument_of(ledger, order.instrument)
            scale = scale_of(instrument)
            after[order.instrument] = after.get(order.instrument, 0) + order.quantity
            adjustment += cash(order.price, order.quantity, scale, Rounding.CEILING)
            mark = prices.mark_of(order.instrument).price
            adjustment -= cash(mark, order.quantity, scale, Rounding.FLOOR)
        states.append((after, adjustment))
    groups = _by_underlying(ledger, {n for state, _ in states for n in state})
    tables = [
        (_table(u, insts, prices, now_ms, params_for(params, u)), params_for(params, u))
        for u, insts in groups.items()
    ]
    initial = 0
    maintenance = 0
    for number, (state, adjustment) in enumerate(states):
        im_total, mm_total = adjustment, 0
        for table, risk in tables:
            row = np.array([[state.get(n, 0) for n in table.instruments]], dtype=np.int64)
            im, mm = portfolio_margins(table, row, risk.portfolio.mm_fraction_ppm)
            im_total += int(im[0])
            mm_total += int(mm[0])
        initial = max(initial, im_total)
        if number == 0:
            maintenance = mm_total
    return Requirement(initial, maintenance)
