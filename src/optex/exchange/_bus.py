"""The in-process fan-out of events to subscribers (the gateway, market data, tests).

Publishing never waits for a subscriber: each has a bounded queue, and one that falls behind
by more than its queue is dropped: its iterator yields what was queued (a gap-free prefix) and
then ends, with :attr:`Subscription.overflowed` set. A slow reader cannot stall the engine; a
dropped subscriber resubscribes and resynchronises from the engine's state, as a market data
client does after a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from optex.exchange._commands import Event

_CLOSED: Final = None


class Published(tuple[int, tuple[Event, ...]]):
    """The journal sequence of a command and the events it caused."""

    __slots__ = ()

    @property
    def seq(self) -> int:
        """The journal sequence."""
        return self[0]

    @property
    def events(self) -> tuple[Event, ...]:
        """The events, in order."""
        return self[1]


class Subscription:
    """One subscriber's queue; iterate it to receive :class:`Published` batches in order."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Published | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self._closed = False

    def _offer(self, item: Published) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            self._end()
            return False
        return True

    def _end(self) -> None:
        self._closed = True
        if not self._queue.full():
            self._queue.put_nowait(_CLOSED)  # wakes a reader waiting on an empty queue

    def close(self) -> None:
        """Stop receiving."""
        self._bus._subscribers.discard(self)
        self._end()

    def __aiter__(self) -> AsyncIterator[Published]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Published]:
        while not (self._closed and self._queue.empty()):
            item = await self._queue.get()
            if item is _CLOSED:
                return
            yield item


class EventBus:
    """Fan-out of each command's events to every current subscriber."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        """A new subscription, receiving everything published from now on."""
        subscription = Subscription(self, maxsize)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, seq: int, events: list[Event]) -> None:
        """Deliver one command's events to every subscriber, dropping those that are full."""
        if not self._subscribers:
            return
        item = Published((seq, tuple(events)))
        for subscription in list(self._subscribers):
            if not subscription._offer(item):
                self._subscribers.discard(subscription)
