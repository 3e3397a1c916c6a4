"""A subscription's queue: what its reader gets, in order, and how it ends."""

from __future__ import annotations

import pytest

from optex.client import ClientError, ClientReason, Notification, Subscription


class Releases:
    """Records the subscriptions handed back to the client."""

    def __init__(self) -> None:
        self.released: list[Subscription] = []

    def __call__(self, sub: Subscription) -> None:
        self.released.append(sub)


async def test_notifications_come_out_in_order_and_close_ends_the_iteration() -> None:
    releases = Releases()
    sub = Subscription(("a", "b"), releases, maxsize=10)
    for n in range(3):
        sub.deliver(Notification("a" if n % 2 else "b", n))
    assert [(await anext(sub)).data for _ in range(3)] == [0, 1, 2]
    await sub.close()
    assert releases.released == [sub] and not sub.active
    sub.deliver(Notification("a", 99))
    assert [note async for note in sub] == []


async def test_a_reader_that_falls_behind_gets_what_was_queued_then_the_overflow() -> None:
    releases = Releases()
    sub = Subscription(("a",), releases, maxsize=2)
    for n in range(3):
        sub.deliver(Notification("a", n))
    assert not sub.active and releases.released == [sub]
    assert [(await anext(sub)).data for _ in range(2)] == [0, 1]
    with pytest.raises(ClientError) as caught:
        await anext(sub)
    assert caught.value.code is ClientReason.SUBSCRIPTION_OVERFLOW


async def test_an_ending_error_is_raised_to_the_reader_after_the_queue() -> None:
    sub = Subscription(("a",), Releases())
    sub.deliver(Notification("a", 1))
    sub.end(ClientError(ClientReason.CLIENT_CLOSED))
    assert (await anext(sub)).data == 1
    with pytest.raises(ClientError):
        await anext(sub)
