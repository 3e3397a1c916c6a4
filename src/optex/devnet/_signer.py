"""The devnet market makers' signatures: their quotes and hedges as orders the chain can prove.

The agents of ``optex.agents`` speak the market's vocabulary (``MassQuote``, ``NewOrder``) and
know nothing of keys. :class:`QuoteSigner` turns what they send into signed commands with each
maker account's delegated trading key, so that every fill against a market maker settles on
chain like a user's:

* a ``MassQuote`` becomes :class:`~optex.exchange.SignedMassQuote` commands (at most
  :data:`LEGS_PER_COMMAND` legs each, under the sequencer's 16 KiB limit). Only a side whose
  price or size changed gets a new signature; an unchanged side is left out (the engine leaves
  it as it is). A side at the same price and no larger than what rests is a signed
  replacement of the leg that governs it (same order id; its total is what was filled plus the
  new size), anything else a new leg (new order id), a side quoted at zero is pulled.
  A leg that nears its expiry is renewed the same way, as a replacement of equal total;
* a ``NewOrder`` (the delta hedge) becomes a ``PlaceSignedOrder``.

What governs each side is learned from the engine's answer (``SignedQuotesApplied``), which is
exact and immediate; how much of a quote has filled comes from the replica of the engine's
journal, which may lag. A lagging fill count only makes a replacement's total smaller than it
could be (the engine then rests less than asked, never more), and a quote the replica does not
know is gone yet makes a replacement the engine refuses (``replaced_order_unknown``): that side
is empty, and the next requote opens it again with a new leg.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from optex.core import OrderType, Side, TimeInForce
from optex.crypto import OrderIntent, PrivateKey, SignedOrder, replacement, sign_order
from optex.exchange import (
    SETTLEMENT_WINDOW_MS,
    Command,
    Pipeline,
    PlaceSignedOrder,
    QuoteSlot,
    Receipt,
    SignedMassQuote,
    SignedQuotesApplied,
)
from optex.market import MassQuote, NewOrder

LEGS_PER_COMMAND: Final = 32
"""A signed leg is about 390 bytes in the journal: 32 stay well under 16 KiB."""
LEG_LIFETIME_MS: Final = 10 * 60_000
"""How long a quote leg's signature lasts; renewed once less than half of it is left."""
HEDGE_LIFETIME_MS: Final = 60_000
"""An immediate-or-cancel hedge needs its signature only until it has traded."""

Slot = tuple[str, str, str, Side]
"""(account, MMP group, instrument, side)."""
Submit = Callable[[Command], Receipt]


@dataclass(frozen=True)
class _Resting:
    leg: SignedOrder
    order_id: int
    seq: int
    """The journal entry that made ``leg`` govern ``order_id``."""


class QuoteSigner:
    """Signs the market makers' commands with their trading keys; remembers which signed leg
    governs each of their quotes."""

    def __init__(
        self,
        chain_id: str,
        keys: dict[str, PrivateKey],
        replica: Pipeline,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.chain_id = chain_id
        self.keys = keys
        self.replica = replica
        self.clock_ms = clock_ms
        self.signatures = 0
        """Legs and hedges signed so far."""
        self._resting: dict[Slot, _Resting] = {}
        self._nonce = 0

    def signs(self, command: object) -> bool:
        """Whether ``command`` is one this signer turns into signed commands."""
        return isinstance(command, MassQuote | NewOrder) and command.account in self.keys

    # Quotes ----------------------------------------------------------------------------------

    def submit_quote(self, command: MassQuote, submit: Submit) -> list[Receipt]:
        """Send ``command`` as signed mass quotes through ``submit``; their receipts."""
        legs: list[SignedOrder] = []
        pulls: list[QuoteSlot] = []
        now = self.clock_ms()
        for quote in command.quotes:
            for side, price, quantity in (
                (Side.BUY, quote.bid_price, quote.bid_quantity),
                (Side.SELL, quote.ask_price, quote.ask_quantity),
            ):
                slot = (command.account, command.mmp_group, quote.instrument, side)
                if price is None or quantity <= 0:
                    if slot in self._resting:
                        pulls.append(QuoteSlot(quote.instrument, side))
                    continue
                leg = self._leg(slot, price, quantity, now)
                if leg is not None:
                    legs.append(leg)
        receipts = []
        for chunk_legs, chunk_pulls in _chunks(legs, pulls):
            signed = SignedMassQuote(0, command.account, command.mmp_group, chunk_legs, chunk_pulls)
            receipt = submit(signed)
            self._learn(signed, receipt)
            receipts.append(receipt)
        return receipts

    def _leg(self, slot: Slot, price: int, quantity: int, now: int) -> SignedOrder | None:
        """The leg to send for one side, or ``None`` when what rests is what is wanted."""
        resting = self._resting.get(slot)
        if resting is not None:
            order = self.replica.engine.order(resting.order_id)
            gone = order is None and self.replica.last_seq >= resting.seq
            filled = 0 if order is None else order.filled
            total = resting.leg.intent.quantity
            if not gone and price == resting.leg.intent.price and filled + quantity <= total:
                fresh = resting.leg.intent.expiry_ms - now > LEG_LIFETIME_MS // 2
                if filled + quantity == total and fresh:
                    return None
                intent = replacement(
                    resting.leg,
                    quantity=filled + quantity,
                    nonce=self._next_nonce(),
                    expiry_ms=now + LEG_LIFETIME_MS,
                )
                return self._sign(slot[0], intent)
        account, _, instrument, side = slot
        intent = OrderIntent(
            chain_id=self.chain_id,
            account=account,
            instrument=instrument,
            side=side,
            order_type=OrderType.LIMIT,
            price=price,
            quantity=quantity,
            post_only=True,
            nonce=self._next_nonce(),
            expiry_ms=now + LEG_LIFETIME_MS,
        )
        return self._sign(account, intent)

    def _learn(self, command: SignedMassQuote, receipt: Receipt) -> None:
        # Every side this command named is what the engine says now: governed by a leg, or empty.
        group = command.mmp_group
        for pull in command.pulls:
            self._resting.pop((command.account, group, pull.instrument, pull.side), None)
        governing: dict[bytes, int] = {}
        for event in receipt.events:
            if isinstance(event, SignedQuotesApplied):
                governing = {g.order_hash: g.order_id for g in event.governing}
        for leg in command.legs:
            intent = leg.intent
            slot = (command.account, group, intent.instrument, intent.side)
            order_id = governing.get(leg.order_hash)
            if order_id is None:
                self._resting.pop(slot, None)
            else:
                self._resting[slot] = _Resting(leg, order_id, receipt.seq)

    # Hedges ----------------------------------------------------------------------------------

    def signed_order(self, command: NewOrder) -> PlaceSignedOrder:
        """The delta hedge (or any plain order of a maker) as an order it signed."""
        limited = command.order_type.has_limit
        now = self.clock_ms()
        expiry = now + HEDGE_LIFETIME_MS
        if command.tif is TimeInForce.GTD and command.expire_ts_ms is not None:
            # The engine stops a signed order the settlement window before its signature ends.
            expiry = command.expire_ts_ms + SETTLEMENT_WINDOW_MS
        intent = OrderIntent(
            chain_id=self.chain_id,
            account=command.account,
            instrument=command.instrument,
            side=command.side,
            order_type=command.order_type,
            price=(command.price or 0) if limited else 0,
            quantity=command.quantity,
            time_in_force=command.tif,
            reduce_only=command.reduce_only,
            nonce=self._next_nonce(),
            expiry_ms=expiry,
        )
        return PlaceSignedOrder(0, self._sign(command.account, intent))

    # Signing ---------------------------------------------------------------------------------

    def _sign(self, account: str, intent: OrderIntent) -> SignedOrder:
        self.signatures += 1
        return sign_order(self.keys[account], intent)

    def _next_nonce(self) -> int:
        # Microseconds: above every nonce an earlier run of the devnet used (the engine's
        # replay guard wants each key's nonces to rise), and one more when called faster.
        self._nonce = max(self._nonce + 1, time.time_ns() // 1_000)
        return self._nonce


def _chunks(
    legs: list[SignedOrder], pulls: list[QuoteSlot]
) -> Iterator[tuple[tuple[SignedOrder, ...], tuple[QuoteSlot, ...]]]:
    """Commands of at most ``LEGS_PER_COMMAND`` legs and pulls, all pulls in the first."""
    size = LEGS_PER_COMMAND
    first = max(size - len(pulls), 0)
    if legs or pulls:
        yield tuple(legs[:first]), tuple(pulls)
    for start in range(first, len(legs), size):
        yield tuple(legs[start : start + size]), ()
