"""Signed orders: what a trading key commits to, and how the receiver checks it.

An :class:`OrderIntent` is signed in domain ``"order/v1"`` on its chain. :func:`verify_order`
is a pure function (structure, chain, expiry, key authority, signature); replay protection
is ``optex.crypto._replay``'s :class:`~optex.crypto.ReplayGuard`, which remembers nonces per
trading key.

A signed order may *replace* an earlier one (Deribit's edit): it names the order it replaces
(``replaces``, that order's hash), the first order of the chain of replacements (``origin``)
and its place in that chain (``revision``, 1 for the first replacement). Its ``quantity`` is the
total of the whole chain, what was filled before included. :func:`replacement` builds one from
the order it replaces and :func:`check_replacement` is the one rule of what a replacement may
change (price, quantity, trigger price, nonce, a later-or-equal expiry) and what it may not
(everything else, and the signing key). The ledger keys its fill count by ``origin`` and refuses
a revision older than one it has seen, so an old order cannot be replayed after its
replacement and the chain's total never exceeds the latest signed quantity (docs/settlement.md).
"""

from __future__ import annotations

import contextlib
from typing import Final

import msgspec

from optex.core import (
    Conflict,
    InvalidInput,
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
_U32: Final = 2**32
ORDER_HASH_SIZE: Final = 32


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
    replaces: bytes = b""
    origin: bytes = b""
    revision: int = 0

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
        self._check_replacement_fields()

    def _check_replacement_fields(self) -> None:
        if isinstance(self.revision, bool) or not 0 <= self.revision < _U32:
            raise _invalid("revision is an integer from 0 to 2^32-1", "revision")
        if self.revision == 0:
            if self.replaces or self.origin:
                raise _invalid("an original order (revision 0) replaces nothing", "replaces")
            return
        for name, value in (("replaces", self.replaces), ("origin", self.origin)):
            if len(value) != ORDER_HASH_SIZE:
                raise _invalid(f"{name} is a {ORDER_HASH_SIZE}-byte order hash", name)
        if (self.revision == 1) != (self.replaces == self.origin):
            raise _invalid(
                "the first replacement (revision 1) replaces its origin, and only it does", "origin"
            )

    @property
    def is_replacement(self) -> bool:
        """Whether this order replaces an earlier one (``revision`` above 0)."""
        return self.revision > 0


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

    @property
    def origin_hash(self) -> bytes:
        """The hash of the first order of its chain of replacements (its own if an original):
        the key under which the ledger counts what the chain filled."""
        return self.intent.origin or order_hash(self.intent)


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
    ``max_lifetime_ms`` (which bounds how long the chain keeps an order's fill record), the key
    is authorized to trade for the account, and the signature covers exactly these fields.
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


def replacement(
    previous: SignedOrder,
    *,
    price: int | None = None,
    quantity: int | None = None,
    trigger_price: int | None = None,
    nonce: int,
    expiry_ms: int,
) -> OrderIntent:
    """The intent that replaces ``previous`` (to be signed with the same trading key).

    ``quantity`` is the new total, the part already filled included (Deribit's edit); ``None``
    keeps a value. The expiry is never earlier than ``previous``'s: the ledger forgets an
    order's fill count when the latest revision it saw expires, so a replacement that expired
    first would let the order it replaced be filled again.
    """
    old = previous.intent
    digest = order_hash(old)
    return msgspec.structs.replace(
        old,
        price=old.price if price is None else price,
        quantity=old.quantity if quantity is None else quantity,
        trigger_price=old.trigger_price if trigger_price is None else trigger_price,
        nonce=nonce,
        expiry_ms=max(expiry_ms, old.expiry_ms),
        replaces=digest,
        origin=old.origin or digest,
        revision=old.revision + 1,
    )


_FIXED_ON_REPLACE: Final = (
    "chain_id",
    "account",
    "instrument",
    "side",
    "order_type",
    "time_in_force",
    "client_order_id",
    "reduce_only",
    "post_only",
)


def check_replacement(previous: SignedOrder, new: SignedOrder) -> None:
    """Refuse ``new`` unless it is a valid replacement of ``previous``; changes nothing.

    The replacement must name ``previous`` (hash, origin, next revision), be signed by the same
    trading key (another key, even one of the same account, would let whoever holds it take over
    an order it never signed), keep every field but price, quantity, trigger price, nonce and
    expiry, and expire no earlier.
    """
    old, intent = previous.intent, new.intent
    digest = order_hash(old)
    if intent.replaces != digest:
        raise Conflict(SecurityReason.INVALID_ORDER, "the replacement names another order")
    if intent.origin != (old.origin or digest) or intent.revision != old.revision + 1:
        raise Conflict(
            SecurityReason.INVALID_ORDER,
            f"the replacement must be revision {old.revision + 1} of the same origin",
        )
    if new.public_key != previous.public_key:
        raise Unauthorized(
            SecurityReason.INVALID_ORDER, "a replacement is signed by the key that signed the order"
        )
    for name in _FIXED_ON_REPLACE:
        if getattr(intent, name) != getattr(old, name):
            raise InvalidInput(
                SecurityReason.INVALID_ORDER,
                f"a replacement changes only price, quantity and trigger price, not {name}",
                field=name,
            )
    if intent.expiry_ms < old.expiry_ms:
        raise InvalidInput(
            SecurityReason.INVALID_ORDER,
            "a replacement expires no earlier than the order it replaces",
            field="expiry_ms",
        )
