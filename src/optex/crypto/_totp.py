"""Time-based one-time passwords (RFC 6238) as a second factor.

Codes come from ``pyotp``; this module adds what a server needs around them: enrolment that
only activates once the user proves a code (so a mistyped secret cannot lock anyone out), a
±1 step window for clock drift, each time step usable once (a code seen by a shoulder-surfer
or a phishing proxy is dead after its first use), and a lockout after repeated failures,
which caps an online brute force at a few guesses per lockout period against 10^6 codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import msgspec
import pyotp
import qrcode
import qrcode.image.svg

from optex.core import Conflict, Forbidden, InvalidInput, LimitExceeded, Unauthorized
from optex.crypto._keys import Secret
from optex.crypto._reasons import SecurityReason
from optex.crypto._text import normalize_label

STEP_SECONDS: Final = 30
DIGITS: Final = 6
DRIFT_STEPS: Final = 1
MAX_FAILURES: Final = 5
LOCKOUT_MS: Final = 15 * 60 * 1000
SECRET_BYTES: Final = 20


class TotpAlgorithm(StrEnum):
    """The HMAC hash of a TOTP; SHA1 is what authenticator apps support everywhere."""

    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"


_DIGESTS: Final = {
    TotpAlgorithm.SHA1: hashlib.sha1,
    TotpAlgorithm.SHA256: hashlib.sha256,
    TotpAlgorithm.SHA512: hashlib.sha512,
}


def _b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii")


def hotp(
    secret: bytes,
    counter: int,
    *,
    digits: int = DIGITS,
    algorithm: TotpAlgorithm = TotpAlgorithm.SHA1,
) -> str:
    """RFC 4226 HOTP of ``counter`` (the digest is :class:`TotpAlgorithm`'s, SHA1 by default)."""
    return pyotp.HOTP(_b32(secret), digits=digits, digest=_DIGESTS[algorithm]).at(counter)


def totp(
    secret: bytes,
    unix_seconds: int,
    *,
    digits: int = DIGITS,
    algorithm: TotpAlgorithm = TotpAlgorithm.SHA1,
    step: int = STEP_SECONDS,
) -> str:
    """RFC 6238 TOTP at ``unix_seconds`` (T0 = 0). Integer time: no 2038 or float issues."""
    return hotp(secret, unix_seconds // step, digits=digits, algorithm=algorithm)


def provisioning_uri(
    secret: bytes,
    *,
    account: str,
    issuer: str = "optex",
    digits: int = DIGITS,
    algorithm: TotpAlgorithm = TotpAlgorithm.SHA1,
) -> str:
    """The ``otpauth://totp/...`` URI that authenticator apps read from a QR code."""
    name = normalize_label(account)
    return pyotp.TOTP(
        _b32(secret),
        digits=digits,
        digest=_DIGESTS[algorithm],
        name=name,
        issuer=normalize_label(issuer),
    ).provisioning_uri()


def qr_text(uri: str) -> str:
    """The URI as a QR code drawn with block characters, for a terminal."""
    code = qrcode.QRCode(border=1)
    code.add_data(uri)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out)
    return out.getvalue()


def qr_svg(uri: str) -> bytes:
    """The URI as a QR code in SVG, for a web page."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


@dataclass
class _State:
    secret: Secret
    active: bool = False
    last_step: int = -1
    failures: int = 0
    locked_until_ms: int = 0


@dataclass(frozen=True)
class TotpState:
    """One user's second factor as a caller persists it (sealed at rest by the caller): the
    secret, whether enrolment was confirmed, the last time step used and the lockout state."""

    secret: Secret
    active: bool
    last_step: int
    failures: int
    locked_until_ms: int


class TotpEnrolment(msgspec.Struct, frozen=True):
    """What the user needs to set up an authenticator: the secret (base32), URI and QR code."""

    secret_base32: str
    uri: str
    qr: str

    def __repr__(self) -> str:
        return "TotpEnrolment(<hidden>)"


class TotpGuard:
    """TOTP state of many users: enrolment, once-only codes, failure lockout; time passed in.

    Secrets are held as :class:`Secret`; persisting them (encrypted) is the caller's job.
    """

    def __init__(
        self,
        *,
        drift_steps: int = DRIFT_STEPS,
        max_failures: int = MAX_FAILURES,
        lockout_ms: int = LOCKOUT_MS,
        issuer: str = "optex",
    ) -> None:
        self.drift_steps = drift_steps
        self.max_failures = max_failures
        self.lockout_ms = lockout_ms
        self.issuer = issuer
        self._users: dict[str, _State] = {}

    def export(self, user: str) -> TotpState | None:
        """``user``'s state, to persist (the guard keeps nothing on disk), or ``None``."""
        state = self._users.get(user)
        if state is None:
            return None
        return TotpState(
            state.secret, state.active, state.last_step, state.failures, state.locked_until_ms
        )

    def restore(self, user: str, state: TotpState) -> None:
        """Take back a state :meth:`export` gave, as it was: used steps stay used and failures
        keep counting towards the lockout across a restart."""
        self._users[user] = _State(
            state.secret, state.active, state.last_step, state.failures, state.locked_until_ms
        )

    def is_enrolled(self, user: str) -> bool:
        """Whether ``user`` has an active second factor."""
        state = self._users.get(user)
        return state is not None and state.active

    def begin_enrolment(
        self, user: str, *, rng: Callable[[int], bytes] = secrets.token_bytes
    ) -> TotpEnrolment:
        """Start enrolment with a new secret; it becomes active after :meth:`confirm_enrolment`."""
        if self.is_enrolled(user):
            raise Conflict(SecurityReason.TOTP_ALREADY_ENROLLED)
        secret = rng(SECRET_BYTES)
        self._users[user] = _State(Secret(secret))
        uri = provisioning_uri(secret, account=user, issuer=self.issuer)
        return TotpEnrolment(secret_base32=_b32(secret), uri=uri, qr=qr_text(uri))

    def confirm_enrolment(self, user: str, code: str, now_ms: int) -> None:
        """Activate the pending secret once the user shows a correct code from it."""
        state = self._users.get(user)
        if state is None or state.active:
            raise Forbidden(SecurityReason.TOTP_NOT_ENROLLED, "no enrolment is pending")
        self._check(state, code, now_ms)
        state.active = True

    def verify(self, user: str, code: str | None, now_ms: int) -> None:
        """Accept ``code`` once, or raise; failures count towards a lockout."""
        state = self._users.get(user)
        if state is None or not state.active:
            raise Forbidden(SecurityReason.TOTP_NOT_ENROLLED)
        if code is None or code == "":
            raise Unauthorized(SecurityReason.TOTP_REQUIRED)
        self._check(state, code, now_ms)

    def disable(self, user: str, code: str, now_ms: int) -> None:
        """Remove the second factor, which itself needs a valid code."""
        self.verify(user, code, now_ms)
        del self._users[user]

    def _check(self, state: _State, code: str, now_ms: int) -> None:
        if now_ms < state.locked_until_ms:
            raise LimitExceeded(
                SecurityReason.TOTP_LOCKED, retry_after_ms=state.locked_until_ms - now_ms
            )
        step = now_ms // 1000 // STEP_SECONDS
        matched = None
        well_formed = (
            isinstance(code, str) and len(code) == DIGITS and code.isascii() and code.isdigit()
        )
        if well_formed:
            secret = state.secret.reveal()
            for candidate in range(step - self.drift_steps, step + self.drift_steps + 1):
                if candidate >= 0 and hmac.compare_digest(hotp(secret, candidate), code):
                    matched = candidate
        if matched is not None and matched <= state.last_step:
            raise Conflict(SecurityReason.TOTP_REUSED)
        if matched is None:
            state.failures += 1
            if state.failures >= self.max_failures:
                state.failures = 0
                state.locked_until_ms = now_ms + self.lockout_ms
            if not well_formed:
                raise InvalidInput(SecurityReason.TOTP_INVALID, f"a code is {DIGITS} digits")
            raise Unauthorized(SecurityReason.TOTP_INVALID)
        state.last_step = matched
        state.failures = 0
