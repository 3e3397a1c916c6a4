"""The money rules the ledger applies, taken from ``optex.risk``.

The architecture asks for one implementation of each rule, shared by the engine and the chain:
cash of a fill, fees, funding rates and rounding are ``optex.risk``'s (``cash``, ``trade_fee``,
``premium_ppm``, ``funding_rate_ppm``, ``div_round``), applied here to the chain's records. The
only rules written here are the chain's own (slashing and reward shares) and two one-liners that
``optex.risk`` computes inside its own ledger rather than exporting (an option's payoff and a
position's funding credit), written to its formulas: each side rounded down, against its holder.
"""

from __future__ import annotations

from optex.core import Instrument, InstrumentKind, OptionType, Rounding
from optex.risk import (
    PPM,
    FeeParams,
    FundingParams,
    cash,
    div_round,
    funding_rate_ppm,
    ppm_of,
    premium_ppm,
    trade_fee,
)

__all__ = [
    "PPM",
    "FeeParams",
    "FundingParams",
    "expiry_value",
    "fee",
    "fill_cash",
    "funding_credit",
    "funding_rate",
    "pro_rata",
    "settlement_credit",
    "slash_amount",
]


def fill_cash(price: int, quantity: int, scale: int) -> int:
    """The settlement cash of ``quantity`` at ``price`` on the tick and lot grid (exact)."""
    return cash(price, quantity, scale)


def fee(
    instrument: Instrument,
    price: int,
    quantity: int,
    scale: int,
    *,
    maker: bool,
    index_price: int | None,
    fees: FeeParams,
) -> int:
    """The fee one side of a fill pays (``optex.risk.trade_fee``), rounded up.

    Before the oracle has an index price an option pays the premium cap alone, the same cap
    ``trade_fee`` applies.
    """
    if index_price is not None or instrument.kind is not InstrumentKind.OPTION:
        return trade_fee(
            instrument, price, quantity, index=index_price or 0, maker=maker, fees=fees
        )
    return ppm_of(cash(price, quantity, scale), fees.option_cap_ppm, Rounding.CEILING)


def fee_index(claimed: int, oracle: int | None, band_ppm: int) -> int | None:
    """The index price an option fill's fees are charged at.

    The engine's own (``claimed``, the fill's ``fee_index``) when one is given, so that engine
    and chain charge the same fee, but never further than ``band_ppm`` from the oracle's
    index (the operator could otherwise raise fees towards the premium cap); without a claim,
    the oracle's (``None`` before the first vote: the cap alone). Without an oracle price the
    claim stands: the premium cap still bounds the fee.
    """
    if not claimed:
        return oracle
    if oracle is None:
        return claimed
    low = oracle - oracle * band_ppm // 1_000_000
    high = oracle + oracle * band_ppm // 1_000_000
    return min(max(claimed, low), high)


def expiry_value(instrument: Instrument, settlement_price: int) -> int:
    """What one whole unit of the underlying is worth at expiry (settlement base units)."""
    if instrument.kind is InstrumentKind.OPTION:
        strike = instrument.strike or 0
        if instrument.option_type is OptionType.CALL:
            return max(settlement_price - strike, 0)
        return max(strike - settlement_price, 0)
    return settlement_price


def settlement_credit(quantity: int, value: int, cost: int, scale: int) -> int:
    """The cash a position receives at settlement: ``floor(q x value) - cost``."""
    return cash(value, quantity, scale, Rounding.FLOOR) - cost


def funding_rate(mark: int, index: int, params: FundingParams) -> int:
    """One interval's funding rate in ppm from the voted mark and index (positive: longs pay)."""
    return funding_rate_ppm([premium_ppm(mark, index)], params)


def funding_credit(quantity: int, mark: int, rate_ppm: int, scale: int) -> int:
    """The cash a position receives for one interval: ``floor(-q x mark x rate)``."""
    return div_round(-quantity * mark * rate_ppm, scale * PPM, Rounding.FLOOR)


def slash_amount(amount: int, fraction_ppm: int) -> int:
    """The part of ``amount`` a slash of ``fraction_ppm`` burns (rounded down)."""
    return div_round(amount * fraction_ppm, PPM, Rounding.FLOOR)


def pro_rata(total: int, weight: int, total_weight: int) -> int:
    """``total * weight / total_weight`` rounded down: a share of rewards."""
    return div_round(total * weight, total_weight, Rounding.FLOOR)
