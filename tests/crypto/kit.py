"""Shared builders for the optex.crypto tests."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from optex.crypto import (
    Delegations,
    OrderIntent,
    OrderType,
    PrivateKey,
    Side,
    TradingKeyAuthorization,
    TradingScope,
    sign_authorization,
)

CHAIN = "optex-devnet"
NOW_MS = 1_800_000_000_000
ACCOUNT = "acct-1"
FAST_SCRYPT_N = 2**10


def seeded_rng(seed: int = 7) -> Callable[[int], bytes]:
    """A deterministic stand-in for os.urandom."""
    generator = random.Random(seed)
    return generator.randbytes


def key(label: str) -> PrivateKey:
    """A deterministic key per label."""
    return PrivateKey(hashlib.sha256(label.encode()).digest())


OWNER = key("owner")
TRADER = key("trader")


def intent(**changes: object) -> OrderIntent:
    """A valid limit order intent, with fields overridden."""
    fields: dict[str, object] = {
        "chain_id": CHAIN,
        "account": ACCOUNT,
        "instrument": "BTC-27DEC26-100000-C",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "price": 50_000_000,
        "quantity": 10_000_000,
        "nonce": 1,
        "expiry_ms": NOW_MS + 60_000,
    }
    fields.update(changes)
    return OrderIntent(**fields)  # type: ignore[arg-type]


def delegations(*, expiry_ms: int = NOW_MS + 3_600_000) -> Delegations:
    """A registry in which OWNER has delegated TRADER for trading and cancelling."""
    registry = Delegations(CHAIN, {ACCOUNT: OWNER.public_key})
    grant = TradingKeyAuthorization(
        chain_id=CHAIN,
        account=ACCOUNT,
        trading_key=TRADER.public_key.raw,
        scopes=(TradingScope.CANCEL, TradingScope.TRADE),
        not_before_ms=NOW_MS - 1000,
        expiry_ms=expiry_ms,
        nonce=1,
    )
    registry.apply(sign_authorization(OWNER, grant))
    return registry
