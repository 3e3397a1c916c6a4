"""The commands the exchange journals and the events it adds to the matching engine's.

The journal holds :data:`Command`: every ``optex.market`` command, plus the commands that involve
the risk engine as well (:class:`Deposit`, :class:`Withdraw`, :class:`SetPrices`) and
:class:`PlaceSignedOrder`,
which carries a user's signed order so that the settlement batcher can later prove it. All are
frozen msgspec Structs tagged with their class name in the ``type`` field, as market's are, so
``optex.core.decode(payload, Command)`` reads any journal entry back.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from optex.crypto import SignedOrder
from optex.market import Command as MarketCommand
from optex.market import Event as MarketEvent
from optex.market import NewOrder, PostOnly, TimeInForce
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


Command = MarketCommand | Deposit | SetPrices | PlaceSignedOrder | Withdraw
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


Event = MarketEvent | CommandFailed | Deposited | Withdrawn
"""Everything the engine service publishes."""

_SNAKE: Final = re.compile(r"(?<!^)(?=[A-Z])")


def event_kind(event: msgspec.Struct) -> str:
    """The snake_case kind of an event, as in the NATS subject ``optex.events.<kind>``."""
    return _SNAKE.sub("_", type(event).__name__).lower()


def order_of(command: PlaceSignedOrder) -> NewOrder:
    """The matching engine's order for a signed one: the same vocabulary, field for field.

    A good-til-date order expires when its signature does (``expiry_ms``), a zero price or
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
        expire_ts_ms=(intent.expiry_ms if intent.time_in_force is TimeInForce.GTD else None),
        trigger_price=intent.trigger_price or None,
        post_only=PostOnly.REJECT if intent.post_only else PostOnly.OFF,
        reduce_only=intent.reduce_only,
    )
