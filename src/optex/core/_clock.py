"""Time as an input.

Deterministic parts never read the wall clock: commands carry their time. Services ask a
:class:`Clock`, so that tests and simulations substitute a :class:`ManualClock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time in milliseconds since the Unix epoch."""

    def now_ms(self) -> int:
        """The current time."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now_ms(self) -> int:
        """The current wall-clock time."""
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to: for tests and simulated time."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        """The time last set."""
        return self._now

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` (never backwards) and return the new time."""
        if ms < 0:
            raise ValueError("a clock does not go backwards")
        self._now += ms
        return self._now

    def set(self, now_ms: int) -> None:
        """Jump to ``now_ms``, which must not be earlier than the current time."""
        if now_ms < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = now_ms
