"""Standard margin (Deribit's standard model) and equity, in exact integer arithmetic.

Per whole underlying, with ``S`` the index, ``m`` the mark and fractions in parts per million:

* short option: initial ``max(0.15 S - OTM, 0.10 S) + m``, i.e. ``max(0.15 - OTM/S, 0.10) x S
  + m``; maintenance ``0.075 S + m``; ``OTM`` is ``max(K - S, 0)`` for a call and
  ``max(S - K, 0)`` for a put;
* long option: the premium at the mark, initial and maintenance alike (it is fully paid);
* future or perpetual: ``f x |q| x m`` with ``f = base + growth x |q|`` (per whole underlying),
  capped, for initial and maintenance fractions separately.

Each position's requirement is rounded up to a whole base unit. Open orders reserve initial
margin: for each instrument the requirement is the worst of "nothing fills", "every buy fills"
and "every sell fills", each counting what the fills would cost in equity (see
:func:`instrument_requirement`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from optex.core import Instrument, InstrumentKind, OptionType, Rounding
from optex.risk._ledger import Account, Ledger, instrument_of, scale_of
from optex.risk._money import PPM, cash, div_round
from optex.risk._params import RiskParams, StandardMarginParams, params_for
from optex.risk._prices import Prices


class Requirement(msgspec.Struct, frozen=True):
    """Initial and maintenance margin in settlement base units."""

    initial: int = 0
    maintenance: int = 0

    def __add__(self, other: Requirement) -> Requirement:
        return Requirement(self.initial + other.initial, self.maintenance + other.maintenance)


class OpenOrder(msgspec.Struct, frozen=True):
    """A resting order as margin sees it: signed quantity (buy > 0) and its limit price."""

    instrument: str
    quantity: int
    price: int


def position_requirement(
    instrument: Instrument, quantity: int, mark: int, index: int, params: StandardMarginParams
) -> Requirement:
    """Standard initial and maintenance margin of one position, each rounded up."""
    if quantity == 0:
        return Requirement()
    size = abs(quantity)
    scale = scale_of(instrument)
    if instrument.kind is InstrumentKind.OPTION:
        if quantity > 0:
            premium = cash(mark, size, scale, Rounding.CEILING)
            return Requirement(premium, premium)
        strike = instrument.strike or 0
        otm = (
            max(strike - index, 0)
            if instrument.option_type is OptionType.CALL
            else max(index - strike, 0)
        )
        im_unit = max(params.option_im_ppm * index - PPM * otm, params.option_im_min_ppm * index)
        mm_unit = params.option_mm_ppm * index
        return Requirement(
            div_round(size * (im_unit + PPM * mark), scale * PPM, Rounding.CEILING),
            div_round(size * (mm_unit + PPM * mark), scale * PPM, Rounding.CEILING),
        )
    # The fraction grows by growth_ppm per whole underlying: base*scale + growth*size over
    # scale*PPM, so the requirement is size * mark * fraction over scale**2 * PPM, exactly.
    cap = params.future_max_ppm * scale
    im_fraction = min(params.future_im_ppm * scale + params.future_growth_ppm * size, cap)
    mm_fraction = min(params.future_mm_ppm * scale + params.future_growth_ppm * size, cap)
    denominator = scale * scale * PPM
    return Requirement(
        div_round(size * mark * im_fraction, denominator, Rounding.CEILING),
        div_round(size * mark * mm_fraction, denominator, Rounding.CEILING),
    )


def instrument_requirement(
    instrument: Instrument,
    quantity: int,
    orders: Iterable[OpenOrder],
    *,
    mark: int,
    index: int,
    params: StandardMarginParams,
) -> Requirement:
    """One instrument's requirement with its open orders reserving initial margin.

    If every buy fills, the position becomes ``q + B`` and equity changes by the buys' value at
    the mark less what they cost, ``m B - P_B``; so the condition ``IM(q + B) <= E + m B - P_B``
    is ``IM(q + B) - m B + P_B <= E``, and that left side is the buys' reservation (likewise for
    sells). This treats options and futures alike, and for a long option it is exactly "the
    premium of the buy orders". Maintenance ignores orders.
    """
    scale = scale_of(instrument)
    base = position_requirement(instrument, quantity, mark, index, params)
    buys = [o for o in orders if o.quantity > 0]
    sells = [o for o in orders if o.quantity < 0]
    initial = base.initial
    for side in (buys, sells):
        if not side:
            continue
        size = sum(o.quantity for o in side)
        paid = sum(cash(o.price, o.quantity, scale, Rounding.CEILING) for o in side)
        gained = cash(mark, size, scale, Rounding.FLOOR)
        after = position_requirement(instrument, quantity + size, mark, index, params)
        initial = max(initial, after.initial - gained + paid)
    return Requirement(initial, base.maintenance)


def equity(ledger: Ledger, account: Account, prices: Prices) -> int:
    """Balance plus every position's value at the mark (futures: less their entry cost).

    Each position's value is rounded down: equity is a credit to the user.
    """
    total = account.balance
    for name, position in account.positions.items():
        instrument = instrument_of(ledger, name)
        value = cash(
            prices.mark_of(name).price, position.quantity, scale_of(instrument), Rounding.FLOOR
        )
        total += value - position.cost
    return total


def standard_margin(
    ledger: Ledger,
    account: Account,
    prices: Prices,
    params: Mapping[str, RiskParams],
    orders: Iterable[OpenOrder] = (),
) -> Requirement:
    """The account's standard margin: the sum over instruments with positions or orders."""
    by_instrument: dict[str, list[OpenOrder]] = {}
    for order in orders:
        by_instrument.setdefault(order.instrument, []).append(order)
    names = sorted(set(account.positions) | set(by_instrument))
    total = Requirement()
    for name in names:
        instrument = instrument_of(ledger, name)
        position = account.positions.get(name)
        total += instrument_requirement(
            instrument,
            position.quantity if position else 0,
            by_instrument.get(name, ()),
            mark=prices.mark_of(name).price,
            index=prices.index_of(instrument.underlying),
            params=params_for(params, instrument.underlying).standard,
        )
    return total
