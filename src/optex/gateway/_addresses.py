"""The withdrawal address book and the checks every withdrawal passes first.

``optex.crypto.WithdrawalGuard`` holds the rules: withdrawals go only to addresses on the
account's allowlist, a new address becomes usable only after ``address_delay_ms`` (time for the
owner to notice and remove an address someone else added), and a rolling 24-hour limit per asset
caps what a stolen session can take. The gateway keeps each account's guard state in
``HOME/withdrawal-guard.json`` (written atomically after every change, like ``totp.json``) and
exposes the allowlist as Deribit's address book (``type: "withdrawal"``):

* ``private/add_to_address_book`` (a TOTP code: an account without a confirmed second factor
  cannot add addresses, as it cannot withdraw),
* ``private/remove_from_address_book`` (a TOTP code too: removing is not dangerous, but the
  guard's rule is one rule for both),
* ``private/get_address_book``.

:func:`authorize` is what ``private/withdraw`` calls before the engine sees anything: the
allowlist, the delay and the daily limit are checked before the TOTP code, so a refused
withdrawal never spends a code; only then the code, and the amount is counted against the
limit and saved at once (a crash after that point leaves the withdrawal counted, never
forgotten). :func:`release` gives the amount back when the engine refuses the debit.

Each account's wallet calls run one at a time (:meth:`Gateway.wallet_lock`), so two
withdrawals sent together cannot both pass a limit only one of them fits under. One gateway
process serves a home.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import msgspec

from optex.core import Forbidden, InvalidInput
from optex.crypto import (
    Access,
    AllowedAddress,
    Area,
    SecurityReason,
    TotpGuard,
    WithdrawalGuard,
    WithdrawalState,
)
from optex.gateway._gateway import SETTLEMENT, Call
from optex.gateway._home import AccountRecords, master_key
from optex.gateway._methods import Method, Param
from optex.gateway._reasons import GatewayReason
from optex.gateway._tfa import TotpStore

GUARD_FILE: Final = "withdrawal-guard.json"
DEFAULT_LABEL: Final = "withdrawal"
_WALLET: Final = (Area.WALLET, Access.READ_WRITE)
_WALLET_READ: Final = (Area.WALLET, Access.READ)


class GuardStore:
    """The accounts' withdrawal-guard states in the gateway home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._records = AccountRecords(home / GUARD_FILE, WithdrawalState)

    def load(self, account: str) -> WithdrawalState:
        """``account``'s saved state (empty if it has none)."""
        state = self._records.get(account)
        return WithdrawalState() if state is None else state

    def save(self, account: str, state: WithdrawalState) -> None:
        """Replace ``account``'s saved state, atomically."""
        self._records.put(account, state)


def _totp(call: Call) -> TotpStore:
    return TotpStore(call.gateway.home, master_key(call.gateway.key))


def _guard(call: Call, totp: TotpGuard) -> WithdrawalGuard:
    """A guard with the gateway's policy holding the session account's saved state."""
    policy = call.gateway.config.withdrawals
    guard = WithdrawalGuard(totp, policy.daily_limits, activation_delay_ms=policy.address_delay_ms)
    guard.restore(call.account, GuardStore(call.gateway.home).load(call.account))
    return guard


def _require_enrolled(totp: TotpGuard, account: str) -> None:
    if not totp.is_enrolled(account):
        raise Forbidden(SecurityReason.TOTP_NOT_ENROLLED)


def _check_book(call: Call) -> None:
    if call.args["currency"] != SETTLEMENT:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            f"only {SETTLEMENT} is withdrawn, so only {SETTLEMENT} addresses are kept",
            param="currency",
        )
    if call.args.get("type", "withdrawal") != "withdrawal":
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS,
            "only the withdrawal address book is kept (type=withdrawal)",
            param="type",
        )


def _entry_json(entry: AllowedAddress, now_ms: int) -> dict[str, Any]:
    return {
        "currency": entry.asset,
        "address": entry.address,
        "type": "withdrawal",
        "label": entry.label,
        "creation_timestamp": entry.added_ms,
        "waiting_timestamp": entry.active_from_ms,
        "available_at": entry.active_from_ms,
        "status": "waiting" if now_ms < entry.active_from_ms else "confirmed",
        "requires_confirmation": False,
    }


async def _change_book(call: Call, adding: bool) -> Any:
    """Add or remove an address with a TOTP code; the code's use and the book saved either way
    as far as they went (a wrong code counts towards the lockout)."""
    _check_book(call)
    account = call.account
    async with call.gateway.wallet_lock(account):
        store = _totp(call)
        totp = store.guard(account)
        _require_enrolled(totp, account)
        guard = _guard(call, totp)
        code = call.args.get("tfa")
        try:
            if adding:
                entry = guard.add_address(
                    account,
                    SETTLEMENT,
                    call.args["address"],
                    label=call.args.get("label", DEFAULT_LABEL),
                    now_ms=call.now_ms,
                    totp_code=code,
                )
            else:
                guard.remove_address(
                    account, SETTLEMENT, call.args["address"], now_ms=call.now_ms, totp_code=code
                )
        finally:
            store.save(totp, account)
        GuardStore(call.gateway.home).save(account, guard.export(account))
    return _entry_json(entry, call.now_ms) if adding else "ok"


def authorize(call: Call, units: int) -> None:
    """Check a withdrawal of ``units`` against the account's guard and TOTP code, and count it
    towards the daily limit (saved before returning). Hold the account's wallet lock."""
    account = call.account
    store = _totp(call)
    totp = store.guard(account)
    _require_enrolled(totp, account)
    guard = _guard(call, totp)
    try:
        guard.authorize(
            account,
            SETTLEMENT,
            call.args["address"],
            units,
            now_ms=call.now_ms,
            totp_code=call.args.get("tfa"),
        )
    finally:
        store.save(totp, account)
    GuardStore(call.gateway.home).save(account, guard.export(account))


def release(call: Call, units: int) -> None:
    """Take back the count :func:`authorize` made for a withdrawal the engine refused."""
    store = GuardStore(call.gateway.home)
    state = store.load(call.account)
    entries = list(state.history.get(SETTLEMENT, ()))
    counted = (call.now_ms, units)
    if counted in entries:
        entries.remove(counted)
        history = {**state.history, SETTLEMENT: tuple(entries)}
        store.save(call.account, msgspec.structs.replace(state, history=history))


async def add_to_address_book(call: Call) -> Any:
    return await _change_book(call, adding=True)


async def remove_from_address_book(call: Call) -> Any:
    return await _change_book(call, adding=False)


async def get_address_book(call: Call) -> Any:
    _check_book(call)
    state = GuardStore(call.gateway.home).load(call.account)
    return [_entry_json(entry, call.now_ms) for entry in state.addresses]


_BOOK_PARAMS: Final = (
    Param("currency", required=True, doc="USDC", max_length=16),
    Param("type", required=True, choices=("withdrawal", "transfer", "deposit_source")),
)
_ADDRESS: Final = Param("address", required=True, doc="the chain address", max_length=128)
_TFA: Final = Param("tfa", doc="a TOTP code (required)", max_length=16)

ADDRESS_METHODS: Final = (
    Method(
        "private/add_to_address_book",
        "Add a withdrawal address (usable after the configured delay); needs a TOTP code",
        add_to_address_book,
        (*_BOOK_PARAMS, _ADDRESS, Param("label", doc="a name for it", max_length=64), _TFA),
        scope=_WALLET,
        tags=("wallet",),
    ),
    Method(
        "private/remove_from_address_book",
        "Remove a withdrawal address; needs a TOTP code",
        remove_from_address_book,
        (*_BOOK_PARAMS, _ADDRESS, _TFA),
        scope=_WALLET,
        result="string",
        tags=("wallet",),
    ),
    Method(
        "private/get_address_book",
        "Your withdrawal addresses and when each becomes usable",
        get_address_book,
        _BOOK_PARAMS,
        scope=_WALLET_READ,
        result="array",
        tags=("wallet",),
    ),
)
