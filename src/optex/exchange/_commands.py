"""The commands the exchange journals and the events it adds to the matching engine's.

The journal holds :data:`Command`: every ``optex.market`` command, plus the commands that involve
the risk engine as well (:class:`Deposit`, :class:`Withdraw`, :class:`SetPrices`), what the chain
decided (:class:`SettleExpiry`, :class:`PayFunding`) and :class:`PlaceSignedOrder`,
which carries a user's signed order so that the settlement batcher can later prove it. All are
frozen msgspec Structs tagged with their class name in the ``type`` field, as market's are, so
``optex.core.decode(payload, Command)`` reads any journal entry back.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from optex.crypto import SignedOrder
from optex.exchange._window import trading_end_ms
from optex.market import Command as MarketCommand
from optex.market import Event as MarketEvent
from optex.market import NewOrder, PostOnly, Side
from optex.risk import Mark


class _Message(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """Base of the exchange's own commands and events, tagged like ``optex.market``'s."""


class Deposit(_Message, frozen=True):
    """Credit ``amount`` settlement base units to ``account`` (from the chain), opening it."""

    ts_ms: int
    account: str
    amount: int


class Withdraw(_Message, frozen=True):
    """Debit ``amount`` settlement base units from ``account`` for a withdrawal on chain.

    The engine debits first and the chain pays out after, so funds that leave the chain are
    never still available for trading. Refused (``CommandFailed``, nothing changed) when the
    balance does not cover it or initial margin would exceed the equity left. ``force`` skips
    the margin check (never the balance check): it mirrors a withdrawal the chain already paid,
    which margin can no longer stop. ``withdrawal_id`` names it (the chain transaction's hash).

    ``chain_tx`` is the owner-signed chain withdrawal itself (canonical bytes of an
    ``optex.chain.SignedTx``), when the gateway took the request: journaling it with the debit
    lets the settlement process, which follows the journal, broadcast it once the debit is
    applied. The engine never reads it; it changes no state and so no state hash.
    """

    ts_ms: int
    account: str
    amount: int
    withdrawal_id: str = ""
    force: bool = False
    chain_tx: bytes = b""


class SetPrices(_Message, frozen=True):
    """New index prices per underlying and marks per instrument, for risk and for the books.

    The risk engine takes them whole (marks carry volatility and greeks for portfolio margin);
    the matching engine gets an ``UpdatePrice`` per mark and per listed instrument of each
    index, so stops and price bands see the same prices as margin.
    """

    ts_ms: int
    index: dict[str, int] = {}
    marks: dict[str, Mark] = {}


class PlaceSignedOrder(_Message, frozen=True):
    """Place an order its owner signed; the sequencer verified it before journaling."""

    ts_ms: int
    order: SignedOrder


class QuoteSlot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One side of one instrument in a market maker's quoting group."""

    instrument: str
    side: Side


class SignedMassQuote(_Message, frozen=True):
    """Replace a market maker's quotes in one MMP group with legs it signed (``_quotes``).

    Each leg is a post-only GTC limit ``SignedOrder`` of ``account`` for one side of one
    instrument; the sequencer verifies every leg as it verifies a ``PlaceSignedOrder``. A leg
    whose ``revision`` is 0 opens a new quote; a signed replacement of the leg that governs a
    live quote re-sizes that quote in place (its ``quantity`` is the chain's total, what was
    filled included). ``pulls`` withdraws sides without a new leg. Sides not named are left
    as they are, so a requote carries only the legs whose price or size changed.
    """

    ts_ms: int
    account: str
    mmp_group: str
    legs: tuple[SignedOrder, ...] = ()
    pulls: tuple[QuoteSlot, ...] = ()


class ChainCredit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One holder's part of a settlement or funding the chain applied: the quantity the chain saw
    it hold and the settlement base units the chain credited it (negative: debited)."""

    account: str
    quantity: int
    amount: int


class SettleExpiry(_Message, frozen=True):
    """Settle an expired option or future at the price the chain settled it at, at ``height``.

    The chain decides (the first oracle index price voted at or after expiry); the engine never
    settles an instrument on its own price, and settles each one once (``ALREADY_SETTLED``
    after). Positions are frozen from expiry on, so the engine's positions settled at the
    chain's price by the one shared rule give the chain's ``credits`` exactly; where they do not
    (a fill the chain refused), the engine still settles its own positions and names the
    accounts in ``ExpirySettled.mismatched``. ``block_ts_ms`` is the chain block's time.
    """

    ts_ms: int
    instrument: str
    price: int
    height: int
    block_ts_ms: int
    credits: tuple[ChainCredit, ...] = ()


class PayFunding(_Message, frozen=True):
    """Apply one interval of a perpetual's funding as the chain paid it at ``height``: the
    chain's amount per account (not its rate, which the engine would apply to positions that
    have moved on since the block). ``rate_ppm`` is the chain's rate, for the record."""

    ts_ms: int
    instrument: str
    rate_ppm: int
    height: int
    block_ts_ms: int
    credits: tuple[ChainCredit, ...] = ()


Command = (
    MarketCommand
    | Deposit
    | SetPrices
    | PlaceSignedOrder
    | SignedMassQuote
    | Withdraw
    | SettleExpiry
    | PayFunding
)
"""Everything the sequencer journals and the engine service applies."""


class CommandFailed(_Message, frozen=True):
    """A journaled command that the engine refused as a whole (an administrative one with a bad
    field, or bytes that do not decode); it changed nothing. Orders are refused with
    ``OrderRejected`` instead."""

    ts_ms: int
    seq: int
    code: int
    reason: str
    message: str


class Deposited(_Message, frozen=True):
    """A deposit was credited."""

    ts_ms: int
    account: str
    amount: int
    balance: int


class Withdrawn(_Message, frozen=True):
    """A withdrawal was debited; the chain may now pay it out."""

    ts_ms: int
    account: str
    amount: int
    balance: int
    withdrawal_id: str = ""


class ExpirySettled(_Message, frozen=True):
    """An instrument was settled at the chain's price: every position in it closed.

    ``mismatched`` names the accounts whose position or credit differed from the chain's (the
    engine and the chain disagreed before settlement; an operator must reconcile them)."""

    ts_ms: int
    instrument: str
    price: int
    height: int
    positions: int
    mismatched: tuple[str, ...] = ()


class FundingPaid(_Message, frozen=True):
    """The chain's funding of a perpetual was applied to ``positions`` accounts."""

    ts_ms: int
    instrument: str
    rate_ppm: int
    height: int
    positions: int


class GoverningLeg(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A signed quote leg (its order hash) and the live order id it governs."""

    order_id: int
    order_hash: bytes


class SignedQuotesApplied(_Message, frozen=True):
    """A ``SignedMassQuote`` was applied: the legs that now govern a live quote, each with its
    order id. A leg not listed opened nothing (refused, pulled, or its total already filled);
    the settlement batcher proves the quotes' fills with exactly these legs."""

    ts_ms: int
    account: str
    mmp_group: str
    governing: tuple[GoverningLeg, ...] = ()


Event = (
    MarketEvent
    | CommandFailed
    | Deposited
    | Withdrawn
    | ExpirySettled
    | FundingPaid
    | SignedQuotesApplied
)
"""Everything the engine service publishes."""

_SNAKE: Final = re.compile(r"(?<!^)(?=[A-Z])")


def event_kind(event: msgspec.Struct) -> str:
    """The snake_case kind of an event, as in the NATS subject ``optex.events.<kind>``."""
    return _SNAKE.sub("_", type(event).__name__).lower()


def order_of(command: PlaceSignedOrder, instrument_expiry_ms: int | None = None) -> NewOrder:
    """The matching engine's order for a signed one: the same vocabulary, field for field.

    A resting order (good-til-date or good-til-cancelled) expires the settlement window before
    its signature does (``trading_end_ms``, in ``_window``): the chain refuses a fill of an
    expired signed order, so one trading up to the signature's end could trade off chain and
    never settle. With ``instrument_expiry_ms``, the window before the instrument's expiry if
    that comes first (the chain refuses fills of an expired instrument too). A zero price or
    trigger means none, and post-only means reject-if-crossing.
    """
    intent = command.order.intent
    return NewOrder(
        ts_ms=command.ts_ms,
        account=intent.account,
        instrument=intent.instrument,
        side=intent.side,
        quantity=intent.quantity,
        price=None if not intent.order_type.has_limit and intent.price == 0 else intent.price,
        order_type=intent.order_type,
        tif=intent.time_in_force,
        client_order_id=intent.client_order_id or None,
        expire_ts_ms=(
            trading_end_ms(command.order, instrument_expiry_ms)
            if intent.time_in_force.rests
            else None
        ),
        trigger_price=intent.trigger_price or None,
        post_only=PostOnly.REJECT if intent.post_only else PostOnly.OFF,
        reduce_only=intent.reduce_only,
    )
