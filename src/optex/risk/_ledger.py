"""The balance sheet: accounts, the insurance fund and the fee pool, with exact conservation.

State is plain data (msgspec Structs) and every rule is a function over it that validates first
and then applies, so that a refused operation changes nothing and the chain can run the very same
functions on its own copy. Each function returns the :class:`Movement` records it made: who gained
or lost how many settlement base units and why.

Accounting, in settlement base units:

* an option trade moves the premium from buyer to seller at once (``cash(price, quantity)``);
* a future or perpetual trade moves no cash: each side's :attr:`Position.cost` (the cash value
  of its entries) changes, and the difference is realised into the balance when the position is
  closed to zero, settled or funded;
* fees go from the trader to the fee pool.

The conserved total is ``sum(balance) - sum(cost) + insurance_fund + fee_pool``: every operation
moves value between its terms, and only deposits and withdrawals change it (tracked in
:attr:`Ledger.external`). :func:`check_conservation` asserts it, and that every instrument's open
interest nets to zero.
"""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum

import msgspec

from optex.core import (
    Instrument,
    InstrumentKind,
    InsufficientFunds,
    InvalidInput,
    InvariantViolation,
    NotFound,
    Rounding,
    asset,
)
from optex.risk._money import cash, ppm_of
from optex.risk._params import FeeParams
from optex.risk._reasons import RiskReason

INSURANCE_FUND = "@insurance_fund"
"""The party name of the insurance fund in :class:`Movement` records."""
FEE_POOL = "@fee_pool"
"""The party name of the fee pool in :class:`Movement` records."""


class MovementKind(StrEnum):
    """Why value moved."""

    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    PREMIUM = "premium"
    FEE = "fee"
    REALIZED_PNL = "realized_pnl"
    FUNDING = "funding"
    SETTLEMENT = "settlement"
    PENALTY = "penalty"
    DEFICIT = "deficit"
    DELEVERAGE = "deleverage"
    DUST = "dust"


class Movement(msgspec.Struct, frozen=True):
    """``party``'s cash changed by ``amount`` base units (negative: it paid)."""

    kind: MovementKind
    party: str
    amount: int
    instrument: str | None = None


class Position(msgspec.Struct):
    """A signed quantity (underlying base units) and, for futures, the cash value of entries."""

    quantity: int = 0
    cost: int = 0


class Account(msgspec.Struct):
    """An account's cash balance, positions by instrument name and margin model."""

    balance: int = 0
    positions: dict[str, Position] = {}
    portfolio_margin: bool = False


class Ledger(msgspec.Struct):
    """Every account, the insurance fund, the fee pool and the instruments they trade."""

    instruments: dict[str, Instrument] = {}
    accounts: dict[str, Account] = {}
    insurance_fund: int = 0
    fee_pool: int = 0
    external: int = 0
    """Deposits minus withdrawals: what :func:`total_value` must always equal."""
    last_funding_ms: dict[str, int] = {}
    settled: dict[str, int] = {}
    """Settled instruments and their settlement prices."""


class Trade(msgspec.Struct, frozen=True):
    """A fill as the ledger sees it: who bought from whom, how much, and who provided liquidity."""

    instrument: str
    price: int
    quantity: int
    buyer: str
    seller: str
    maker_is_buyer: bool
    ts_ms: int = 0


def scale_of(instrument: Instrument) -> int:
    """Underlying base units per whole unit: the divisor of :func:`~optex.risk.cash`."""
    return asset(instrument.underlying).scale


def instrument_of(ledger: Ledger, name: str) -> Instrument:
    """The instrument called ``name``, or a clear error."""
    try:
        return ledger.instruments[name]
    except KeyError:
        raise NotFound(RiskReason.UNKNOWN_INSTRUMENT, f"unknown instrument {name!r}") from None


def account_of(ledger: Ledger, name: str) -> Account:
    """The account called ``name``, or a clear error."""
    try:
        return ledger.accounts[name]
    except KeyError:
        raise NotFound(RiskReason.UNKNOWN_ACCOUNT, f"unknown account {name!r}") from None


def add_instrument(ledger: Ledger, instrument: Instrument) -> None:
    """Make ``instrument`` tradable in the ledger (idempotent for the same definition)."""
    held = ledger.instruments.get(instrument.name)
    if held is not None and held != instrument:
        raise InvalidInput(
            RiskReason.UNKNOWN_INSTRUMENT, f"{instrument.name} is already defined differently"
        )
    ledger.instruments[instrument.name] = instrument


def open_account(ledger: Ledger, name: str, *, portfolio_margin: bool = False) -> Account:
    """The account ``name``, created empty if new."""
    account = ledger.accounts.get(name)
    if account is None:
        account = ledger.accounts[name] = Account(portfolio_margin=portfolio_margin)
    return account


def _positive(amount: int, what: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput(RiskReason.INVALID_AMOUNT, f"{what} {amount!r} must be a positive int")


def deposit(ledger: Ledger, name: str, amount: int) -> list[Movement]:
    """Credit a deposit (from the chain) to ``name``, opening the account if new."""
    _positive(amount, "deposit")
    open_account(ledger, name).balance += amount
    ledger.external += amount
    return [Movement(MovementKind.DEPOSIT, name, amount)]


def fund_insurance(ledger: Ledger, amount: int) -> list[Movement]:
    """Seed the insurance fund from outside (the operator's capital, counted as a deposit)."""
    _positive(amount, "insurance deposit")
    ledger.insurance_fund += amount
    ledger.external += amount
    return [Movement(MovementKind.DEPOSIT, INSURANCE_FUND, amount)]


def debit_withdrawal(ledger: Ledger, name: str, amount: int) -> list[Movement]:
    """Take a withdrawal out of ``name``'s balance; margin is checked by ``withdraw``."""
    _positive(amount, "withdrawal")
    account = account_of(ledger, name)
    if amount > account.balance:
        raise InsufficientFunds(
            RiskReason.INSUFFICIENT_BALANCE,
            f"withdrawal of {amount} exceeds the balance {account.balance}",
            shortfall=amount - account.balance,
        )
    account.balance -= amount
    ledger.external -= amount
    return [Movement(MovementKind.WITHDRAWAL, name, -amount)]


def trade_fee(
    instrument: Instrument, price: int, quantity: int, *, index: int, maker: bool, fees: FeeParams
) -> int:
    """Deribit's fee for one side of a fill, rounded up.

    Options: ``rate x index x quantity``, capped at ``option_cap x premium``; futures and
    perpetuals: ``rate x price x quantity`` (the traded notional).
    """
    size = abs(quantity)
    scale = scale_of(instrument)
    if instrument.kind is InstrumentKind.OPTION:
        rate = fees.option_maker_ppm if maker else fees.option_taker_ppm
        by_underlying = ppm_of(cash(index, size, scale, Rounding.CEILING), rate, Rounding.CEILING)
        cap = ppm_of(cash(price, size, scale), fees.option_cap_ppm, Rounding.CEILING)
        return min(by_underlying, cap)
    rate = fees.future_maker_ppm if maker else fees.future_taker_ppm
    return ppm_of(cash(price, size, scale), rate, Rounding.CEILING)


def _move_position(
    ledger: Ledger, name: str, instrument: Instrument, price: int, delta: int
) -> list[Movement]:
    """Add ``delta`` at ``price`` to ``name``'s position; realise a future's cost at zero."""
    account = open_account(ledger, name)
    position = account.positions.setdefault(instrument.name, Position())
    value = cash(price, delta, scale_of(instrument))
    moved: list[Movement] = []
    position.quantity += delta
    if instrument.kind is InstrumentKind.OPTION:
        account.balance -= value
        moved.append(Movement(MovementKind.PREMIUM, name, -value, instrument.name))
    else:
        position.cost += value
        if position.quantity == 0 and position.cost:
            account.balance -= position.cost
            moved.append(Movement(MovementKind.REALIZED_PNL, name, -position.cost, instrument.name))
            position.cost = 0
    if position.quantity == 0 and position.cost == 0:
        del account.positions[instrument.name]
    return moved


def check_trade(ledger: Ledger, trade: Trade) -> Instrument:
    """Refuse a trade the ledger cannot apply, before anything changes."""
    instrument = instrument_of(ledger, trade.instrument)
    if trade.instrument in ledger.settled:
        raise InvalidInput(RiskReason.UNKNOWN_INSTRUMENT, f"{trade.instrument} is settled")
    for value, what in ((trade.price, "price"), (trade.quantity, "quantity")):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            code = RiskReason.INVALID_PRICE if what == "price" else RiskReason.INVALID_QUANTITY
            raise InvalidInput(code, f"trade {what} {value!r} must be a positive int")
    if (trade.price * trade.quantity) % scale_of(instrument):
        raise InvalidInput(
            RiskReason.INVALID_QUANTITY,
            f"{trade.quantity} at {trade.price} is not a whole number of settlement base units; "
            "trades must lie on the instrument's tick and lot grid",
        )
    return instrument


def apply_trade(ledger: Ledger, trade: Trade, index: int, fees: FeeParams) -> list[Movement]:
    """Apply a fill to both sides: premium or cost, and each side's fee to the fee pool."""
    instrument = check_trade(ledger, trade)
    moved = _move_position(ledger, trade.buyer, instrument, trade.price, trade.quantity)
    moved += _move_position(ledger, trade.seller, instrument, trade.price, -trade.quantity)
    for name, maker in (
        (trade.buyer, trade.maker_is_buyer),
        (trade.seller, not trade.maker_is_buyer),
    ):
        fee = trade_fee(
            instrument, trade.price, trade.quantity, index=index, maker=maker, fees=fees
        )
        if fee:
            ledger.accounts[name].balance -= fee
            ledger.fee_pool += fee
            moved.append(Movement(MovementKind.FEE, name, -fee, instrument.name))
            moved.append(Movement(MovementKind.FEE, FEE_POOL, fee, instrument.name))
    return moved


def transfer_position(
    ledger: Ledger,
    instrument_name: str,
    *,
    source: str,
    target: str,
    quantity: int,
    price: int,
) -> list[Movement]:
    """Move ``quantity`` of ``source``'s position to ``target`` at ``price``, as a trade without
    fees (used by auto-deleveraging; ``quantity`` is signed from ``source``'s side)."""
    instrument = instrument_of(ledger, instrument_name)
    moved = _move_position(ledger, source, instrument, price, -quantity)
    moved += _move_position(ledger, target, instrument, price, quantity)
    return moved


def total_value(ledger: Ledger) -> int:
    """``sum(balance) - sum(cost) + insurance_fund + fee_pool``: conserved by every operation."""
    accounts = sum(
        a.balance - sum(p.cost for p in a.positions.values()) for a in ledger.accounts.values()
    )
    return accounts + ledger.insurance_fund + ledger.fee_pool


def check_conservation(ledger: Ledger) -> None:
    """Raise :class:`InvariantViolation` unless value is conserved and open interest nets out."""
    total = total_value(ledger)
    if total != ledger.external:
        raise InvariantViolation(f"total value {total} != net deposits {ledger.external}")
    net: dict[str, int] = defaultdict(int)
    for account in ledger.accounts.values():
        for name, position in account.positions.items():
            net[name] += position.quantity
    unbalanced = {name: q for name, q in net.items() if q}
    if unbalanced:
        raise InvariantViolation(f"open interest does not net to zero: {unbalanced}")
