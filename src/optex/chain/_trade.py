"""Trade batches: every fill checked against both parties' signed orders, then applied.

The operator matches orders but cannot invent or alter one: each fill carries the two signed
orders, and the ledger checks each order's signature, that its trading key is registered and not
revoked or expired, its chain, expiry and instrument, that the price is within both limits and on
the grid, and that the order's cumulative fills never exceed its size. Fills are counted per
chain of replacements (under the first order's hash, ``SignedOrder.origin_hash``), so a signed
replacement (an edit) continues its predecessor's count, and once a revision is used the older
ones are refused: see :func:`_add_filled`. A batch runs on one overlay, so one bad fill rejects
the whole batch.

Ed25519 verification dominates the cost. A resting maker order fills many times, so a verified
``(order hash, key, signature)`` is remembered in :class:`SignatureCache`; the cache only
short-cuts a pure function of those bytes, so it cannot change any result, only its speed. The
key's authority is checked again on every fill, because a revocation must take effect at once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Final

import msgspec

from optex.chain._accounts import check_trading_key
from optex.chain._context import Context, with_balance
from optex.chain._reasons import ChainReason
from optex.chain._records import (
    EXPIRY_BUCKET_MS,
    EXPIRY_INDEX,
    FILLED,
    OPEN_INTEREST,
    ExpiryBucket,
    ExpiryIndex,
    Filled,
    OpenInterest,
    Position,
    expiry_bucket_key,
)
from optex.chain._rules import fee as trade_fee
from optex.chain._rules import fee_index, fill_cash
from optex.chain._tx import Fill, TradeBatch
from optex.core import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvariantViolation,
    OptexError,
    Unauthorized,
    asset,
    check_int128,
    signing_bytes,
)
from optex.crypto import (
    ORDER_DOMAIN,
    PublicKey,
    SecurityReason,
    Side,
    SignedOrder,
    TradingScope,
)

_I64: Final = 2**63 - 1


class SignatureCache:
    """Order signatures already verified, bounded, least recently used dropped first."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: bytes) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            self.hits += 1
            return True
        self.misses += 1
        return False

    def add(self, key: bytes) -> None:
        """Remember a verified signature."""
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (to measure the cold case)."""
        self._seen.clear()


def check_order(ctx: Context, order: SignedOrder, cache: SignatureCache) -> bytes:
    """Check one signed order for use at this block's time; return its order hash."""
    intent = order.intent
    if intent.chain_id != ctx.chain_id:
        raise Unauthorized(SecurityReason.WRONG_CHAIN, chain_id=intent.chain_id)
    message = signing_bytes(ORDER_DOMAIN, intent.chain_id, intent)
    digest = hashlib.sha256(message).digest()
    cache_key = digest + order.public_key + order.signature
    verified = cache_key in cache
    if not verified:
        intent.check()
    if intent.expiry_ms <= ctx.now_ms:
        raise Unauthorized(SecurityReason.ORDER_EXPIRED, expiry_ms=intent.expiry_ms)
    if intent.expiry_ms - ctx.now_ms > ctx.genesis.trading.max_order_lifetime_ms:
        raise InvalidInput(SecurityReason.ORDER_EXPIRY_TOO_FAR, field="expiry_ms")
    check_trading_key(ctx, intent.account, order.public_key, TradingScope.TRADE)
    if not verified:
        PublicKey(order.public_key).verify_raw(order.signature, message)
        cache.add(cache_key)
    return digest


def _within_limit(order: SignedOrder, price: int) -> bool:
    limit = order.intent.price
    if limit == 0:
        return True
    return price <= limit if order.intent.side is Side.BUY else price >= limit


def _add_filled(
    ctx: Context, digest: bytes, order: SignedOrder, quantity: int, new: dict[int, list[bytes]]
) -> None:
    """Count ``quantity`` against the order's chain of replacements, or refuse the fill.

    One record per chain, under its origin's hash, holds the quantity filled by all its
    revisions. A revision older than the latest one used is refused (the order it replaced
    cannot be replayed), and so is a second order at the latest revision (a fork) or one that
    does not name the latest as the order it replaces. The total never exceeds the quantity of
    the revision filling now, which is the latest the chain has seen.
    """
    intent = order.intent
    record_id = fill_record_id(intent.origin or digest, order.public_key, intent.account)
    key = FILLED + record_id.hex()
    record: Filled | None = ctx.view.get(key)
    prior = 0
    if record is not None:
        _check_revision(record, digest, order)
        prior = record.quantity
    total = prior + quantity
    if total > intent.quantity:
        raise Conflict(
            ChainReason.OVERFILL,
            f"fills of {total} exceed the order's {intent.quantity}",
            order_hash=digest.hex(),
        )
    expiry = max(intent.expiry_ms, record.expiry_ms if record is not None else 0)
    if record is None or expiry // EXPIRY_BUCKET_MS != record.expiry_ms // EXPIRY_BUCKET_MS:
        # Pruned in the minute of its latest expiry (an earlier bucket keeps a stale entry
        # that prune_expired_fills skips).
        new.setdefault(expiry // EXPIRY_BUCKET_MS, []).append(record_id)
    ctx.view.put(
        key,
        Filled(total, expiry, intent.revision, digest, order.public_key, intent.account),
    )


def fill_record_id(origin: bytes, signer: bytes, account: str) -> bytes:
    """Where a chain of replacements counts its fills (the ledger key ``fill/<hex>``).

    The origin's hash alone is not enough: ``origin`` is a field its signer chooses, so an order
    naming someone else's origin would otherwise count in their record, and one filled first
    would make their real orders look replaced. Bound to the signing key and the account (which
    every revision of a chain shares), each signer counts only in records of its own.
    """
    return hashlib.sha256(b"optex.chain/filled/v1" + origin + signer + account.encode()).digest()


def _check_revision(record: Filled, digest: bytes, order: SignedOrder) -> None:
    intent = order.intent
    if intent.revision < record.revision:
        raise Conflict(
            ChainReason.ORDER_REPLACED,
            f"revision {intent.revision} was replaced by revision {record.revision}",
            order_hash=digest.hex(),
        )
    if intent.revision == record.revision:
        if digest != record.order_hash:
            raise Conflict(ChainReason.REPLACEMENT_CONFLICT, order_hash=digest.hex())
        return
    if intent.revision == record.revision + 1 and intent.replaces != record.order_hash:
        raise Conflict(
            ChainReason.REPLACEMENT_CONFLICT,
            "the replacement names another order than the latest revision",
            order_hash=digest.hex(),
        )
    # The record is the signer's and the account's own (fill_record_id): a replacement signed
    # by another key or for another account counts in a record of its own, extending nothing.
    if intent.expiry_ms < record.expiry_ms:
        raise InvalidInput(
            ChainReason.REPLACEMENT_MISMATCH,
            "a replacement expires no earlier than the order it replaces",
            order_hash=digest.hex(),
        )


class BatchTotals:
    """What a batch accumulates across its fills and writes once at the end."""

    __slots__ = ("fees_due", "new_orders", "open_interest")

    def __init__(self, open_interest: dict[str, int]) -> None:
        self.open_interest = open_interest
        self.fees_due: dict[str, int] = {}
        self.new_orders: dict[int, list[bytes]] = {}


def apply_fill(ctx: Context, fill: Fill, cache: SignatureCache, totals: BatchTotals) -> None:
    """Check one fill completely, then apply its cash, positions and fees."""
    open_interest, fees_due, new_orders = (
        totals.open_interest,
        totals.fees_due,
        totals.new_orders,
    )
    price, quantity = fill.price, fill.quantity
    for name, value in (("price", price), ("quantity", quantity)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _I64:
            raise InvalidInput(ChainReason.MALFORMED_TX, f"fill {name} must be 1 to 2^63-1")
    claimed = fill.fee_index
    if isinstance(claimed, bool) or not isinstance(claimed, int) or not 0 <= claimed <= _I64:
        raise InvalidInput(ChainReason.MALFORMED_TX, "fill fee_index must be 0 to 2^63-1")
    maker_hash = check_order(ctx, fill.maker, cache)
    taker_hash = check_order(ctx, fill.taker, cache)
    maker, taker = fill.maker.intent, fill.taker.intent
    if maker.instrument != taker.instrument:
        raise InvalidInput(ChainReason.INSTRUMENT_MISMATCH)
    if maker.side is taker.side:
        raise InvalidInput(ChainReason.SIDE_MISMATCH)
    if (
        taker.post_only
        # A maker rested on the book: it has a limit price (a triggered stop-limit or
        # take-profit-limit rests like a limit) and a time in force that lets it rest.
        or not maker.order_type.has_limit
        or not maker.time_in_force.rests
    ):
        raise InvalidInput(ChainReason.ROLE_NOT_ALLOWED)
    if maker.account == taker.account:
        raise Forbidden(ChainReason.SELF_TRADE, account=maker.account)
    instrument = ctx.instrument(maker.instrument)
    if instrument.is_expired(ctx.now_ms):
        raise InvalidInput(ChainReason.INSTRUMENT_EXPIRED, instrument=instrument.name)
    if price % instrument.tick_size or quantity % instrument.lot_size:
        raise InvalidInput(ChainReason.OFF_GRID, instrument=instrument.name)
    for order in (fill.maker, fill.taker):
        if not _within_limit(order, price):
            raise InvalidInput(
                ChainReason.PRICE_OUTSIDE_LIMIT,
                f"price {price} is outside the limit {order.intent.price}",
                account=order.intent.account,
            )
    _add_filled(ctx, maker_hash, fill.maker, quantity, new_orders)
    _add_filled(ctx, taker_hash, fill.taker, quantity, new_orders)

    scale = asset(instrument.underlying).scale
    settle = instrument.settlement
    index = ctx.price(instrument.underlying)
    index_price = fee_index(
        fill.fee_index,
        None if index is None else index.price,
        ctx.genesis.trading.fee_index_band_ppm,
    )
    buyer, seller = (maker, taker) if maker.side is Side.BUY else (taker, maker)
    notional = fill_cash(price, quantity, scale)
    fees = ctx.genesis.fees
    for intent, signed in ((buyer, 1), (seller, -1)):
        account = ctx.account(intent.account)
        fee = trade_fee(
            instrument,
            price,
            quantity,
            scale,
            maker=intent is maker,
            index_price=index_price,
            fees=fees,
        )
        old = account.positions.get(instrument.name)
        old_qty = old.quantity if old else 0
        old_cost = old.cost if old else 0
        new_qty = check_int128(old_qty + signed * quantity)
        cash = -fee
        if instrument.is_option:
            cash -= signed * notional
            new_cost = 0
        else:
            new_cost = check_int128(old_cost + signed * notional)
        positions = dict(account.positions)
        if new_qty == 0:
            positions.pop(instrument.name, None)
            cash -= new_cost
        else:
            positions[instrument.name] = Position(new_qty, new_cost)
        open_interest[instrument.name] = (
            open_interest.get(instrument.name, 0) + max(new_qty, 0) - max(old_qty, 0)
        )
        account = with_balance(account, settle, cash)
        ctx.put_account(intent.account, msgspec.structs.replace(account, positions=positions))
        if fee:
            fees_due[settle] = fees_due.get(settle, 0) + fee


def _remember_expiries(ctx: Context, new_orders: dict[int, list[bytes]]) -> None:
    index = ctx.view.get(EXPIRY_INDEX) or ExpiryIndex()
    minutes = set(index.minutes)
    for minute, hashes in sorted(new_orders.items()):
        key = expiry_bucket_key(minute)
        bucket = ctx.view.get(key) or ExpiryBucket()
        ctx.view.put(key, ExpiryBucket((*bucket.hashes, *hashes)))
        minutes.add(minute)
    ctx.view.put(EXPIRY_INDEX, ExpiryIndex(tuple(sorted(minutes))))


def prune_expired_fills(ctx: Context) -> None:
    """Drop the fill records of orders that expired before this block's minute."""
    index = ctx.view.get(EXPIRY_INDEX)
    if index is None or not index.minutes:
        return
    current = ctx.now_ms // EXPIRY_BUCKET_MS
    done = [m for m in index.minutes if m < current]
    if not done:
        return
    for minute in done:
        key = expiry_bucket_key(minute)
        for digest in ctx.view.get(key).hashes:
            record_key = FILLED + digest.hex()
            record = ctx.view.get(record_key)
            # A replacement may have moved the record's expiry to a later minute: it stays.
            if record is not None and record.expiry_ms // EXPIRY_BUCKET_MS < current:
                ctx.view.delete(record_key)
        ctx.view.delete(key)
    ctx.view.put(EXPIRY_INDEX, ExpiryIndex(tuple(m for m in index.minutes if m >= current)))


def apply_trade_batch(ctx: Context, batch: TradeBatch, cache: SignatureCache) -> None:
    """Apply every fill of a batch, or raise (and the caller drops the batch's overlay)."""
    if not batch.fills:
        raise InvalidInput(ChainReason.EMPTY_BATCH)
    if len(batch.fills) > ctx.genesis.trading.max_fills_per_batch:
        raise InvalidInput(ChainReason.MALFORMED_TX, "too many fills in one batch")
    record = ctx.view.get(OPEN_INTEREST) or OpenInterest()
    totals = BatchTotals(dict(record.instruments))
    open_interest = totals.open_interest
    for index, fill in enumerate(batch.fills):
        try:
            apply_fill(ctx, fill, cache, totals)
        except OptexError as exc:
            exc.details.setdefault("fill", index)
            raise
    for name, value in list(open_interest.items()):
        if value < 0:
            raise InvariantViolation(f"open interest of {name} went negative")
        if value == 0:
            del open_interest[name]
    ctx.view.put(OPEN_INTEREST, OpenInterest(open_interest))
    for symbol, amount in sorted(totals.fees_due.items()):
        ctx.pool_add(symbol, amount)
    if totals.new_orders:
        _remember_expiries(ctx, totals.new_orders)
    ctx.emit("trades", fills=len(batch.fills))
