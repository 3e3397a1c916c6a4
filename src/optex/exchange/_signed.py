"""Which signed order governs each live order, and signed replacements (edits) as amends.

Every ``PlaceSignedOrder`` the pipeline applies is held here by its order hash while its
command applies, and kept only if it then governs a live order: when one opens an order (its
``OrderAccepted``) it *governs* that order id: the settlement batcher proves the
order's fills with it. A signed order that replaces another (``intent.revision`` above 0) opens
nothing: :meth:`SignedOrders.amend_for` finds the order id its predecessor governs, checks it
with ``optex.crypto.check_replacement`` (same key, same fields but price, quantity and trigger,
next revision, no earlier expiry) and turns it into the market's ``AmendOrder`` with Deribit's
meaning (the quantity is the new total, what was filled included; a size decrease keeps the
order's place, a price change or a larger size loses it). If the engine amends, the
replacement governs the order id from that moment, fills in the same entry included; if it
refuses, the predecessor still governs.

Replay protection does not need the orders themselves (the pipeline's
``optex.crypto.ReplayGuard`` keeps nonces), so memory here is bounded by the open orders, not by
the order rate times the signatures' lifetime. An order rests at most until the settlement
window before its signature (or its instrument) expires (``order_of``). The map is part of the
pipeline's state hash: it decides whether a later replacement applies.
"""

from __future__ import annotations

from collections.abc import Iterable

from optex.core import OptexError
from optex.crypto import SignedOrder, check_replacement, order_hash
from optex.exchange._reasons import ExchangeReason
from optex.market import (
    AmendOrder,
    Fill,
    MatchingEngine,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
)
from optex.market import Event as MarketEvent


class SignedOrders:
    """Signed orders by hash, and the one that governs each live order id."""

    def __init__(self) -> None:
        self.by_hash: dict[bytes, SignedOrder] = {}
        """The signed orders that govern live orders, and the one whose command applies now."""
        self.governing: dict[int, bytes] = {}
        """Order id -> hash of the signed order that governs it."""
        self._order_ids: dict[bytes, int] = {}

    # Recording -----------------------------------------------------------------------------

    def remember(self, order: SignedOrder) -> bytes:
        """Hold a journaled signed order while its command applies; its hash."""
        digest = order_hash(order.intent)
        self.by_hash[digest] = order
        return digest

    def release(self, digest: bytes) -> None:
        """After its command applied: drop the signed order unless it now governs an order
        (it filled at once, was refused, or its replacement was refused): nothing refers to it
        again."""
        if digest not in self._order_ids:
            self.by_hash.pop(digest, None)

    def placed(
        self, digest: bytes, account: str, events: Iterable[MarketEvent], engine: MatchingEngine
    ) -> None:
        """The order a new signed order opened (its ``OrderAccepted``) is governed by it, if
        it is still open after its own command (one that traded in full at once is not)."""
        for event in events:
            if isinstance(event, OrderAccepted) and event.account == account:
                if engine.order(event.order_id) is not None:
                    self._govern(event.order_id, digest)
                return

    def govern(self, order_id: int, digest: bytes) -> None:
        """``digest`` (remembered) governs live order ``order_id`` from now on: a signed quote
        leg that opened or re-sized a quote (``_quotes``)."""
        self._govern(order_id, digest)

    def amend_for(
        self, order: SignedOrder, ts_ms: int, engine: MatchingEngine
    ) -> AmendOrder | OrderRejected:
        """The amend that applies replacement ``order``, or why it cannot apply."""
        intent = order.intent
        order_id = self._order_ids.get(intent.replaces)
        live = engine.order(order_id) if order_id is not None else None
        if order_id is None or live is None or live.account != intent.account:
            return _rejected(
                order,
                ts_ms,
                None,
                ExchangeReason.REPLACED_ORDER_UNKNOWN,
                "the replaced order is not open or not governed by a signed order any more",
            )
        try:
            check_replacement(self.by_hash[intent.replaces], order)
        except OptexError as exc:
            return _rejected(
                order, ts_ms, order_id, ExchangeReason.INVALID_REPLACEMENT, exc.message
            )
        limited = intent.order_type.has_limit
        return AmendOrder(
            ts_ms=ts_ms,
            account=intent.account,
            order_id=order_id,
            price=intent.price if limited else None,
            quantity=intent.quantity,
            trigger_price=intent.trigger_price or None,
        )

    def replaced(self, order_id: int, digest: bytes, events: Iterable[MarketEvent]) -> None:
        """After an amend: if the engine amended ``order_id``, ``digest`` governs it now."""
        if any(isinstance(e, OrderAmended) and e.order_id == order_id for e in events):
            self._govern(order_id, digest)

    def closed(self, events: Iterable[MarketEvent], engine: MatchingEngine) -> None:
        """Forget the order ids these events ended (filled, cancelled, expired)."""
        for event in events:
            if isinstance(event, Fill):
                ids: tuple[int, ...] = (event.maker_order_id, event.taker_order_id)
            elif isinstance(event, OrderCancelled | OrderExpired):
                ids = (event.order_id,)
            else:
                continue
            for order_id in ids:
                if order_id in self.governing and engine.order(order_id) is None:
                    self._ungovern(order_id)

    def _govern(self, order_id: int, digest: bytes) -> None:
        self._ungovern(order_id)
        self.governing[order_id] = digest
        self._order_ids[digest] = order_id

    def _ungovern(self, order_id: int) -> None:
        old = self.governing.pop(order_id, None)
        if old is not None:
            self._order_ids.pop(old, None)
            self.by_hash.pop(old, None)

    # Reading and restoring ------------------------------------------------------------------

    def governing_order(self, order_id: int) -> SignedOrder | None:
        """The signed order that governs a live order id, if it is signed."""
        digest = self.governing.get(order_id)
        return None if digest is None else self.by_hash.get(digest)

    def kept(self) -> list[SignedOrder]:
        """The signed orders that govern live orders (by hash), for a snapshot."""
        return [order for _, order in sorted(self.by_hash.items())]

    def restore(self, orders: Iterable[SignedOrder], governing: dict[str, bytes]) -> None:
        """Put a snapshot's orders and governing map back."""
        for order in orders:
            self.by_hash[order_hash(order.intent)] = order
        for order_id, digest in governing.items():
            self._govern(int(order_id), digest)


def _rejected(
    order: SignedOrder, ts_ms: int, order_id: int | None, code: ExchangeReason, message: str
) -> OrderRejected:
    intent = order.intent
    return OrderRejected(
        ts_ms,
        intent.account,
        intent.client_order_id or None,
        order_id,
        int(code),
        code.reason,
        message,
    )
