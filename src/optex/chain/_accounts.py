"""Deposits, withdrawals, transfers and trading keys.

Each handler checks everything before it writes, and writes only to the transaction's overlay.
"""

from __future__ import annotations

from typing import Final

import msgspec

from optex.chain._context import Context, check_account, check_amount
from optex.chain._reasons import ChainReason
from optex.chain._records import (
    DEPOSIT,
    WITHDRAWALS,
    Account,
    Counter,
    PendingWithdrawal,
    TradingKey,
    WithdrawalQueue,
    WithdrawPolicy,
    account_key,
    trading_key_key,
)
from optex.chain._tx import (
    Deposit,
    RegisterTradingKey,
    RevokeTradingKey,
    SetWithdrawPolicy,
    Transfer,
    Withdraw,
)
from optex.core import Conflict, Forbidden, InvalidInput, Unauthorized
from optex.crypto import (
    PublicKey,
    SecurityReason,
    TradingKeyAuthorization,
    TradingScope,
    verify_authorization,
)

MAX_ADDRESS: Final = 128
MAX_ALLOWLIST: Final = 32
MAX_DELAY_MS: Final = 30 * 86_400_000


def _address(text: object) -> str:
    if (
        not isinstance(text, str)
        or not 0 < len(text) <= MAX_ADDRESS
        or not (text.isascii() and text.isprintable())
        or " " in text
    ):
        raise InvalidInput(
            ChainReason.MALFORMED_TX, f"an address is 1-{MAX_ADDRESS} printable ASCII characters"
        )
    return text


def owner_of(ctx: Context, account: str) -> bytes:
    """The owner key of ``account`` (for checking who signed)."""
    return ctx.account(account).owner


def deposit(ctx: Context, body: Deposit) -> None:
    """Credit a bridge deposit once, opening the account if it is new."""
    check_account(body.account)
    ctx.check_asset(body.asset)
    amount = check_amount(body.amount)
    if not 0 < len(body.deposit_id) <= MAX_ADDRESS:
        raise InvalidInput(ChainReason.MALFORMED_TX, "deposit_id must be 1-128 characters")
    marker = DEPOSIT + body.deposit_id
    if ctx.view.get(marker) is not None:
        raise Conflict(ChainReason.DEPOSIT_REPLAYED, deposit_id=body.deposit_id)
    PublicKey(body.owner_key)
    existing = ctx.view.get(account_key(body.account))
    if existing is None:
        existing = Account(owner=body.owner_key)
    elif existing.owner != body.owner_key:
        raise Conflict(ChainReason.ACCOUNT_EXISTS, account=body.account)
    ctx.put_account(body.account, existing)
    ctx.credit(body.account, body.asset, amount)
    ctx.add_supply(body.asset, amount)
    ctx.view.put(marker, Counter(ctx.height))
    ctx.emit("deposited", account=body.account, asset=body.asset, amount=amount)


def withdraw(ctx: Context, body: Withdraw) -> None:
    """Pay out to an address, at once or after the account's time lock."""
    ctx.check_asset(body.asset)
    amount = check_amount(body.amount)
    address = _address(body.address)
    account = ctx.account(body.account)
    allowlist, delay_ms = account.policy(ctx.now_ms)
    if allowlist and address not in allowlist:
        raise Forbidden(ChainReason.ADDRESS_NOT_ALLOWED, address=address)
    ctx.credit(body.account, body.asset, -amount)
    if delay_ms == 0:
        ctx.add_supply(body.asset, -amount)
        ctx.emit("withdrawn", account=body.account, asset=body.asset, amount=amount, to=address)
        return
    release = ctx.now_ms + delay_ms
    queue = ctx.view.get(WITHDRAWALS) or WithdrawalQueue()
    entry = PendingWithdrawal(body.account, body.asset, amount, address, release)
    entries = sorted((*queue.entries, entry), key=lambda e: e.release_ms)
    ctx.view.put(WITHDRAWALS, WithdrawalQueue(tuple(entries)))
    ctx.emit(
        "withdrawal_pending",
        account=body.account,
        asset=body.asset,
        amount=amount,
        to=address,
        release_ms=release,
    )


def set_withdraw_policy(ctx: Context, body: SetWithdrawPolicy) -> None:
    """Set the allowlist and the time lock of an account's withdrawals.

    A stricter policy (a time lock no shorter, an allowlist no wider) applies at once; a looser
    one only after the time lock in force has passed, so that a stolen owner key cannot lift the
    lock and withdraw in the same breath.
    """
    account = ctx.account(body.account)
    if len(body.allowlist) > MAX_ALLOWLIST:
        raise InvalidInput(ChainReason.MALFORMED_TX, f"at most {MAX_ALLOWLIST} addresses")
    allowlist = tuple(sorted({_address(a) for a in body.allowlist}))
    if isinstance(body.delay_ms, bool) or not 0 <= body.delay_ms <= MAX_DELAY_MS:
        raise InvalidInput(ChainReason.MALFORMED_TX, "delay_ms must be within 0..30 days")
    old_allowlist, old_delay = account.policy(ctx.now_ms)
    narrower = bool(allowlist) and (not old_allowlist or set(allowlist) <= set(old_allowlist))
    stricter = body.delay_ms >= old_delay and (narrower or allowlist == old_allowlist)
    if stricter:
        updated = msgspec.structs.replace(
            account, allowlist=allowlist, withdraw_delay_ms=body.delay_ms, pending_policy=None
        )
        effective = ctx.now_ms
    else:
        effective = ctx.now_ms + old_delay
        updated = msgspec.structs.replace(
            account,
            allowlist=old_allowlist,
            withdraw_delay_ms=old_delay,
            pending_policy=WithdrawPolicy(allowlist, body.delay_ms, effective),
        )
    ctx.put_account(body.account, updated)
    ctx.emit(
        "withdraw_policy", account=body.account, delay_ms=body.delay_ms, effective_ms=effective
    )


def transfer(ctx: Context, body: Transfer) -> None:
    """Move an amount between two existing accounts."""
    ctx.check_asset(body.asset)
    amount = check_amount(body.amount)
    if body.source == body.destination:
        raise InvalidInput(ChainReason.SAME_ACCOUNT)
    ctx.account(body.destination)
    ctx.credit(body.source, body.asset, -amount)
    ctx.credit(body.destination, body.asset, amount)
    ctx.emit("transferred", source=body.source, destination=body.destination, amount=amount)


def _check_owner_nonce(ctx: Context, account_name: str, nonce: int) -> Account:
    account = ctx.account(account_name)
    if nonce <= account.auth_nonce:
        raise Conflict(
            ChainReason.NONCE_REUSED, "the owner message nonce was already used", field="nonce"
        )
    return account


def register_trading_key(ctx: Context, body: RegisterTradingKey, signer: bytes) -> None:
    """Record an owner-signed authorization of a trading key."""
    message = body.authorization
    account = _check_owner_nonce(ctx, message.account, message.nonce)
    checked = verify_authorization(
        body.signed(signer), owner_key=account.owner, chain_id=ctx.chain_id
    )
    assert isinstance(checked, TradingKeyAuthorization)  # noqa: S101 - the body's type says so
    record = TradingKey(
        scopes=tuple(str(s) for s in message.scopes),
        not_before_ms=message.not_before_ms,
        expiry_ms=message.expiry_ms,
    )
    ctx.view.put(trading_key_key(message.account, message.trading_key), record)
    ctx.put_account(message.account, msgspec.structs.replace(account, auth_nonce=message.nonce))
    ctx.emit("trading_key_registered", account=message.account, key=message.trading_key)


def revoke_trading_key(ctx: Context, body: RevokeTradingKey, signer: bytes) -> None:
    """Record an owner-signed revocation; the key can never trade for the account again."""
    message = body.revocation
    account = _check_owner_nonce(ctx, message.account, message.nonce)
    verify_authorization(body.signed(signer), owner_key=account.owner, chain_id=ctx.chain_id)
    key = trading_key_key(message.account, message.trading_key)
    record = ctx.view.get(key)
    if record is None:
        raise Unauthorized(ChainReason.KEY_NOT_REGISTERED, account=message.account)
    ctx.view.put(key, msgspec.structs.replace(record, revoked=True))
    ctx.put_account(message.account, msgspec.structs.replace(account, auth_nonce=message.nonce))
    ctx.emit("trading_key_revoked", account=message.account, key=message.trading_key)


def check_trading_key(ctx: Context, account: str, public_key: bytes, scope: TradingScope) -> None:
    """Raise unless ``public_key`` may use ``scope`` for ``account`` now (the ledger's
    :class:`optex.crypto.KeyAuthority`, read from state)."""
    record = ctx.view.get(trading_key_key(account, public_key))
    if record is None:
        raise Unauthorized(SecurityReason.DELEGATION_NOT_FOUND, account=account)
    if record.revoked:
        raise Unauthorized(SecurityReason.KEY_REVOKED, account=account)
    if ctx.now_ms >= record.expiry_ms:
        raise Unauthorized(SecurityReason.KEY_EXPIRED, "the trading key's authorization expired")
    if ctx.now_ms < record.not_before_ms:
        raise Unauthorized(SecurityReason.DELEGATION_NOT_FOUND, "not valid yet")
    if scope.value not in record.scopes:
        raise Forbidden(SecurityReason.DELEGATION_SCOPE, scope=scope.value)
