"""TOTP second factor per account, kept in the gateway home across restarts.

``HOME/totp.json`` holds, per account, the TOTP secret sealed with the gateway's master key
(AES-GCM bound to the account, as API-key secrets are), whether enrolment was confirmed, the
last time step used and the failure count and lockout. Every check loads the account's record
into an ``optex.crypto.TotpGuard`` (which does all of the TOTP work: drift window, single use,
lockout) and writes the record back, success or failure, before the handler continues: a code
used before a restart stays used, and failures keep counting towards the lockout.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Final

import msgspec

from optex.crypto import MasterKey, Secret, TotpEnrolment, TotpGuard, TotpState
from optex.gateway._home import AccountRecords

TOTP_FILE: Final = "totp.json"
_CONTEXT: Final = b"optex.gateway/totp/v1:"


class TotpRecord(msgspec.Struct, frozen=True):
    """One account's second factor at rest (the secret sealed, never plain)."""

    sealed_secret: str
    active: bool = False
    last_step: int = -1
    failures: int = 0
    locked_until_ms: int = 0


def _export(guard: TotpGuard, account: str, master: MasterKey) -> TotpRecord | None:
    state = guard.export(account)
    if state is None:
        return None
    sealed = master.encrypt(state.secret.reveal(), _CONTEXT + account.encode(), secrets.token_bytes)
    return TotpRecord(
        base64.b64encode(sealed).decode("ascii"),
        state.active,
        state.last_step,
        state.failures,
        state.locked_until_ms,
    )


def _restore(guard: TotpGuard, account: str, record: TotpRecord, master: MasterKey) -> None:
    secret = master.decrypt(base64.b64decode(record.sealed_secret), _CONTEXT + account.encode())
    guard.restore(
        account,
        TotpState(
            Secret(secret), record.active, record.last_step, record.failures, record.locked_until_ms
        ),
    )


class TotpStore:
    """The gateway's TOTP records: load one account into a guard, act, save it back."""

    def __init__(self, home: Path, master: MasterKey) -> None:
        self.home = home
        self.master = master
        self._records = AccountRecords(home / TOTP_FILE, TotpRecord)

    def guard(self, account: str) -> TotpGuard:
        """A guard holding ``account``'s saved record (or none): act on it, then :meth:`save`."""
        guard = TotpGuard()
        record = self._records.get(account)
        if record is not None:
            _restore(guard, account, record, self.master)
        return guard

    def save(self, guard: TotpGuard, account: str) -> None:
        """Write ``account``'s record back from ``guard`` (or delete it if the guard has none)."""
        self._records.put(account, _export(guard, account, self.master))

    def is_enrolled(self, account: str) -> bool:
        """Whether ``account`` has a confirmed second factor."""
        return self.guard(account).is_enrolled(account)

    def begin(self, account: str) -> TotpEnrolment:
        """A new pending secret (replacing an unconfirmed one); refused once enrolled."""
        guard = self.guard(account)
        enrolment = guard.begin_enrolment(account)
        self.save(guard, account)
        return enrolment

    def confirm(self, account: str, code: str, now_ms: int) -> None:
        """Activate the pending secret with a first code (failures are saved too)."""
        guard = self.guard(account)
        try:
            guard.confirm_enrolment(account, code, now_ms)
        finally:
            self.save(guard, account)

    def disable(self, account: str, code: str | None, now_ms: int) -> None:
        """Turn the second factor off with a current code (single use, the same lockout), so
        the account can enrol again; a wrong code counts towards the lockout."""
        guard = self.guard(account)
        try:
            guard.disable(account, code or "", now_ms)
        finally:
            self.save(guard, account)

    def verify(self, account: str, code: str | None, now_ms: int) -> None:
        """Accept ``code`` once, or raise (``totp_not_enrolled`` without a confirmed secret)."""
        guard = self.guard(account)
        try:
            guard.verify(account, code, now_ms)
        finally:
            if guard.is_enrolled(account):
                self.save(guard, account)
