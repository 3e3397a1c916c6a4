"""Builders for tests that make a real chain settle an expiry: listed BTC with an oracle symbol,
trading-key registrations, signed orders and fills, validator price votes, and a clock that a
test moves past an expiry (a node's block time is its clock; in separate processes, the clock
reads its offset from a file the test writes).
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from optex.chain import (
    Fill,
    PriceVote,
    RegisterTradingKey,
    SignedTx,
    TradeBatch,
    dump_genesis,
    load_genesis,
    sign_tx,
)
from optex.core import DEFAULT_LISTING_RULES
from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    Side,
    SignedOrder,
    TradingKeyAuthorization,
    TradingScope,
    decode_keystore,
    decrypt_key,
    sign,
    sign_order,
)

FUTURE = "BTC-27DEC26"
"""A future that expires (2026-12-27 08:00 UTC) after these tests start; their clocks jump."""
ORACLE_SYMBOLS = ("BTC",)
VALIDATOR_KEY_FILE = "validator_key.json"
"""Where ``optex node init`` writes a validator's consensus keystore in its home."""


def wall_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class OffsetClock:
    """The wall clock plus an offset in milliseconds, read from ``path`` when it exists.

    Node processes started by the tests read their block time from it, so one write moves
    every validator's clock at once (forward only: block times must rise).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._offset = 0

    def __call__(self) -> int:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return wall_ms() + self._offset
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._offset = int(self.path.read_text() or 0)
            self._stamp = stamp
        return wall_ms() + self._offset


def set_offset(path: Path, offset_ms: int) -> None:
    """Move every :class:`OffsetClock` reading ``path`` (atomically: a rename)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(str(offset_ms))
    temporary.replace(path)


def list_btc(*genesis_files: Path) -> None:
    """List BTC's instruments and make ``BTC`` an oracle symbol in each genesis file."""
    for path in genesis_files:
        genesis = load_genesis(path)
        oracle = msgspec.structs.replace(genesis.oracle, symbols=ORACLE_SYMBOLS)
        listed = msgspec.structs.replace(
            genesis, underlyings={"BTC": DEFAULT_LISTING_RULES["BTC"]}, oracle=oracle
        )
        path.write_text(dump_genesis(listed) + "\n")


def consensus_key(home: Path, password: str) -> PrivateKey:
    """A validator's consensus key from its home's keystore."""
    return decrypt_key(decode_keystore((home / VALIDATOR_KEY_FILE).read_bytes()), password)


def registration(
    chain_id: str, account: str, owner: PrivateKey, trader: PrivateKey, *, nonce: int, now_ms: int
) -> SignedTx:
    """The owner's transaction registering ``trader`` as ``account``'s trading key."""
    message = TradingKeyAuthorization(
        chain_id=chain_id,
        account=account,
        trading_key=trader.public_key.raw,
        scopes=(TradingScope.CANCEL, TradingScope.TRADE),
        not_before_ms=0,
        expiry_ms=now_ms + 400 * 86_400_000,
        nonce=nonce,
    )
    body = RegisterTradingKey(
        chain_id=chain_id,
        nonce=nonce,
        authorization=message,
        owner_signature=sign(owner, "delegate/v1", chain_id, message),
    )
    return sign_tx(owner, body)


def signed_order(
    chain_id: str,
    account: str,
    trader: PrivateKey,
    side: Side,
    *,
    quantity: int,
    price: int,
    nonce: int,
    expiry_ms: int,
    instrument: str = FUTURE,
) -> SignedOrder:
    """A limit order signed by ``account``'s trading key."""
    intent = OrderIntent(
        chain_id=chain_id,
        account=account,
        instrument=instrument,
        side=side,
        order_type=OrderType.LIMIT,
        price=price,
        quantity=quantity,
        nonce=nonce,
        expiry_ms=expiry_ms,
    )
    return sign_order(trader, intent)


def batch(chain_id: str, operator: PrivateKey, nonce: int, *fills: Fill) -> SignedTx:
    """The operator's trade batch of ``fills``."""
    return sign_tx(operator, TradeBatch(chain_id=chain_id, nonce=nonce, fills=fills))


def votes(
    chain_id: str, keys: list[PrivateKey], prices: dict[str, int], nonce: int
) -> list[SignedTx]:
    """One price vote from each validator key."""
    return [sign_tx(k, PriceVote(chain_id=chain_id, nonce=nonce, prices=prices)) for k in keys]
