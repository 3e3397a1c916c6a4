"""Replay protection for signed orders with memory bounded per trading key, not per order.

A signed order may live as long as the chain allows (a day); remembering every order until it
expires would cost memory in proportion to the order rate times that lifetime, and a busy key
would fill any fixed cache within minutes. The guard instead keeps, for each
``(account, trading key)``, the ``per_key`` highest nonces it accepted and a *floor*: the highest
nonce it let go. A nonce at or below the floor counts as used. Nonces must therefore rise, as the
gateway's counter and ``optex.client``'s microsecond clock do; a key may still have up to
``per_key`` orders in flight out of order.

The same signed order always carries the same nonce, so refusing a used nonce refuses a replay
of the order too; a different order under a used nonce is refused as well (it would be a
second order from one signature slot). The guard's whole state is :meth:`export`-ed in the
exchange's snapshot, because the floor cannot be recovered from live orders alone.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Final

import msgspec

from optex.core import Conflict, InvalidInput
from optex.crypto._delegation import KeyAuthority
from optex.crypto._orders import MAX_ORDER_LIFETIME_MS, SignedOrder, verify_order
from optex.crypto._reasons import SecurityReason

DEFAULT_PER_KEY: Final = 1_024
"""Nonces remembered per (account, key): how far out of order one key's orders may arrive.

Reordering only happens among orders in flight at once (the gateway numbers its orders as it
signs them; a client's concurrent requests race on the wire), so a thousand is ample, and it
keeps the saved state of a busy account to a few kilobytes."""


class NonceRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One key's replay state, as saved: the floor and the nonces above it, ascending."""

    account: str
    public_key: bytes
    floor: int
    nonces: tuple[int, ...]


@dataclass
class _KeyNonces:
    floor: int = -1
    used: set[int] = field(default_factory=set)
    heap: list[int] = field(default_factory=list)


class ReplayGuard:
    """The nonces each trading key has used: a second use of one is refused."""

    def __init__(self, per_key: int = DEFAULT_PER_KEY) -> None:
        if per_key < 1:
            raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "per_key must be at least 1")
        self.per_key = per_key
        self._keys: dict[tuple[str, bytes], _KeyNonces] = {}

    def __len__(self) -> int:
        """Nonces remembered, over all keys."""
        return sum(len(k.used) for k in self._keys.values())

    def check(self, order: SignedOrder) -> None:
        """Raise ``Conflict(ORDER_REPLAYED)`` if the order's nonce was used; changes nothing."""
        intent = order.intent
        entry = self._keys.get((intent.account, order.public_key))
        if entry is None:
            return
        if intent.nonce <= entry.floor:
            raise Conflict(
                SecurityReason.ORDER_REPLAYED,
                f"nonce {intent.nonce} is not above {entry.floor}, the lowest this key may "
                "use now: nonces must rise",
            )
        if intent.nonce in entry.used:
            raise Conflict(SecurityReason.ORDER_REPLAYED, "this nonce was already used")

    def remember(self, order: SignedOrder) -> None:
        """Record an accepted order's nonce (after :meth:`check` passed, which it repeats)."""
        self.check(order)
        intent = order.intent
        entry = self._keys.setdefault((intent.account, order.public_key), _KeyNonces())
        entry.used.add(intent.nonce)
        heapq.heappush(entry.heap, intent.nonce)
        if len(entry.heap) > self.per_key:
            # Letting go of the lowest keeps the highest per_key; the order they arrived in does
            # not matter, so a guard rebuilt from the same nonces reaches the same floor.
            entry.floor = heapq.heappop(entry.heap)
            entry.used.discard(entry.floor)

    def export(self) -> tuple[NonceRecord, ...]:
        """The whole state, canonical (sorted by account and key, nonces ascending)."""
        return tuple(
            NonceRecord(account, key, entry.floor, tuple(sorted(entry.used)))
            for (account, key), entry in sorted(self._keys.items())
        )

    @classmethod
    def restore(
        cls, records: tuple[NonceRecord, ...] | list[NonceRecord], per_key: int = DEFAULT_PER_KEY
    ) -> ReplayGuard:
        """A guard in the state :meth:`export` saved (a smaller ``per_key`` raises floors)."""
        guard = cls(per_key)
        for record in records:
            entry = _KeyNonces(floor=record.floor)
            for nonce in record.nonces:
                if nonce <= record.floor or nonce in entry.used:
                    raise InvalidInput(
                        SecurityReason.MALFORMED_MESSAGE,
                        f"replay state of {record.account} is inconsistent at nonce {nonce}",
                    )
                entry.used.add(nonce)
                heapq.heappush(entry.heap, nonce)
                if len(entry.heap) > per_key:
                    entry.floor = heapq.heappop(entry.heap)
                    entry.used.discard(entry.floor)
            guard._keys[record.account, record.public_key] = entry
        return guard


def accept_order(
    order: SignedOrder,
    guard: ReplayGuard,
    *,
    chain_id: str,
    now_ms: int,
    authority: KeyAuthority,
    max_lifetime_ms: int = MAX_ORDER_LIFETIME_MS,
) -> bytes:
    """Verify a signed order and remember it in ``guard``; its hash. A rejected order changes
    nothing."""
    digest = verify_order(
        order,
        chain_id=chain_id,
        now_ms=now_ms,
        authority=authority,
        max_lifetime_ms=max_lifetime_ms,
    )
    guard.remember(order)
    return digest
