"""Signed orders: what a trading key commits to, and how the receiver checks it.

An :class:`OrderIntent` is signed in domain ``"order/v1"`` on its chain. :func:`verify_order`
is a pure function (structure, chain, expiry, key authority, signature); a
:class:`ReplayGuard` remembers the orders it has accepted until they expire, which is all the
memory replay protection needs: an expired order is refused by :func:`verify_order` anyway, so
it can be forgotten.
"""

from __future__ import annotations

import contextlib
import heapq
from typing import Final

import msgspec

from optex.core import (
    Conflict,
    InvalidInput,
    LimitExceeded,
    OrderType,
    Side,
    TimeInForce,
    Unauthorized,
    check_domain,
    content_hash,
    decode,
    encode,
    parse_instrument_name,
)
from optex.crypto._delegation import KeyAuthority, TradingScope, check_account, check_types
from optex.crypto._keys import PrivateKey, PublicKey, sign, verify
from optex.crypto._reasons import SecurityReason

ORDER_DOMAIN: Final = "order/v1"
MAX_SIGNED_ORDER_BYTES: Final = 2048
MAX_ORDER_LIFETIME_MS: Final = 24 * 3600 * 1000
MAX_CLIENT_ORDER_ID: Final = 64
_I64_MAX: Final = 2**63 - 1
_U64: Final = 2**64


class OrderIntent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An order as its owner means it: every field the engine and the ledger act on.

    ``price`` is in settlement-asset base units (0 only for market types, meaning no limit),
    ``quantity`` in underlying base units; ``trigger_price`` is set exactly for stop types.
    ``nonce`` makes otherwise identical orders distinct; ``expiry_ms`` bounds how long the
    signature can be used at all.
    """

    chain_id: str
    account: str
    instrument: str
    side: Side
    order_type: OrderType
    price: int
    quantity: int
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str = ""
    reduce_only: bool = False
    post_only: bool = False
    trigger_price: int = 0
    nonce: int
    expiry_ms: int

    def __post_init__(self) -> None:
        # Decoding gives enum members; an intent built in Python may hold the plain strings
        # ("limit"). Take the members so every reader sees one type; a value that names no
        # member is left as it is for check() to refuse with its reason.
        for field, kind in _ENUM_FIELDS:
            value = getattr(self, field)
            if type(value) is str:
                with contextlib.suppress(ValueError):
                    msgspec.structs.force_setattr(self, field, kind(value))

    def check(self) -> None:
        """Refuse an intent that is malformed, whatever its signature."""
        try:
            check_types(self)
        except InvalidInput as exc:
            raise _invalid(exc.message, "intent") from None
        check_domain(ORDER_DOMAIN, self.chain_id)
        check_account(self.account)
        try:
            parse_instrument_name(self.instrument)
        except InvalidInput as exc:
            raise _invalid(exc.message, "instrument") from None
        market = not self.order_type.has_limit
        stop = self.order_type.is_triggered
        for name, value, low in (
            ("price", self.price, 0 if market else 1),
            ("quantity", self.quantity, 1),
            ("trigger_price", self.trigger_price, 1 if stop else 0),
        ):
            if isinstance(value, bool) or not low <= value <= _I64_MAX:
                raise _invalid(f"{name} must be an integer from {low} to 2^63-1", name)
        if stop and market and self.price != 0:
            raise _invalid(f"a {self.order_type} order has no limit price", "price")
        if not stop and self.trigger_price != 0:
            raise _invalid("only stop and take-profit orders have a trigger price", "trigger_price")
        if self.post_only and (market or not self.time_in_force.rests):
            raise _invalid("post-only orders are resting limit orders", "post_only")
        cid = self.client_order_id
        if len(cid) > MAX_CLIENT_ORDER_ID or not (cid.isascii() and cid.isprintable()):
            raise _invalid(
                f"client_order_id is at most {MAX_CLIENT_ORDER_ID} printable ASCII characters",
                "client_order_id",
            )
        if not 0 <= self.nonce < _U64 or not 0 < self.expiry_ms < _U64:
            raise _invalid("nonce and expiry_ms are unsigned 64-bit integers", "nonce")


_ENUM_FIELDS: Final = (("side", Side), ("order_type", OrderType), ("time_in_force", TimeInForce))


def _invalid(message: str, field: str) -> InvalidInput:
    return InvalidInput(SecurityReason.INVALID_ORDER, message, field=field)


class SignedOrder(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An intent, the trading key that signed it and the signature."""

    intent: OrderIntent
    public_key: bytes
    signature: bytes

    @property
    def order_hash(self) -> bytes:
        """The order's identity: the hash of its signed bytes (the signature excluded)."""
        return order_hash(self.intent)


def order_hash(intent: OrderIntent) -> bytes:
    """SHA-256 of the intent's canonical signed bytes."""
    return content_hash(ORDER_DOMAIN, intent.chain_id, intent)


def sign_order(trading_key: PrivateKey, intent: OrderIntent) -> SignedOrder:
    """Check and sign an intent with a trading key."""
    intent.check()
    signature = sign(trading_key, ORDER_DOMAIN, intent.chain_id, intent)
    return SignedOrder(intent=intent, public_key=trading_key.public_key.raw, signature=signature)


def encode_signed_order(order: SignedOrder) -> bytes:
    """The canonical bytes of a signed order, as carried to the sequencer and the ledger."""
    return encode(order)


def decode_signed_order(data: bytes) -> SignedOrder:
    """Decode a signed order from outside, refusing oversized or malformed bytes."""
    if isinstance(data, bytes | bytearray) and len(data) > MAX_SIGNED_ORDER_BYTES:
        raise InvalidInput(
            SecurityReason.PAYLOAD_TOO_LARGE, f"a signed order is at most {MAX_SIGNED_ORDER_BYTES}"
        )
    try:
        order = decode(bytes(data), SignedOrder)
    except InvalidInput as exc:
        raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, exc.message) from None
    except UnicodeDecodeError:
        # optex.core.decode lets msgspec's UnicodeDecodeError (a bad UTF-8 string) through.
        raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "a string is not UTF-8") from None
    order.intent.check()
    return order


def verify_order(
    order: SignedOrder,
    *,
    chain_id: str,
    now_ms: int,
    authority: KeyAuthority,
    max_lifetime_ms: int = MAX_ORDER_LIFETIME_MS,
) -> bytes:
    """Check a signed order completely, except for replay; return its order hash.

    Checks, in order: well-formed fields, this chain, not expired, expiry not further ahead than
    ``max_lifetime_ms`` (which bounds the replay guard's memory), the key is authorized to trade
    for the account, and the signature covers exactly these fields.
    """
    intent = order.intent
    intent.check()
    if intent.chain_id != chain_id:
        raise Unauthorized(SecurityReason.WRONG_CHAIN, chain_id=intent.chain_id)
    if intent.expiry_ms <= now_ms:
        raise Unauthorized(SecurityReason.ORDER_EXPIRED, expiry_ms=intent.expiry_ms)
    if intent.expiry_ms - now_ms > max_lifetime_ms:
        raise InvalidInput(
            SecurityReason.ORDER_EXPIRY_TOO_FAR, max_lifetime_ms=max_lifetime_ms, field="expiry_ms"
        )
    PublicKey(order.public_key)
    authority.check(intent.account, order.public_key, TradingScope.TRADE, now_ms)
    verify(order.public_key, order.signature, ORDER_DOMAIN, chain_id, intent)
    return order_hash(intent)


class ReplayGuard:
    """The signed orders accepted and not yet expired: a second use of one is refused.

    Both the order hash and the ``(account, key, nonce)`` triple must be new. Entries are
    forgotten once their order expires, and the guard holds at most ``max_entries`` live orders,
    so its memory is bounded by the order rate times the maximum lifetime.
    """

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self.max_entries = max_entries
        self._hashes: set[bytes] = set()
        self._nonces: set[tuple[str, bytes, int]] = set()
        self._expiries: list[tuple[int, bytes, tuple[str, bytes, int]]] = []

    def __len__(self) -> int:
        return len(self._hashes)

    def prune(self, now_ms: int) -> None:
        """Forget orders that expired at or before ``now_ms``."""
        while self._expiries and self._expiries[0][0] <= now_ms:
            _, digest, nonce_key = heapq.heappop(self._expiries)
            self._hashes.discard(digest)
            self._nonces.discard(nonce_key)

    def check(self, order: SignedOrder, now_ms: int) -> None:
        """Raise if ``order`` (or its nonce) was seen; changes nothing."""
        self.prune(now_ms)
        intent = order.intent
        if order_hash(intent) in self._hashes:
            raise Conflict(SecurityReason.ORDER_REPLAYED, "this signed order was already used")
        if (intent.account, order.public_key, intent.nonce) in self._nonces:
            raise Conflict(SecurityReason.ORDER_REPLAYED, "this nonce was already used")
        if len(self._hashes) >= self.max_entries:
            raise LimitExceeded(SecurityReason.REPLAY_CACHE_FULL)

    def remember(self, order: SignedOrder, now_ms: int) -> None:
        """Record an accepted order until it expires (after :meth:`check` passed)."""
        self.check(order, now_ms)
        intent = order.intent
        digest = order_hash(intent)
        nonce_key = (intent.account, order.public_key, intent.nonce)
        self._hashes.add(digest)
        self._nonces.add(nonce_key)
        heapq.heappush(self._expiries, (intent.expiry_ms, digest, nonce_key))


def accept_order(
    order: SignedOrder,
    guard: ReplayGuard,
    *,
    chain_id: str,
    now_ms: int,
    authority: KeyAuthority,
    max_lifetime_ms: int = MAX_ORDER_LIFETIME_MS,
) -> bytes:
    """Verify a signed order and remember it in ``guard``; a rejected order changes nothing."""
    digest = verify_order(
        order,
        chain_id=chain_id,
        now_ms=now_ms,
        authority=authority,
        max_lifetime_ms=max_lifetime_ms,
    )
    guard.remember(order, now_ms)
    return digest
