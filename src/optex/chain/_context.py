"""What a transaction handler sees: the overlay it writes to, the rules, the block's time.

Handlers read and write records only through a :class:`Context`, raise an
:class:`optex.core.OptexError` to reject, and emit events; they never touch a store.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from optex.chain._block import Event
from optex.chain._genesis import Genesis
from optex.chain._reasons import ChainReason
from optex.chain._records import (
    FEE_POOL,
    PRICE,
    SUPPLY,
    Account,
    Balances,
    Counter,
    Price,
    account_key,
)
from optex.chain._state import Overlay
from optex.core import (
    Instrument,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    check_int128,
    instrument_from_name,
)

MAX_AMOUNT: Final = 2**63 - 1
MAX_ACCOUNT: Final = 64


class Context:
    """One block's execution context over an overlay (each transaction gets a child)."""

    __slots__ = ("events", "genesis", "height", "instruments", "now_ms", "view")

    def __init__(
        self,
        view: Overlay,
        genesis: Genesis,
        height: int,
        now_ms: int,
        instruments: dict[str, Instrument],
    ) -> None:
        self.view = view
        self.genesis = genesis
        self.height = height
        self.now_ms = now_ms
        self.instruments = instruments
        self.events: list[Event] = []

    @property
    def chain_id(self) -> str:
        """The chain this block belongs to."""
        return self.genesis.chain_id

    def child(self) -> Context:
        """A context over a fresh overlay of this one's, for one transaction."""
        return Context(Overlay(self.view), self.genesis, self.height, self.now_ms, self.instruments)

    def emit(self, kind: str, **attributes: Any) -> None:
        """Record an event; values are written as text."""
        self.events.append(Event(kind, {k: _text(v) for k, v in attributes.items()}))

    def account(self, name: str) -> Account:
        """The account called ``name``, or a clear error."""
        record = self.view.get(account_key(name))
        if record is None:
            raise NotFound(ChainReason.UNKNOWN_ACCOUNT, f"no account {name!r}", account=name)
        return record  # type: ignore[no-any-return]

    def put_account(self, name: str, account: Account) -> None:
        """Write an account back."""
        self.view.put(account_key(name), account)

    def check_asset(self, symbol: str) -> None:
        """Refuse an asset the chain does not list."""
        if self.genesis.asset(symbol) is None:
            raise NotFound(ChainReason.UNKNOWN_ASSET, f"{symbol!r} is not listed", asset=symbol)

    def credit(self, name: str, symbol: str, delta: int, *, allow_negative: bool = False) -> None:
        """Add ``delta`` (may be negative) to a balance, refusing to go below zero."""
        account = self.account(name)
        self.put_account(name, with_balance(account, symbol, delta, allow_negative=allow_negative))

    def pool_add(self, symbol: str, delta: int) -> None:
        """Add to the fee pool."""
        pool = self.view.get(FEE_POOL) or Balances()
        amounts = dict(pool.amounts)
        value = check_int128(amounts.get(symbol, 0) + delta)
        if value < 0:
            raise InsufficientFunds(ChainReason.INSUFFICIENT_BALANCE, "the fee pool is empty")
        if value:
            amounts[symbol] = value
        else:
            amounts.pop(symbol, None)
        self.view.put(FEE_POOL, Balances(amounts))

    def add_supply(self, symbol: str, delta: int) -> None:
        """Change the amount of ``symbol`` the chain holds (deposits in, withdrawals out)."""
        record = self.view.get(SUPPLY + symbol)
        value = check_int128((record.value if record else 0) + delta)
        self.view.put(SUPPLY + symbol, Counter(value))

    def price(self, symbol: str) -> Price | None:
        """The oracle price of ``symbol``, if there is one."""
        return self.view.get(PRICE + symbol)  # type: ignore[no-any-return]

    def instrument(self, name: str) -> Instrument:
        """The instrument called ``name``, on its underlying's listing rules from genesis."""
        found = self.instruments.get(name)
        if found is not None:
            return found
        try:
            underlying = name.split("-", 1)[0]
            rules = self.genesis.underlyings[underlying]
            found = instrument_from_name(name, rules)
        except (KeyError, InvalidInput):
            raise NotFound(
                ChainReason.UNKNOWN_INSTRUMENT, f"{name!r} is not listed", instrument=name
            ) from None
        self.instruments[name] = found
        return found


def with_balance(
    account: Account, symbol: str, delta: int, *, allow_negative: bool = False
) -> Account:
    """``account`` with ``delta`` added to its ``symbol`` balance (zero balances are dropped)."""
    balances = dict(account.balances)
    value = check_int128(balances.get(symbol, 0) + delta)
    if value < 0 and not allow_negative:
        raise InsufficientFunds(
            ChainReason.INSUFFICIENT_BALANCE,
            f"balance of {symbol} would be {value}",
            asset=symbol,
        )
    if value:
        balances[symbol] = value
    else:
        balances.pop(symbol, None)
    return msgspec.structs.replace(account, balances=balances)


def check_amount(amount: object, what: str = "amount") -> int:
    """A positive integer amount that fits a transaction field."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise InvalidInput(
            ChainReason.AMOUNT_NOT_POSITIVE, f"{what} must be an integer from 1 to 2^63-1"
        )
    return amount


def check_account(name: object) -> str:
    """An account id: 1-64 ASCII letters, digits and ``_.:-`` (as ``optex.crypto`` checks)."""
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= MAX_ACCOUNT
        or not name.isascii()
        or not all(ch.isalnum() or ch in "_.:-" for ch in name)
    ):
        raise InvalidInput(
            ChainReason.MALFORMED_TX,
            f"an account id is 1-{MAX_ACCOUNT} ASCII letters, digits and '_.:-'",
            field="account",
        )
    return name


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
