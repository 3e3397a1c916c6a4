"""Expiry settlement and perpetual funding: cash moves between accounts, dust to the fee pool.

Both are transfers whose exact amounts sum to zero, because open interest nets to zero. Each
account's share is rounded down (against it: a receiver gets a little less, a payer pays a little
more), and the few base units left over go to the fee pool, so the total is conserved exactly.

Funding (BitMEX's and Deribit's formula): the premium index is ``(mark - index) / index``,
averaged over the interval; the rate is ``premium + clamp(interest - premium, ±damper)``, clamped
to ``±cap``. A positive rate means longs pay shorts ``rate x |q| x mark``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from optex.core import InstrumentKind, InvalidInput, OptionType, Rounding
from optex.risk._ledger import (
    FEE_POOL,
    Ledger,
    Movement,
    MovementKind,
    account_of,
    instrument_of,
    scale_of,
)
from optex.risk._money import PPM, cash, div_round, dust
from optex.risk._params import FundingParams
from optex.risk._reasons import RiskReason


def premium_ppm(mark: int, index: int) -> int:
    """The premium of a perpetual's mark over the index, in parts per million (floored)."""
    if index <= 0 or mark <= 0:
        raise InvalidInput(RiskReason.INVALID_PRICE, "mark and index must be positive")
    return (mark - index) * PPM // index


def funding_rate_ppm(premiums_ppm: Sequence[int], params: FundingParams) -> int:
    """The funding rate for one interval from the premium samples taken during it."""
    if not premiums_ppm:
        raise InvalidInput(RiskReason.INVALID_PRICE, "funding needs at least one premium sample")
    premium = sum(premiums_ppm) // len(premiums_ppm)
    damped = max(-params.damper_ppm, min(params.damper_ppm, params.interest_ppm - premium))
    return max(-params.cap_ppm, min(params.cap_ppm, premium + damped))


def _pay_out(
    ledger: Ledger,
    credits: dict[str, int],
    kind: MovementKind,
    name: str,
    realized: dict[str, int] | None = None,
) -> list[Movement]:
    """Apply rounded credits to accounts and their rounding dust to the fee pool.

    ``credits`` are the rounded shares of a transfer whose exact amounts sum to zero; ``realized``
    are futures' entry costs moving into the balance alongside them (already counted in the
    conserved total, so they carry no dust).
    """
    realized = realized or {}
    moved: list[Movement] = []
    for account_name in sorted(credits.keys() | realized.keys()):
        amount = credits.get(account_name, 0) - realized.get(account_name, 0)
        ledger.accounts[account_name].balance += amount
        if amount:
            moved.append(Movement(kind, account_name, amount, name))
    leftover = dust(list(credits.values()))
    if leftover:
        ledger.fee_pool += leftover
        moved.append(Movement(MovementKind.DUST, FEE_POOL, leftover, name))
    return moved


def apply_funding(
    ledger: Ledger,
    instrument_name: str,
    *,
    mark: int,
    rate_ppm: int,
    ts_ms: int,
    params: FundingParams,
) -> list[Movement]:
    """Charge one interval's funding on a perpetual: longs pay shorts at a positive rate.

    Each account's credit is ``floor(-q x mark x rate / (scale x 1e6))``. Refused before
    ``params.interval_ms`` has passed since the last funding of this instrument.
    """
    instrument = instrument_of(ledger, instrument_name)
    if instrument.kind is not InstrumentKind.PERPETUAL:
        raise InvalidInput(RiskReason.NOT_PERPETUAL, f"{instrument_name} is not a perpetual")
    if mark <= 0:
        raise InvalidInput(RiskReason.INVALID_PRICE, f"mark {mark} must be positive")
    if abs(rate_ppm) > params.cap_ppm:
        raise InvalidInput(RiskReason.INVALID_PARAMETERS, f"rate {rate_ppm} ppm exceeds the cap")
    last = ledger.last_funding_ms.get(instrument_name)
    if last is not None and ts_ms - last < params.interval_ms:
        raise InvalidInput(
            RiskReason.FUNDING_TOO_EARLY,
            f"{instrument_name} was funded at {last}; next funding at {last + params.interval_ms}",
        )
    scale = scale_of(instrument)
    credits: dict[str, int] = {}
    for account_name, account in ledger.accounts.items():
        position = account.positions.get(instrument_name)
        if position is not None and position.quantity:
            credits[account_name] = div_round(
                -position.quantity * mark * rate_ppm, scale * PPM, Rounding.FLOOR
            )
    ledger.last_funding_ms[instrument_name] = ts_ms
    return _pay_out(ledger, credits, MovementKind.FUNDING, instrument_name)


def settlement_credits(
    ledger: Ledger, instrument_name: str, *, price: int, ts_ms: int
) -> dict[str, tuple[int, int]]:
    """What settling at ``price`` would do, changing nothing: each holder's ``(quantity, credit)``
    where the credit is ``floor(q x value) - cost`` (the chain's ``settlement_credit``), by
    account name. Refused as :func:`settle_expiry` refuses."""
    instrument = instrument_of(ledger, instrument_name)
    if instrument.kind is InstrumentKind.PERPETUAL or not instrument.is_expired(ts_ms):
        raise InvalidInput(RiskReason.NOT_EXPIRED, f"{instrument_name} has not expired at {ts_ms}")
    if instrument_name in ledger.settled:
        raise InvalidInput(RiskReason.ALREADY_SETTLED, f"{instrument_name} is already settled")
    if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        raise InvalidInput(RiskReason.INVALID_PRICE, f"settlement price {price!r} must be > 0")
    scale = scale_of(instrument)
    strike = instrument.strike or 0
    payoff = max(price - strike if instrument.option_type is OptionType.CALL else strike - price, 0)
    unit = payoff if instrument.kind is InstrumentKind.OPTION else price
    found: dict[str, tuple[int, int]] = {}
    for account_name, account in sorted(ledger.accounts.items()):
        position = account.positions.get(instrument_name)
        if position is not None:
            credit = cash(unit, position.quantity, scale, Rounding.FLOOR) - position.cost
            found[account_name] = (position.quantity, credit)
    return found


def settle_expiry(
    ledger: Ledger, instrument_name: str, *, price: int, ts_ms: int
) -> list[Movement]:
    """Settle an expired option or future in cash at ``price`` and close every position.

    An option holder receives ``max(S - K, 0)`` (call) or ``max(K - S, 0)`` (put) per unit, the
    writer pays it; a future realises ``cash(S, q) - cost``. Credits are rounded down. An
    instrument settles once: a second settlement is refused (``ALREADY_SETTLED``).
    """
    found = settlement_credits(ledger, instrument_name, price=price, ts_ms=ts_ms)
    credits: dict[str, int] = {}
    realized: dict[str, int] = {}
    for account_name, (_, credit) in found.items():
        cost = ledger.accounts[account_name].positions[instrument_name].cost
        credits[account_name] = credit + cost
        realized[account_name] = cost
    for account_name in credits:
        del ledger.accounts[account_name].positions[instrument_name]
    ledger.settled[instrument_name] = price
    return _pay_out(ledger, credits, MovementKind.SETTLEMENT, instrument_name, realized)


def apply_chain_funding(
    ledger: Ledger, instrument_name: str, credits: Mapping[str, int], *, ts_ms: int
) -> list[Movement]:
    """Apply the funding the chain paid on a perpetual at ``ts_ms``: its amount per account.

    The chain computes funding from its own positions at its block time, which the engine's
    positions have moved on from by the time the block is read; applying the chain's amounts,
    not a rate, is what keeps each engine balance equal to the chain's to the base unit. The
    credits were each rounded down, so they sum to at most zero; what they leave goes to the
    fee pool, as on chain. Refused, changing nothing, for an instrument that is not a listed
    perpetual, an account the ledger does not hold, credits that would create money, or a
    time at or before the last funding of the instrument (a replay).
    """
    instrument = instrument_of(ledger, instrument_name)
    if instrument.kind is not InstrumentKind.PERPETUAL:
        raise InvalidInput(RiskReason.NOT_PERPETUAL, f"{instrument_name} is not a perpetual")
    last = ledger.last_funding_ms.get(instrument_name)
    if last is not None and ts_ms <= last:
        raise InvalidInput(
            RiskReason.FUNDING_REPLAYED,
            f"{instrument_name} was funded at {last}, not before {ts_ms}",
        )
    for account_name, amount in credits.items():
        account_of(ledger, account_name)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidInput(RiskReason.INVALID_AMOUNT, f"funding of {account_name} is no int")
    total = sum(credits.values())
    if total > 0:
        raise InvalidInput(
            RiskReason.INVALID_AMOUNT, f"funding credits of {instrument_name} sum to {total} > 0"
        )
    leftover = dust(list(credits.values()))
    moved: list[Movement] = []
    for account_name, amount in sorted(credits.items()):
        ledger.accounts[account_name].balance += amount
        if amount:
            moved.append(Movement(MovementKind.FUNDING, account_name, amount, instrument_name))
    if leftover:
        ledger.fee_pool += leftover
        moved.append(Movement(MovementKind.DUST, FEE_POOL, leftover, instrument_name))
    ledger.last_funding_ms[instrument_name] = ts_ms
    return moved
