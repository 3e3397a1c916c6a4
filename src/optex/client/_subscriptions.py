"""Subscriptions: one async iterator per ``subscribe`` call, fed by the connection's reader.

Each :class:`Subscription` has its own bounded queue. A reader that falls behind does not slow
the connection (which would delay every other channel and the answers to orders): when its
queue is full the subscription ends with ``ClientError(SUBSCRIPTION_OVERFLOW)`` after the
notifications already queued, so the loss is seen rather than silent.

Notification data is decoded by channel family into the result types (``user.trades.*`` to a
list of :class:`UserTrade`, ``ticker.*`` to :class:`Ticker`, ...); channels this module does not
know keep their decoded JSON as it came.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec

from optex.client._errors import ClientError, ClientReason
from optex.client._framing import decode_result
from optex.client._models import AccountSummary, Order, Ticker, Trade, UserTrade

DEFAULT_QUEUE_SIZE: Final = 10_000


class BookUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """A ``book.<instrument>.<interval>`` notification: a snapshot or a change.

    Entries are ``[action, price, amount]`` with action ``new``, ``change`` or ``delete``;
    ``prev_change_id`` lets the reader detect a gap (then resubscribe for a fresh snapshot).
    """

    instrument_name: str
    type: str = "change"
    change_id: int = 0
    prev_change_id: int | None = None
    timestamp: int = 0
    bids: list[tuple[str, float, float]] = []
    asks: list[tuple[str, float, float]] = []


class Notification(msgspec.Struct, frozen=True):
    """One message on a channel: the channel's name and its decoded data."""

    channel: str
    data: Any


def _kind_of(channel: str) -> Any:
    parts = channel.split(".")
    family = parts[0]
    if family == "user" and len(parts) > 1:
        if parts[1] == "trades":
            return list[UserTrade]
        if parts[1] == "orders":
            # raw interval sends one order per message, others a list of them
            return Order | list[Order]
        if parts[1] == "portfolio":
            return AccountSummary
        return Any
    if family == "trades":
        return list[Trade]
    if family == "ticker":
        return Ticker
    if family == "book" and len(parts) == 3:
        return BookUpdate
    return Any


def decode_notification(channel: str, data: bytes) -> Notification:
    """Decode the data of a notification on ``channel`` into its type."""
    return Notification(channel, decode_result(data, _kind_of(channel)))


class Subscription:
    """An async iterator over the notifications of the channels one ``subscribe`` asked for.

    ``async for note in sub`` yields :class:`Notification`; it ends (``StopAsyncIteration``)
    after :meth:`close`, or raises the error that ended it (overflow, the client closed, the
    connection could not be restored). After a reconnect the client subscribes again and the
    iterator continues; notifications sent while the connection was down are not replayed.
    """

    def __init__(
        self,
        channels: tuple[str, ...],
        release: Callable[[Subscription], Awaitable[None] | None],
        maxsize: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.channels = channels
        self._release = release
        self._maxsize = maxsize
        self._queue: deque[Notification] = deque()
        self._wake = asyncio.Event()
        self._ended = False
        self._error: BaseException | None = None

    @property
    def active(self) -> bool:
        """Whether notifications still arrive."""
        return not self._ended

    def deliver(self, note: Notification) -> None:
        """Queue a notification (called by the client's reader; never blocks)."""
        if self._ended:
            return
        if len(self._queue) >= self._maxsize:
            self.end(ClientError(ClientReason.SUBSCRIPTION_OVERFLOW, channels=self.channels))
            return
        self._queue.append(note)
        self._wake.set()

    def end(self, error: BaseException | None = None) -> None:
        """Stop delivery; readers get what is queued, then ``error`` (or the end)."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._wake.set()
        if error is not None:
            # the server still sends these channels: let the client unsubscribe them
            self._release(self)

    async def close(self) -> None:
        """Unsubscribe (if no other subscription holds the channels) and end the iterator."""
        if not self._ended:
            self._ended = True
            self._wake.set()
            pending = self._release(self)
            if pending is not None:
                await pending

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Notification:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()

    def get_nowait(self) -> Notification | None:
        """The next queued notification, or ``None`` if none is queued."""
        return self._queue.popleft() if self._queue else None

    def __repr__(self) -> str:
        state = "active" if not self._ended else "ended"
        return f"Subscription({list(self.channels)!r}, {state}, queued={len(self._queue)})"
