"""Algorithms that work one resting limit order: an iceberg and a passive-to-aggressive limit.

Both place a single limit order through the venue and move it with amendments (a price change
loses queue priority, as for anyone); what still rests when the window ends is cancelled by
:meth:`ExecutionAlgo.finish`.
"""

from __future__ import annotations

from optex.agents._execution import ExecutionAlgo, ParentOrder, _require
from optex.agents._venue import Venue
from optex.market import AmendOrder, CancelOrder, NewOrder, OrderAccepted


class _RestingAlgo(ExecutionAlgo):
    """An algorithm that works one resting limit order and moves it with amendments."""

    def __init__(self, parent: ParentOrder, venue: Venue, *, protection_bps: int) -> None:
        super().__init__(parent, venue, protection_bps=protection_bps)
        self.order_id: int | None = None
        self.price: int | None = None

    def _place(self, ts_ms: int, price: int, display: int | None = None) -> None:
        lot = self.instrument.lot_size
        quantity = self.remaining // lot * lot
        if quantity <= 0:
            return
        self.children += 1
        events = self.venue.submit(
            NewOrder(
                ts_ms,
                self.parent.account,
                self.parent.instrument,
                self.parent.side,
                quantity,
                price=price,
                display_quantity=display if display is not None and display < quantity else None,
            )
        )
        for event in events:
            if type(event) is OrderAccepted and event.account == self.parent.account:
                self.order_id = event.order_id
                self.price = price
        if self.order_id is not None and self.venue.engine.order(self.order_id) is None:
            self.order_id = None

    def _move(self, ts_ms: int, price: int) -> None:
        if self.order_id is None or price == self.price:
            return
        if self.venue.engine.order(self.order_id) is None:
            self.order_id = None
            return
        self.venue.submit(AmendOrder(ts_ms, self.parent.account, self.order_id, price=price))
        self.price = price
        if self.venue.engine.order(self.order_id) is None:
            self.order_id = None

    def _resting(self) -> bool:
        return self.order_id is not None and self.venue.engine.order(self.order_id) is not None

    def _cancel(self, ts_ms: int) -> None:
        if self._resting():
            self.venue.submit(CancelOrder(ts_ms, self.parent.account, self.order_id))
        self.order_id = None

    def _reference(self) -> float | None:
        """The current mid, else the arrival price."""
        mid = self.venue.mid(self.parent.instrument)
        return float(mid) if mid is not None else self.arrival

    def _on_grid(self, price: float, passive: bool) -> int:
        """``price`` rounded onto the tick grid, towards the passive side when ``passive``."""
        tick = self.instrument.tick_size
        down = self.is_buy == passive
        ticks = int(price // tick) if down else -int(-price // tick)
        return max(ticks * tick, tick)


class Iceberg(_RestingAlgo):
    """One limit order showing ``display_lots`` at a time, kept at the passive touch.

    The engine refills the visible slice from the hidden rest; the algorithm only moves the
    order when the touch moves (losing priority, as any price change does).
    """

    name = "iceberg"

    def __init__(
        self,
        parent: ParentOrder,
        venue: Venue,
        *,
        display_lots: int = 1,
        protection_bps: int = 500,
    ) -> None:
        _require(display_lots >= 1, "display_lots must be at least 1")
        super().__init__(parent, venue, protection_bps=protection_bps)
        self.display = display_lots * self.instrument.lot_size

    def _act(self, ts_ms: int) -> None:
        if ts_ms >= self.parent.end_ms:
            return
        bid, ask = self.venue.touch(self.parent.instrument)
        own = self.price if self._resting() else None
        touch = bid if self.is_buy else ask
        if touch is None or touch == own:
            reference = self._reference()
            if reference is None:
                return
            price = self._on_grid(reference, passive=True)
        else:
            price = touch
        if not self._resting():
            self._place(ts_ms, price, self.display)
        else:
            self._move(ts_ms, price)


class PassiveAggressive(_RestingAlgo):
    """A limit that starts at the mid and steps towards the far touch, for illiquid options.

    At step ``k`` of ``steps`` (one every ``step_ms``) the price is ``mid + k/steps (touch -
    mid)``, passively rounded; from the last step on it sits at the touch and trades.
    """

    name = "passive_aggressive"

    def __init__(
        self,
        parent: ParentOrder,
        venue: Venue,
        *,
        steps: int = 5,
        step_ms: int = 10_000,
        protection_bps: int = 500,
    ) -> None:
        _require(steps >= 1 and step_ms > 0, "steps and step_ms must be positive")
        super().__init__(parent, venue, protection_bps=protection_bps)
        self.steps = steps
        self.step_ms = step_ms
        self.level = -1

    def _act(self, ts_ms: int) -> None:
        if ts_ms >= self.parent.end_ms:
            return
        level = min((ts_ms - self.parent.start_ms) // self.step_ms, self.steps)
        if level == self.level and self._resting():
            return
        self.level = level
        bid, ask = self.venue.touch(self.parent.instrument)
        far = ask if self.is_buy else bid
        own = self.price if self._resting() else None
        near = bid if self.is_buy else ask
        reference = self.arrival if self.arrival is not None else self._reference()
        if far is None or reference is None:
            return
        if near is not None and near != own and far is not None:
            reference = (near + far) / 2
        price = self._on_grid(reference + (far - reference) * level / self.steps, passive=True)
        if not self._resting():
            self._place(ts_ms, price)
        else:
            self._move(ts_ms, price)
