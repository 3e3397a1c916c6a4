"""Liquidation: cancel, reduce step by step on the book, then cover a bankrupt account's deficit.

When an account's equity falls below its maintenance margin, :func:`liquidate`

1. cancels all its open orders (freeing the margin they reserved);
2. reduces its positions with immediate-or-cancel orders of at most ``step_ppm`` of a position
   each, priced no worse than the mark by ``price_band_ppm`` (wider for options), the position
   with the largest maintenance requirement first, until equity covers maintenance again; each
   filled step pays a penalty (``penalty_ppm`` of the underlying value traded) to the insurance
   fund, never more than the account's remaining positive equity;
3. if the account is bankrupt (equity below zero): positions the book could not take are
   auto-deleveraged onto the most profitable, most leveraged opposite positions at the mark;
   the insurance fund covers the deficit; when the fund is exhausted, the rest is recovered
   from those same ranked opposite positions, each at most down to its maintenance margin;
   what no one can cover leaves the insurance fund negative: a visible, socialised loss.

Every cash movement is a ledger function, so the total is conserved throughout.
"""

from __future__ import annotations

from fractions import Fraction

import msgspec

from optex.core import InstrumentKind, InvalidInput, Rounding
from optex.market import Fill, MassCancel, MatchingEngine, NewOrder, Side, TimeInForce
from optex.risk._engine import RiskEngine, band_price
from optex.risk._ledger import (
    INSURANCE_FUND,
    Movement,
    MovementKind,
    instrument_of,
    scale_of,
    transfer_position,
)
from optex.risk._money import PPM, cash, div_round, ppm_of
from optex.risk._params import params_for
from optex.risk._reasons import RiskReason
from optex.risk._standard import position_requirement


class LiquidationReport(msgspec.Struct):
    """What one liquidation run did to an account."""

    account: str
    orders_sent: int = 0
    quantity_filled: int = 0
    penalty: int = 0
    deleveraged: list[tuple[str, str, int]] = []
    """(instrument, counterparty, quantity taken over by the counterparty)."""
    insurance_paid: int = 0
    recovered: int = 0
    socialised: int = 0
    movements: list[Movement] = []

    @property
    def bankrupt(self) -> bool:
        """Whether the account's deficit had to be covered by others."""
        return bool(self.insurance_paid or self.recovered or self.socialised or self.deleveraged)


def _charge(risk: RiskEngine, account: str, amount: int, report: LiquidationReport) -> None:
    """Move ``amount`` from ``account`` to the insurance fund as a penalty."""
    if amount <= 0:
        return
    risk.ledger.accounts[account].balance -= amount
    risk.ledger.insurance_fund += amount
    report.penalty += amount
    report.movements += [
        Movement(MovementKind.PENALTY, account, -amount),
        Movement(MovementKind.PENALTY, INSURANCE_FUND, amount),
    ]


def _largest_position(risk: RiskEngine, account: str, exhausted: set[str]) -> str | None:
    best: tuple[int, str] | None = None
    for name, position in risk.ledger.accounts[account].positions.items():
        if name in exhausted or position.quantity == 0:
            continue
        instrument = instrument_of(risk.ledger, name)
        need = position_requirement(
            instrument,
            position.quantity,
            risk.prices.mark_of(name).price,
            risk.prices.index_of(instrument.underlying),
            params_for(risk.params, instrument.underlying).standard,
        ).maintenance
        if best is None or (-need, name) < (-best[0], best[1]):
            best = (need, name)
    return None if best is None else best[1]


def liquidate(
    risk: RiskEngine, engine: MatchingEngine, account: str, ts_ms: int
) -> LiquidationReport:
    """Liquidate ``account`` if its equity is below maintenance (see the module docstring)."""
    if risk.equity(account) >= risk.margin(account).maintenance:
        raise InvalidInput(RiskReason.NOT_LIQUIDATABLE, f"{account} covers its maintenance margin")
    report = LiquidationReport(account)
    risk.apply(engine.process(MassCancel(ts_ms, account)))
    held = {
        name: 1 if p.quantity > 0 else -1
        for name, p in sorted(risk.ledger.accounts[account].positions.items())
    }
    exhausted: set[str] = set()
    starting: dict[str, int] = {}
    steps = 0
    while risk.equity(account) < risk.margin(account).maintenance:
        name = _largest_position(risk, account, exhausted)
        if name is None:
            break
        instrument = instrument_of(risk.ledger, name)
        params = params_for(risk.params, instrument.underlying).liquidation
        if steps >= params.max_steps:
            break
        steps += 1
        position = risk.ledger.accounts[account].positions[name].quantity
        lot = instrument.lot_size
        # Steps are a fraction of the position as it was when liquidation began, not of what
        # is left, so that a position is closed in a bounded number of orders.
        start = starting.setdefault(name, abs(position))
        size = div_round(start * params.step_ppm, PPM * lot, Rounding.FLOOR) * lot
        size = min(max(size, lot), abs(position), instrument.max_lots * lot)
        buy = position < 0
        band = (
            params.option_price_band_ppm
            if instrument.kind is InstrumentKind.OPTION
            else params.price_band_ppm
        )
        mark = risk.prices.mark_of(name).price
        order = NewOrder(
            ts_ms=ts_ms,
            account=account,
            instrument=name,
            side=Side.BUY if buy else Side.SELL,
            quantity=size,
            price=band_price(instrument, mark, buy, band),
            tif=TimeInForce.IOC,
        )
        events = engine.process(order)
        report.orders_sent += 1
        risk.apply(events)
        filled = sum(
            e.quantity
            for e in events
            if isinstance(e, Fill) and account in (e.maker_account, e.taker_account)
        )
        if filled == 0:
            exhausted.add(name)
            continue
        report.quantity_filled += filled
        base = risk.prices.index_of(instrument.underlying)
        if instrument.kind is not InstrumentKind.OPTION:
            base = mark
        penalty = ppm_of(
            cash(base, filled, scale_of(instrument), Rounding.CEILING),
            params.penalty_ppm,
            Rounding.CEILING,
        )
        _charge(risk, account, min(penalty, max(risk.equity(account), 0)), report)
    if risk.equity(account) < 0:
        _cover_bankruptcy(risk, account, held, report)
    return report


def _score(risk: RiskEngine, name: str, instrument_name: str) -> Fraction:
    """Profit times leverage of ``name``'s position in ``instrument_name``: ADL's ranking."""
    position = risk.ledger.accounts[name].positions[instrument_name]
    instrument = instrument_of(risk.ledger, instrument_name)
    mark = risk.prices.mark_of(instrument_name).price
    value = cash(mark, position.quantity, scale_of(instrument), Rounding.FLOOR)
    profit = value - position.cost
    return Fraction(profit * abs(value), max(risk.equity(name), 1))


def _ranked(risk: RiskEngine, bankrupt: str, instrument_name: str, sign: int) -> list[str]:
    """Accounts holding a position of ``sign`` in the instrument, best ADL candidate first."""
    holders = [
        name
        for name, account in risk.ledger.accounts.items()
        if name != bankrupt
        and instrument_name in account.positions
        and account.positions[instrument_name].quantity * sign > 0
    ]
    return sorted(holders, key=lambda n: (-_score(risk, n, instrument_name), n))


def _cover_bankruptcy(
    risk: RiskEngine, account: str, held: dict[str, int], report: LiquidationReport
) -> None:
    ledger = risk.ledger
    holder = ledger.accounts[account]
    for name in sorted(holder.positions):
        remaining = holder.positions[name].quantity
        instrument = instrument_of(ledger, name)
        tick = instrument.tick_size
        mark = risk.prices.mark_of(name).price
        # Against the bankrupt account: it sells at the mark rounded down, buys rounded up.
        rounding = Rounding.FLOOR if remaining > 0 else Rounding.CEILING
        price = max(div_round(mark, tick, rounding) * tick, tick)
        for other in _ranked(risk, account, name, -1 if remaining > 0 else 1):
            if remaining == 0:
                break
            theirs = ledger.accounts[other].positions[name].quantity
            take = min(abs(remaining), abs(theirs)) * (1 if remaining > 0 else -1)
            report.movements += transfer_position(
                ledger, name, source=account, target=other, quantity=take, price=price
            )
            report.deleveraged.append((name, other, take))
            remaining -= take
    deficit = -risk.equity(account)
    if deficit <= 0:
        return
    paid = min(deficit, max(ledger.insurance_fund, 0))
    if paid:
        ledger.insurance_fund -= paid
        holder.balance += paid
        report.insurance_paid += paid
        report.movements += [
            Movement(MovementKind.DEFICIT, INSURANCE_FUND, -paid),
            Movement(MovementKind.DEFICIT, account, paid),
        ]
        deficit -= paid
    # Those the bankrupt positions were just deleveraged onto come first, in their ranking,
    # then whoever still holds a position opposite to one the bankrupt account held.
    candidates = [other for _, other, _ in report.deleveraged]
    for name, sign in held.items():
        candidates += _ranked(risk, account, name, -sign)
    for other in dict.fromkeys(candidates):
        if deficit <= 0:
            break
        spare = risk.equity(other) - risk.margin(other).maintenance
        take = min(deficit, max(spare, 0))
        if take <= 0:
            continue
        ledger.accounts[other].balance -= take
        holder.balance += take
        report.recovered += take
        report.movements += [
            Movement(MovementKind.DELEVERAGE, other, -take),
            Movement(MovementKind.DELEVERAGE, account, take),
        ]
        deficit -= take
    if deficit > 0:
        ledger.insurance_fund -= deficit
        holder.balance += deficit
        report.socialised += deficit
        report.movements += [
            Movement(MovementKind.DEFICIT, INSURANCE_FUND, -deficit),
            Movement(MovementKind.DEFICIT, account, deficit),
        ]
