"""Orders signed by the user's own trading key: nonces, expiry, the native request, and
resending one whose answer was lost.

The exchange refuses a signed order whose ``(account, key, nonce)`` it has seen while that
order is live, so nonces must never repeat for a key — also not after the program restarts.
:class:`NonceSource` therefore takes ``max(last + 1, now in microseconds)``: strictly increasing
within a process, and ahead of any earlier run's nonces as long as the clock does not go back
and a key signs fewer than a thousand orders a millisecond. ``expiry_ms`` bounds how long the
signature can be used at all (the exchange refuses more than 24 h ahead); for a good-til-date
order it is also when the order leaves the book.

A signed order is its own idempotency key. The exchange never places the same signed bytes twice
(its replay guard knows every nonce the key used, its journal every order's hash) and answers a
repeat with what became of the original: the order as it is now, or the original refusal
(found by the order's hash). So when the answer to
a send is lost — the connection dropped, no answer came in time, the gateway could not reach its
engine — the outcome is unknown, and :func:`outcome_unknown` says so; sending the same bytes
again is then the way to learn it, never a risk of a second order.
"""

from __future__ import annotations

import base64
from typing import Any, Final

import msgspec

from optex.client._errors import ClientError, ClientReason
from optex.core import Clock, encode
from optex.crypto import OrderIntent, PrivateKey, SignedOrder, sign_order

DEFAULT_ORDER_LIFETIME_MS: Final = 3_600_000
"""One hour: long enough for any network delay, far inside the exchange's 24 h limit."""
_U64: Final = 2**64
RESEND_FIRST_DELAY_S: Final = 0.05
RESEND_MAX_DELAY_S: Final = 1.0


class NonceSource:
    """Strictly increasing nonces per trading key (the key's public bytes)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last: dict[bytes, int] = {}

    def next(self, public_key: bytes) -> int:
        """A nonce greater than any this source gave or saw for ``public_key``."""
        nonce = max(self._last.get(public_key, 0) + 1, self._clock.now_ms() * 1000)
        self._last[public_key] = nonce
        return nonce

    def observe(self, public_key: bytes, nonce: int) -> None:
        """Note a nonce the caller chose, so the next one given is above it."""
        self._last[public_key] = max(self._last.get(public_key, 0), nonce)


def prepare_signed_order(
    intent: OrderIntent,
    trading_key: PrivateKey,
    nonces: NonceSource,
    *,
    now_ms: int,
    lifetime_ms: int = DEFAULT_ORDER_LIFETIME_MS,
) -> SignedOrder:
    """Fill in ``nonce`` and ``expiry_ms`` where they are 0, check and sign the intent.

    A non-zero nonce or expiry in ``intent`` is the caller's choice and is kept (the nonce is
    remembered so later automatic ones exceed it). Invalid intents are refused here, before
    anything is sent, with ``optex.crypto``'s reason (``InvalidInput``).
    """
    if not isinstance(intent, OrderIntent):
        raise ClientError(ClientReason.INVALID_ARGUMENT, "intent is an optex.crypto.OrderIntent")
    if not isinstance(trading_key, PrivateKey):
        raise ClientError(
            ClientReason.INVALID_ARGUMENT, "trading_key is an optex.crypto.PrivateKey"
        )
    if not 0 < lifetime_ms < _U64:
        raise ClientError(ClientReason.INVALID_ARGUMENT, "lifetime_ms is a positive integer")
    public = trading_key.public_key.raw
    changes: dict[str, int] = {}
    if intent.nonce == 0:
        changes["nonce"] = nonces.next(public)
    if intent.expiry_ms == 0:
        changes["expiry_ms"] = now_ms + lifetime_ms
    if changes:
        intent = msgspec.structs.replace(intent, **changes)
    signed = sign_order(trading_key, intent)
    nonces.observe(public, intent.nonce)
    return signed


def signed_order_params(order: SignedOrder) -> dict[str, Any]:
    """``private/optex_place_signed_order`` params: base64 of the canonical encoding."""
    return {"signed_order": base64.b64encode(encode(order)).decode("ascii")}
