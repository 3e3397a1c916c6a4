"""Turning the engine's fills into ledger fills, each with both parties' signed orders.

:class:`FillCollector` sees every journal entry after the batcher's own pipeline applied it (the
command and the events it caused) and keeps the signed order behind each order id: a
``PlaceSignedOrder`` whose ``OrderAccepted`` names the new order id. Every ``Fill`` event then
becomes a :class:`PendingFill` (an ``optex.chain.Fill`` at a :data:`Position` in the journal) or,
when it cannot be proven on chain, an :class:`Unsettled` with its reason:

* an order that was not signed (a plain ``NewOrder`` from an administrator or a test) has no
  signature for the ledger to check (``unsigned_fill``);
* a fill outside what the signed orders allow (an unsigned ``AmendOrder``'s price or size, a
  signature that expired before the fill, more quantity than signed) would be refused by the
  ledger (``unprovable_fill``), and one refused fill rejects its whole batch, so it is caught
  here.

A signed replacement (an edit, ``intent.revision`` above 0) that the engine applied (its
``OrderAmended``) governs the order id from then on, fills of the same entry included; the
quantity filled is counted per chain of replacements (``SignedOrder.origin_hash``), as the
ledger counts it. A market maker's ``SignedMassQuote`` says which of its legs governs each
quote in its ``SignedQuotesApplied`` event: a new leg a new order id, a replacement leg the
quote it re-sized (same order id, same origin, so the count carries on).

The collector is deterministic: the same journal gives the same pending fills, so a restarted
batcher rebuilds exactly what it had. Its state (signed orders by id and the quantity filled per
order hash) is a record for the batcher's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from optex.chain import Fill as ChainFill
from optex.crypto import Side, SignedOrder
from optex.exchange import Command, Event, PlaceSignedOrder, SignedMassQuote, SignedQuotesApplied
from optex.market import Fill, OrderAccepted, OrderAmended, OrderCancelled, OrderExpired
from optex.settlement._reasons import SettlementReason

FILL_BITS: Final = 20
"""Fills of one journal entry are numbered below ``2**FILL_BITS`` in the batch nonce."""

Position = tuple[int, int]
"""Where a fill comes from: its journal entry's sequence and its index among that entry's fills."""


def nonce_of(position: Position) -> int:
    """The operator nonce of a batch whose last fill is at ``position``: increasing with it."""
    seq, index = position
    return (seq << FILL_BITS) | index


class PendingFill(msgspec.Struct, frozen=True):
    """A fill ready for the chain, at its position in the journal."""

    seq: int
    index: int
    trade_id: int
    fill: ChainFill

    @property
    def position(self) -> Position:
        """``(seq, index)``."""
        return (self.seq, self.index)


class Unsettled(msgspec.Struct, frozen=True):
    """A fill the batcher cannot settle on chain, and why."""

    seq: int
    index: int
    trade_id: int
    code: int
    reason: str
    message: str


class CollectorState(msgspec.Struct, frozen=True):
    """What a collector remembers between entries, for the batcher's snapshot (text keys, as
    the canonical encoding requires: order ids in decimal, origin hashes in hex)."""

    orders: dict[str, SignedOrder] = {}
    filled: dict[str, int] = {}


class FillCollector:
    """Signed orders by engine order id, and the ledger fills of each entry's ``Fill`` events."""

    def __init__(self, chain_id: str, state: CollectorState | None = None) -> None:
        self.chain_id = chain_id
        state = state or CollectorState()
        self.orders: dict[int, SignedOrder] = {int(k): v for k, v in state.orders.items()}
        self.filled: dict[bytes, int] = {bytes.fromhex(k): v for k, v in state.filled.items()}

    def state(self) -> CollectorState:
        """The collector's state as a record."""
        return CollectorState(
            {str(k): v for k, v in self.orders.items()},
            {k.hex(): v for k, v in self.filled.items()},
        )

    def collect(
        self,
        seq: int,
        command: Command | None,
        events: list[Event],
        fee_index: Callable[[str], int] | None = None,
    ) -> tuple[list[PendingFill], list[Unsettled]]:
        """The fills of the entry at ``seq`` (its command, or ``None`` if it did not decode).

        ``fee_index(instrument)`` is the index price the engine charged the entry's option fees
        at (``RiskEngine.fee_index``), sent with each fill so that the chain charges the same;
        without it, the chain charges at its oracle's index.
        """
        if isinstance(command, PlaceSignedOrder):
            if command.order.intent.is_replacement:
                self._replace(command.order, events)
            else:
                self._remember(command.order, events)
        elif isinstance(command, SignedMassQuote):
            self._quoted(command, events)
        pending: list[PendingFill] = []
        unsettled: list[Unsettled] = []
        index = 0
        for event in events:
            if isinstance(event, Fill):
                result = self._fill(seq, index, event, fee_index)
                (pending if isinstance(result, PendingFill) else unsettled).append(result)  # type: ignore[arg-type]
                index += 1
            elif isinstance(event, OrderCancelled | OrderExpired):
                self._forget(event.order_id)
        return pending, unsettled

    def prune(self, now_ms: int) -> None:
        """Forget signed orders whose signatures expired: no fill of theirs can settle."""
        for order_id, order in list(self.orders.items()):
            if order.intent.expiry_ms <= now_ms:
                self._forget(order_id)

    def _remember(self, order: SignedOrder, events: list[Event]) -> None:
        intent = order.intent
        for event in events:
            if (
                isinstance(event, OrderAccepted)
                and event.account == intent.account
                and event.instrument == intent.instrument
                and event.client_order_id == (intent.client_order_id or None)
            ):
                self.orders[event.order_id] = order
                return

    def _quoted(self, command: SignedMassQuote, events: list[Event]) -> None:
        # The pipeline names the leg that governs each quote it opened or re-sized; a re-sized
        # quote keeps its order id and its origin, so its fill count carries on.
        legs = {leg.order_hash: leg for leg in command.legs}
        for event in events:
            if isinstance(event, SignedQuotesApplied):
                for governing in event.governing:
                    leg = legs.get(governing.order_hash)
                    if leg is not None:
                        self.orders[governing.order_id] = leg

    def _replace(self, order: SignedOrder, events: list[Event]) -> None:
        replaces = order.intent.replaces
        for event in events:
            if isinstance(event, OrderAmended):
                current = self.orders.get(event.order_id)
                if current is not None and current.order_hash == replaces:
                    self.orders[event.order_id] = order
                return

    def _forget(self, order_id: int) -> None:
        order = self.orders.pop(order_id, None)
        if order is not None:
            self.filled.pop(order.origin_hash, None)

    def _fill(
        self, seq: int, index: int, fill: Fill, fee_index: Callable[[str], int] | None
    ) -> PendingFill | Unsettled:
        def refuse(code: SettlementReason, message: str) -> Unsettled:
            return Unsettled(seq, index, fill.trade_id, int(code), code.reason, message)

        if index >= 1 << FILL_BITS:
            return refuse(SettlementReason.UNPROVABLE_FILL, "too many fills in one entry")
        maker = self.orders.get(fill.maker_order_id)
        taker = self.orders.get(fill.taker_order_id)
        if maker is None or taker is None:
            missing = "maker" if maker is None else "taker"
            return refuse(SettlementReason.UNSIGNED_FILL, f"the {missing}'s order is not signed")
        problem = check_fill(self.chain_id, maker, taker, fill, self.filled)
        if problem is not None:
            return refuse(SettlementReason.UNPROVABLE_FILL, problem)
        for order, order_id in ((maker, fill.maker_order_id), (taker, fill.taker_order_id)):
            digest = order.origin_hash
            total = self.filled.get(digest, 0) + fill.quantity
            if total >= order.intent.quantity:
                # Fully filled: nothing more can come from this order id.
                self.orders.pop(order_id, None)
                self.filled.pop(digest, None)
            else:
                self.filled[digest] = total
        chain_fill = ChainFill(
            maker=maker,
            taker=taker,
            price=fill.price,
            quantity=fill.quantity,
            fee_index=0 if fee_index is None else fee_index(fill.instrument),
        )
        return PendingFill(seq, index, fill.trade_id, chain_fill)


def check_fill(
    chain_id: str, maker: SignedOrder, taker: SignedOrder, fill: Fill, filled: dict[bytes, int]
) -> str | None:
    """Why the ledger would refuse this fill for reasons visible without its state, or ``None``.

    The ledger's checks that need chain state (registered trading keys, the instrument listed,
    balances) cannot be made here; a batch refused for them is found from its block result.
    """
    for role, order in (("maker", maker), ("taker", taker)):
        intent = order.intent
        if intent.chain_id != chain_id:
            return f"the {role}'s order is signed for chain {intent.chain_id!r}"
        if intent.instrument != fill.instrument:
            return f"the {role}'s order is for {intent.instrument}, not {fill.instrument}"
        if intent.expiry_ms <= fill.ts_ms:
            return f"the {role}'s signature expired before the fill"
        limit = intent.price
        if limit and (fill.price > limit if intent.side is Side.BUY else fill.price < limit):
            return f"the price {fill.price} is outside the {role}'s signed limit {limit}"
        if filled.get(order.origin_hash, 0) + fill.quantity > intent.quantity:
            return f"the fills exceed the {role}'s signed quantity {intent.quantity}"
    if maker.intent.side is taker.intent.side:
        return "both orders are on one side"
    if maker.intent.account == taker.intent.account:
        return "both orders are one account's"
    if taker.intent.post_only:
        return "a post-only order cannot take"
    if not maker.intent.order_type.has_limit or not maker.intent.time_in_force.rests:
        return "the maker's signed order cannot rest on a book"
    return None
