"""Market maker protection (as on Deribit): limits on what a group may trade in a window.

A market maker quotes many instruments at once; if the market moves, every quote can be hit
before the maker reacts. Each (account, group) has a sliding window of its fills; when the
filled quantity or the absolute net delta in it reaches a limit, the engine cancels all of the
group's orders and refuses new ones until the freeze ends. Delta is kept as an integer in
millionths of underlying base units, so no floats enter the engine.
"""

from __future__ import annotations

from collections import deque

DELTA_SCALE = 1_000_000


class MmpState:
    """One group's limits, its window of recent fills and whether it is frozen."""

    __slots__ = (
        "delta_limit",
        "frozen",
        "frozen_ms",
        "frozen_until_ms",
        "interval_ms",
        "quantity_limit",
        "sum_delta",
        "sum_quantity",
        "window",
    )

    def __init__(
        self, interval_ms: int, frozen_ms: int, quantity_limit: int, delta_limit: int
    ) -> None:
        self.interval_ms = interval_ms
        self.frozen_ms = frozen_ms
        self.quantity_limit = quantity_limit
        self.delta_limit = delta_limit
        self.window: deque[tuple[int, int, int]] = deque()
        self.sum_quantity = 0
        self.sum_delta = 0
        self.frozen = False
        self.frozen_until_ms = 0

    def is_frozen(self, now_ms: int) -> bool:
        """Whether the group may not quote at ``now_ms`` (a timed freeze ends by itself)."""
        return self.frozen and (not self.frozen_until_ms or now_ms < self.frozen_until_ms)

    def record(self, now_ms: int, quantity: int, delta: int) -> bool:
        """Add a fill (``delta`` in millionths of base units); whether a limit is now reached."""
        window = self.window
        window.append((now_ms, quantity, delta))
        self.sum_quantity += quantity
        self.sum_delta += delta
        horizon = now_ms - self.interval_ms
        while window and window[0][0] <= horizon:
            _, old_quantity, old_delta = window.popleft()
            self.sum_quantity -= old_quantity
            self.sum_delta -= old_delta
        return (
            self.sum_quantity >= self.quantity_limit
            or abs(self.sum_delta) >= self.delta_limit * DELTA_SCALE
        )

    def freeze(self, now_ms: int) -> int:
        """Freeze the group and clear its window; returns the end of the freeze (0: manual)."""
        self.frozen = True
        self.frozen_until_ms = now_ms + self.frozen_ms if self.frozen_ms else 0
        self.clear()
        return self.frozen_until_ms

    def clear(self) -> None:
        """Forget the window."""
        self.window.clear()
        self.sum_quantity = 0
        self.sum_delta = 0
