"""A smart order router: split an order across several venues' books at the least cost.

For a buy, every ask level of every venue is a block of quantity at an all-in unit cost of
``price x (1 + taker fee)`` (for a sell, bids at ``price x (1 - fee)`` are proceeds). Taking the
cheapest blocks first minimises the expected cost of the visible liquidity exactly (the cost is
a sum over independent blocks, so the greedy choice is optimal), and each venue then gets one
IOC limit order at the worst price allocated to it, which cannot trade worse than planned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from optex.agents._execution import ExecutionAlgo, ParentOrder, cumulative_targets
from optex.agents._venue import Venue
from optex.market import NewOrder, Side, TimeInForce


class Allocation(msgspec.Struct, frozen=True):
    """Quantity to take on ``venue`` up to ``limit_price`` (the worst level used there)."""

    venue: str
    quantity: int
    limit_price: int


def route(
    side: Side,
    quantity: int,
    books: Mapping[str, Sequence[tuple[int, int]]],
    fees_ppm: Mapping[str, int],
    lot: int,
) -> list[Allocation]:
    """Allocate ``quantity`` over venues' opposite-side levels ``[(price, quantity), ...]``.

    Levels are ranked by all-in price (ties by venue name, then price, for determinism); the
    result lists venues in name order and covers at most the visible quantity, in whole lots.
    """
    buy = side is Side.BUY
    blocks: list[tuple[float, str, int, int]] = []
    for venue, levels in books.items():
        fee = fees_ppm.get(venue, 0) / 1e6
        for price, size in levels:
            all_in = price * (1 + fee) if buy else -price * (1 - fee)
            blocks.append((all_in, venue, price, size))
    blocks.sort()
    left = quantity // lot * lot
    taken: dict[str, list[int]] = {}
    for _, venue, price, size in blocks:
        if left <= 0:
            break
        take = min(size // lot * lot, left)
        if take <= 0:
            continue
        left -= take
        entry = taken.setdefault(venue, [0, price])
        entry[0] += take
        entry[1] = max(entry[1], price) if buy else min(entry[1], price)
    return [Allocation(venue, q, p) for venue, (q, p) in sorted(taken.items())]


class SmartRouter(ExecutionAlgo):
    """TWAP slices, each routed across ``venues`` by :func:`route` (the first is the home venue,
    whose mid is the arrival price)."""

    name = "smart_router"

    def __init__(
        self,
        parent: ParentOrder,
        venues: Sequence[Venue],
        *,
        fees_ppm: Mapping[str, int],
        slices: int = 10,
        depth: int = 20,
        protection_bps: int = 500,
    ) -> None:
        self._venues = list(venues)
        super().__init__(parent, self._venues[0], protection_bps=protection_bps)
        self.fees_ppm = dict(fees_ppm)
        self.depth = depth
        self.targets = cumulative_targets(parent.quantity, self.instrument.lot_size, [1.0] * slices)
        self.next_slice = 0
        self.routed: dict[str, int] = {v.name: 0 for v in self._venues}
        """Quantity sent to each venue."""

    def venues(self) -> list[Venue]:
        """Every venue the router may use."""
        return self._venues

    def _act(self, ts_ms: int) -> None:
        n = len(self.targets)
        span = self.parent.end_ms - self.parent.start_ms
        target = None
        while self.next_slice < n and self.parent.start_ms + self.next_slice * span // n <= ts_ms:
            target = self.targets[self.next_slice]
            self.next_slice += 1
        if target is None or target <= self.filled:
            return
        books: dict[str, list[tuple[int, int]]] = {}
        by_name = {v.name: v for v in self._venues}
        for venue in self._venues:
            bids, asks = venue.engine.book(self.parent.instrument).depth(self.depth)
            books[venue.name] = asks if self.is_buy else bids
        worst = self._protected_price()
        for allocation in route(
            self.parent.side, target - self.filled, books, self.fees_ppm, self.instrument.lot_size
        ):
            beyond = (
                allocation.limit_price > worst if self.is_buy else allocation.limit_price < worst
            )
            if beyond or allocation.quantity > self.instrument.max_lots * self.instrument.lot_size:
                continue
            self.children += 1
            self.routed[allocation.venue] += allocation.quantity
            by_name[allocation.venue].submit(
                NewOrder(
                    ts_ms,
                    self.parent.account,
                    self.parent.instrument,
                    self.parent.side,
                    allocation.quantity,
                    price=allocation.limit_price,
                    tif=TimeInForce.IOC,
                )
            )
