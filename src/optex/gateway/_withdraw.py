"""Withdrawals with a TOTP second factor: enrolment and reset, ``private/withdraw``,
``get_withdrawals``.

The gateway never holds an account's owner key, and the chain pays a withdrawal only when the
owner signed it, so ``private/withdraw`` takes Deribit's ``currency``, ``amount`` and ``address``
plus ``signed_tx``: the owner-signed ``optex.chain.Withdraw`` (base64 of the canonical bytes of
its ``SignedTx``), which must say exactly what the parameters say, for the session's account,
this chain and the settlement currency. The address must be on the account's address book
and past its delay, and the amount within the daily limit (``_addresses``: checked before the
code, so a refused withdrawal spends none); then ``tfa`` (a TOTP code; an account without a
confirmed second factor cannot withdraw) is checked and it submits to the engine, under the
idempotency key ``chain:withdraw:<tx hash>`` (the one the settlement watcher uses for the same
transaction, so the engine debits it once whichever sees it first)::

    Withdraw(account, amount, withdrawal_id=<tx hash>, chain_tx=<signed tx bytes>)

The engine debits it only if the margin of what stays open allows; the settlement process
follows the journal and broadcasts the transaction of each debited withdrawal, refunding the
engine if the chain refuses it. The gateway does not import ``optex.settlement``: the journal
is the hand-over. Each accepted withdrawal is recorded in ``HOME/withdrawals.json`` for
``private/get_withdrawals``, whose state comes from the settlement status file when configured.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec

from optex.chain import SignedTx, tx_domain, tx_hash
from optex.chain import Withdraw as ChainWithdraw
from optex.core import InvalidInput, OptexError, decode, encode, registered_reason_tables
from optex.crypto import Access, Area, verify
from optex.exchange import CommandFailed, Withdraw, Withdrawn, load_delegations_file
from optex.gateway._addresses import ADDRESS_METHODS, authorize, release
from optex.gateway._gateway import SETTLEMENT, Call
from optex.gateway._home import DELEGATIONS_FILE, _locked, _write_atomic, master_key
from optex.gateway._methods import Method, Param
from optex.gateway._reasons import GatewayReason
from optex.gateway._tfa import TotpStore

WITHDRAWALS_FILE: Final = "withdrawals.json"
MAX_SIGNED_TX: Final = 4096
_WALLET: Final = (Area.WALLET, Access.READ_WRITE)
_WALLET_READ: Final = (Area.WALLET, Access.READ)
_ACCOUNT_WRITE: Final = (Area.ACCOUNT, Access.READ_WRITE)
_STATES: Final = {
    "submitted": "unconfirmed",
    "done": "completed",
    "refunded": "refunded",
    "unpayable": "refunded",
}


def withdrawal_key(digest: str) -> str:
    """The engine idempotency key of a withdrawal's debit (``optex.settlement.withdraw_key``)."""
    return f"chain:withdraw:{digest}"


class WithdrawalEntry(msgspec.Struct, frozen=True):
    """One withdrawal the gateway handed to the engine."""

    id: int
    account: str
    currency: str
    amount: int
    address: str
    transaction_id: str
    created_ms: int


def _invalid(message: str, param: str = "signed_tx") -> InvalidInput:
    return InvalidInput(GatewayReason.WITHDRAWAL_INVALID, message, param=param)


def _store(call: Call) -> TotpStore:
    return TotpStore(call.gateway.home, master_key(call.gateway.key))


def _units(call: Call) -> int:
    amount: Decimal = call.args["amount"]
    units = amount * call.gateway.settlement_scale
    if units <= 0 or units != units.to_integral_value():
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            "amount must be positive, in whole base units of the currency",
            param="amount",
        )
    return int(units)


def _signed_tx(call: Call, units: int) -> SignedTx:
    """The owner-signed chain withdrawal, checked against the parameters and the owner."""
    try:
        raw = base64.b64decode(call.args["signed_tx"], validate=True)
        tx = decode(raw, SignedTx)
    except (binascii.Error, ValueError, OptexError):
        raise _invalid("signed_tx is not base64 of a signed chain transaction") from None
    body = tx.body
    if not isinstance(body, ChainWithdraw):
        raise _invalid("signed_tx is not a chain withdraw")
    expected = {
        "chain_id": call.gateway.config.chain_id,
        "account": call.account,
        "asset": call.args["currency"],
        "amount": units,
        "address": call.args["address"],
    }
    for name, value in expected.items():
        if getattr(body, name) != value:
            raise _invalid(f"the signed withdrawal's {name} is not {value!r}")
    owners = load_delegations_file(call.gateway.home / DELEGATIONS_FILE).owners
    owner = owners.get(call.account)
    if owner is None or tx.signer != owner:
        raise _invalid("signed_tx is not signed by the account's owner key")
    try:
        verify(tx.signer, tx.signature, tx_domain(body), body.chain_id, body)
    except OptexError:
        raise _invalid("signed_tx has a bad signature") from None
    return tx


def _refusal(failed: CommandFailed) -> OptexError:
    for _, table in registered_reason_tables().values():
        try:
            return InvalidInput(table(failed.code), failed.message)
        except ValueError:
            continue
    return InvalidInput(GatewayReason.WITHDRAWAL_REFUSED, failed.message)


def _entries(home: Path) -> list[WithdrawalEntry]:
    try:
        return msgspec.json.decode(
            (home / WITHDRAWALS_FILE).read_bytes(), type=list[WithdrawalEntry]
        )
    except FileNotFoundError:
        return []


def _record(home: Path, entry: WithdrawalEntry) -> None:
    with _locked(home):
        entries = _entries(home)
        if all(e.transaction_id != entry.transaction_id for e in entries):
            _write_atomic(home / WITHDRAWALS_FILE, msgspec.json.encode([*entries, entry]))


def _stages(call: Call) -> dict[str, str]:
    path = call.gateway.config.settle_status
    if path is None:
        return {}
    try:
        stages = json.loads(Path(path).read_text()).get("withdrawals", {})
    except (OSError, ValueError):
        return {}
    return stages if isinstance(stages, dict) else {}


def _json(call: Call, entry: WithdrawalEntry, stages: dict[str, str]) -> dict[str, Any]:
    scale = call.gateway.settlement_scale
    return {
        "id": entry.id,
        "currency": entry.currency,
        "amount": float(Decimal(entry.amount) / scale),
        "address": entry.address,
        "state": _STATES.get(stages.get(entry.transaction_id, ""), "unconfirmed"),
        "transaction_id": entry.transaction_id,
        "created_timestamp": entry.created_ms,
        "updated_timestamp": entry.created_ms,
        "confirmed_timestamp": None,
        "fee": 0.0,
        "priority": 1.0,
    }


# Handlers -----------------------------------------------------------------------------------


async def enable_totp(call: Call) -> Any:
    enrolment = _store(call).begin(call.account)
    return {"uri": enrolment.uri, "secret": enrolment.secret_base32, "confirmed": False}


async def confirm_totp(call: Call) -> Any:
    _store(call).confirm(call.account, call.args["code"], call.now_ms)
    return {"confirmed": True}


async def disable_totp(call: Call) -> Any:
    async with call.gateway.wallet_lock(call.account):
        _store(call).disable(call.account, call.args["code"], call.now_ms)
    return {"enabled": False}


async def withdraw(call: Call) -> Any:
    if call.args["currency"] != SETTLEMENT:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS, f"only {SETTLEMENT} is withdrawn", param="currency"
        )
    units = _units(call)
    tx = _signed_tx(call, units)
    digest = tx_hash(tx).hex()
    async with call.gateway.wallet_lock(call.account):
        # The allowlist, the delay and the daily limit, then the code (so a refused
        # withdrawal spends none); the amount counts towards the limit from here on.
        authorize(call, units)
        command = Withdraw(0, call.account, units, digest, chain_tx=encode(tx))
        # An engine that cannot be reached may or may not have journaled it: the amount
        # stays counted. Only a refusal the engine answered gives it back.
        receipt = await call.gateway.link.submit(command, key=withdrawal_key(digest))
        debited = any(
            isinstance(e, Withdrawn) and e.withdrawal_id == digest for e in receipt.events
        )
        if not debited:
            release(call, units)
        if not debited and not receipt.duplicate:
            failed = [e for e in receipt.events if isinstance(e, CommandFailed)]
            if failed:
                raise _refusal(failed[0])
            raise InvalidInput(GatewayReason.WITHDRAWAL_REFUSED, "the engine did not debit it")
    home = call.gateway.home
    if debited:
        entry = WithdrawalEntry(
            receipt.seq, call.account, SETTLEMENT, units, call.args["address"], digest, call.now_ms
        )
        _record(home, entry)
    known = [e for e in _entries(home) if e.transaction_id == digest]
    if not known:
        raise InvalidInput(GatewayReason.WITHDRAWAL_REFUSED, "this transaction was refused before")
    return _json(call, known[0], _stages(call))


async def get_withdrawals(call: Call) -> Any:
    currency = call.args.get("currency", SETTLEMENT)
    count = call.args.get("count", 10)
    offset = call.args.get("offset", 0)
    if not 1 <= count <= 1000:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "count is 1 to 1000", param="count")
    mine = [
        e
        for e in reversed(_entries(call.gateway.home))
        if e.account == call.account and currency in (e.currency, "any")
    ]
    stages = _stages(call)
    return {
        "count": len(mine),
        "data": [_json(call, e, stages) for e in mine[offset : offset + count]],
    }


WITHDRAWAL_METHODS: Final = (
    Method(
        "private/optex_enable_totp",
        "Start TOTP enrolment: the otpauth URI and base32 secret, shown once",
        enable_totp,
        scope=_ACCOUNT_WRITE,
        tags=("wallet",),
    ),
    Method(
        "private/optex_confirm_totp",
        "Confirm TOTP enrolment with a first code from the authenticator",
        confirm_totp,
        (Param("code", required=True, doc="6 digits", max_length=16),),
        scope=_ACCOUNT_WRITE,
        tags=("wallet",),
    ),
    Method(
        "private/optex_disable_totp",
        "Turn TOTP off with a current code (single use), so that it can be enrolled again",
        disable_totp,
        (Param("code", required=True, doc="6 digits", max_length=16),),
        scope=_ACCOUNT_WRITE,
        tags=("wallet",),
    ),
    Method(
        "private/withdraw",
        "Withdraw to an address: owner-signed chain withdraw plus a TOTP code",
        withdraw,
        (
            Param("currency", required=True, doc="USDC", max_length=16),
            Param("amount", "number", required=True, doc="in the currency"),
            Param("address", required=True, doc="the chain address", max_length=128),
            Param(
                "signed_tx",
                required=True,
                doc="base64 of the owner-signed optex.chain Withdraw (SignedTx)",
                max_length=MAX_SIGNED_TX,
            ),
            Param("tfa", doc="the TOTP code (required)", max_length=16),
            Param("priority", doc="accepted and ignored", max_length=16),
        ),
        scope=_WALLET,
        tags=("wallet",),
    ),
    Method(
        "private/get_withdrawals",
        "The account's withdrawals, newest first",
        get_withdrawals,
        (
            Param("currency", doc="USDC or any", max_length=16),
            Param("count", "integer", doc="1-1000 (default 10)"),
            Param("offset", "integer"),
        ),
        scope=_WALLET_READ,
        tags=("wallet",),
    ),
    *ADDRESS_METHODS,
)
