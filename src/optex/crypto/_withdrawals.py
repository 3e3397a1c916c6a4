"""Withdrawal protection: TOTP, an address allowlist with an activation delay, daily limits.

An attacker who takes over a session should not be able to drain an account at once: a new
address becomes usable only after a delay (during which the owner is notified and can remove
it), each withdrawal needs a fresh TOTP code, and a rolling 24-hour limit per asset caps the
loss. Amounts are integers in base units.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Final

import msgspec

from optex.core import Forbidden, InvalidInput, LimitExceeded, NotFound, asset
from optex.crypto._delegation import check_account
from optex.crypto._reasons import SecurityReason
from optex.crypto._text import check_amount, normalize_address, normalize_label
from optex.crypto._totp import TotpGuard

ACTIVATION_DELAY_MS: Final = 24 * 3600 * 1000
DAY_MS: Final = 24 * 3600 * 1000
MAX_ADDRESSES_PER_ACCOUNT: Final = 100


class AllowedAddress(msgspec.Struct, frozen=True):
    """An allowlisted address and when it becomes usable."""

    asset: str
    address: str
    label: str
    added_ms: int
    active_from_ms: int


class WithdrawalState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One account's allowlist and recent withdrawals, to persist (the guard keeps nothing on
    disk): ``history`` holds ``(at_ms, amount)`` per asset, oldest first."""

    addresses: tuple[AllowedAddress, ...] = ()
    history: dict[str, tuple[tuple[int, int], ...]] = msgspec.field(default_factory=dict)


class WithdrawalGuard:
    """The withdrawal checks of all accounts; pure state, time passed in."""

    def __init__(
        self,
        totp: TotpGuard,
        daily_limits: Mapping[str, int],
        *,
        activation_delay_ms: int = ACTIVATION_DELAY_MS,
    ) -> None:
        for symbol, limit in daily_limits.items():
            asset(symbol)
            check_amount(limit, "daily limit")
        self._totp = totp
        self.daily_limits = dict(daily_limits)
        self.activation_delay_ms = activation_delay_ms
        self._addresses: dict[tuple[str, str, str], AllowedAddress] = {}
        self._history: dict[tuple[str, str], deque[tuple[int, int]]] = {}

    def export(self, account: str) -> WithdrawalState:
        """``account``'s allowlist and withdrawal history, to persist."""
        history = {
            symbol: tuple(entries)
            for (acct, symbol), entries in sorted(self._history.items())
            if acct == account and entries
        }
        return WithdrawalState(tuple(self.addresses(account)), history)

    def restore(self, account: str, state: WithdrawalState) -> None:
        """Take back a state :meth:`export` gave, replacing what the guard held for
        ``account``: addresses keep their activation time and past withdrawals keep counting
        towards the daily limit across a restart."""
        check_account(account)
        for address_key in [k for k in self._addresses if k[0] == account]:
            del self._addresses[address_key]
        for history_key in [k for k in self._history if k[0] == account]:
            del self._history[history_key]
        for entry in state.addresses:
            self._addresses[(account, entry.asset, entry.address)] = entry
        for symbol, entries in state.history.items():
            self._history[(account, symbol)] = deque(entries)

    def addresses(self, account: str) -> list[AllowedAddress]:
        """An account's allowlist."""
        return sorted(
            (a for (acct, _, _), a in self._addresses.items() if acct == account),
            key=lambda a: (a.asset, a.address),
        )

    def add_address(
        self,
        account: str,
        asset_symbol: str,
        address: str,
        *,
        label: str,
        now_ms: int,
        totp_code: str | None,
    ) -> AllowedAddress:
        """Allowlist an address; usable after the activation delay. Needs a TOTP code."""
        check_account(account)
        symbol = asset(asset_symbol).symbol
        addr = normalize_address(address)
        name = normalize_label(label)
        if len(self.addresses(account)) >= MAX_ADDRESSES_PER_ACCOUNT:
            raise LimitExceeded(SecurityReason.ADDRESS_NOT_ALLOWED, "the allowlist is full")
        self._totp.verify(account, totp_code, now_ms)
        entry = AllowedAddress(symbol, addr, name, now_ms, now_ms + self.activation_delay_ms)
        self._addresses[(account, symbol, addr)] = entry
        return entry

    def remove_address(
        self, account: str, asset_symbol: str, address: str, *, now_ms: int, totp_code: str | None
    ) -> None:
        """Remove an address from the allowlist. Needs a TOTP code."""
        key = (account, asset(asset_symbol).symbol, normalize_address(address))
        if key not in self._addresses:
            raise NotFound(SecurityReason.ADDRESS_NOT_ALLOWED)
        self._totp.verify(account, totp_code, now_ms)
        del self._addresses[key]

    def withdrawn_today(self, account: str, asset_symbol: str, now_ms: int) -> int:
        """The amount withdrawn in the 24 hours before ``now_ms``."""
        history = self._history.get((account, asset(asset_symbol).symbol), deque())
        return sum(amount for at, amount in history if at > now_ms - DAY_MS)

    def authorize(
        self,
        account: str,
        asset_symbol: str,
        address: str,
        amount: int,
        *,
        now_ms: int,
        totp_code: str | None,
    ) -> None:
        """Allow one withdrawal and count it against the daily limit, or raise and change
        nothing except the TOTP state (a wrong code counts towards the lockout)."""
        check_account(account)
        symbol = asset(asset_symbol).symbol
        addr = normalize_address(address)
        value = check_amount(amount)
        entry = self._addresses.get((account, symbol, addr))
        if entry is None:
            raise Forbidden(SecurityReason.ADDRESS_NOT_ALLOWED, address=addr)
        if now_ms < entry.active_from_ms:
            raise Forbidden(SecurityReason.ADDRESS_PENDING, active_from_ms=entry.active_from_ms)
        limit = self.daily_limits.get(symbol)
        if limit is None:
            raise InvalidInput(SecurityReason.INVALID_AMOUNT, f"withdrawals of {symbol} are off")
        used = self.withdrawn_today(account, symbol, now_ms)
        if used + value > limit:
            raise Forbidden(
                SecurityReason.DAILY_LIMIT_EXCEEDED, remaining=max(0, limit - used), limit=limit
            )
        self._totp.verify(account, totp_code, now_ms)
        history = self._history.setdefault((account, symbol), deque())
        while history and history[0][0] <= now_ms - DAY_MS:
            history.popleft()
        history.append((now_ms, value))
