"""Shared helpers for the client tests: the real exchange from the gateway's kit, credentials,
delegating a user's own trading key, and waiting for notifications and conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from optex.client import ClientCredentials, ClientSignature, Notification, Subscription
from optex.core import OrderType, Side
from optex.crypto import (
    OrderIntent,
    PrivateKey,
    TradingKeyAuthorization,
    TradingScope,
    sign_authorization,
)
from optex.exchange import DelegationRecord, load_delegations_file, save_delegations_file
from optex.gateway import Limits
from tests.gateway.kit import CALL, PERP, Exchange, start_exchange

__all__ = [
    "CALL",
    "PERP",
    "Exchange",
    "client_exchange",
    "credentials_login",
    "delegate",
    "intent",
    "next_note",
    "signature_login",
    "wait_until",
]

ACCOUNTS = ("alice", "bob", "carol", "dave", "erin", "frank")
LIMITS = Limits(
    max_connections_per_ip=64,
    max_subscriptions=50,
    min_heartbeat_s=1,
    rate_max_credits=10_000_000,
    rate_refill_per_second=10_000_000,
)
WAIT_S = 15.0
"""Bound on waiting for something that must happen (a notification, a reconnect); a test
that hits it has failed, it does not measure time."""


def client_exchange(root: Path, accounts: tuple[str, ...] = ACCOUNTS) -> Exchange:
    """An engine and a gateway process on free loopback ports with ``accounts`` funded."""
    return start_exchange(root, accounts, LIMITS)


def signature_login(exchange: Exchange, account: str) -> ClientSignature:
    """``client_signature`` credentials of ``account``'s API key."""
    key = exchange.credentials[account]
    return ClientSignature(key.client_id, key.client_secret)


def credentials_login(exchange: Exchange, account: str) -> ClientCredentials:
    """``client_credentials`` credentials of ``account``'s API key."""
    key = exchange.credentials[account]
    return ClientCredentials(key.client_id, key.client_secret)


def delegate(exchange: Exchange, account: str, trading_key: PrivateKey) -> None:
    """Have ``account``'s owner authorize ``trading_key`` in the file the engine reads."""
    path = exchange.home / "delegations.json"
    content = load_delegations_file(path)
    last = max(
        (
            (r.authorization or r.revocation).nonce  # type: ignore[union-attr]
            for r in content.authorizations
            if (r.authorization or r.revocation).account == account  # type: ignore[union-attr]
        ),
        default=-1,
    )
    now = int(time.time() * 1000)
    grant = TradingKeyAuthorization(
        chain_id=content.chain_id,
        account=account,
        trading_key=trading_key.public_key.raw,
        scopes=(TradingScope.CANCEL, TradingScope.TRADE),
        not_before_ms=now - 60_000,
        expiry_ms=now + 24 * 3600 * 1000,
        nonce=last + 1,
    )
    record = DelegationRecord.of(sign_authorization(exchange.owners[account], grant))
    authorizations = [*content.authorizations, record]
    save_delegations_file(path, type(content)(content.chain_id, content.owners, authorizations))


def intent(account: str, side: Side, price_usdc: int, quantity_btc_e8: int) -> OrderIntent:
    """A limit GTC intent on the perpetual; nonce and expiry left for the client to set."""
    return OrderIntent(
        chain_id="optex-devnet",
        account=account,
        instrument=PERP,
        side=side,
        order_type=OrderType.LIMIT,
        price=price_usdc * 1_000_000,
        quantity=quantity_btc_e8,
        nonce=0,
        expiry_ms=0,
    )


async def next_note(
    sub: Subscription, accept: Callable[[Notification], bool] = lambda _: True
) -> Notification:
    """The next notification on ``sub`` that ``accept`` takes (others are skipped)."""
    async with asyncio.timeout(WAIT_S):
        async for note in sub:
            if accept(note):
                return note
    raise AssertionError(f"{sub!r} ended without the notification")


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Yield to the event loop until ``condition()`` holds."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None
