"""The token store at rest: its state (:class:`TokenState`) and its changes (:data:`TokenChange`).

A service that keeps sessions across restarts saves a :class:`TokenState` now and then and the
changes since in between (the gateway: ``tokens.json`` and ``tokens.log``). Both carry the
SHA-256 digest of each token, never the token. Whatever reads them back may be corrupt or
hostile, so every field is checked here before the store takes it: digests are 64 lower-case
hex digits, names are what the API-key store accepts, scopes and IP addresses are in their
canonical form, and a token never lives longer than the store issues tokens for.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Final

import msgspec

from optex.core import InvalidInput, Unauthorized
from optex.crypto._delegation import check_account
from optex.crypto._reasons import SecurityReason
from optex.crypto._requests import check_client_id
from optex.crypto._scopes import Scopes, scopes_from_text

_HEX_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_MAX_MS: Final = 2**62


class TokenKind(StrEnum):
    """What a stored token is: an access token, the family's current refresh token, or a
    refresh token already exchanged (kept only to detect its reuse)."""

    ACCESS = "access"
    REFRESH = "refresh"
    RETIRED = "retired"


class TokenRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One token at rest: the hex SHA-256 of the token, never the token."""

    digest: str
    kind: TokenKind
    issued_ms: int
    expires_ms: int


class LoginRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who a family of tokens acts for: the session of one login, and the IP it is bound to."""

    account: str
    client_id: str
    scopes: str
    ip: str | None = None


class FamilyRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One login's tokens at rest, in the order they were issued."""

    family: str
    login: LoginRecord
    revoked: bool
    tokens: tuple[TokenRecord, ...]


class TokenState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A token store's state, families in the order they were last issued a token."""

    families: tuple[FamilyRecord, ...] = ()


class TokensIssued(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="issued"):
    """A pair was issued: to a new family (``login`` set) or by rotating the family's refresh
    token (``retired``, its digest)."""

    family: str
    access: TokenRecord
    refresh: TokenRecord
    login: LoginRecord | None = None
    retired: str | None = None


class FamilyRevoked(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="revoked"):
    """A family was revoked: a logout, a replayed refresh token, or its API key revoked."""

    family: str


TokenChange = TokensIssued | FamilyRevoked


def bad_state(why: str) -> InvalidInput:
    """The error for a state or change the store refuses (the store is left unchanged)."""
    return InvalidInput(SecurityReason.MALFORMED_MESSAGE, f"token state refused: {why}")


def check_digest(text: object, where: str) -> bytes:
    """A token digest's bytes, from exactly 64 lower-case hex digits."""
    if not isinstance(text, str) or not _HEX_DIGEST.fullmatch(text):
        raise bad_state(f"{where}: not 64 lower-case hex digits")
    return bytes.fromhex(text)


def check_family_id(text: object, where: str) -> str:
    """A family id: 64 lower-case hex digits."""
    check_digest(text, where)
    assert isinstance(text, str)  # noqa: S101 - check_digest refused anything else
    return text


def check_login(login: object, where: str) -> tuple[str, str, Scopes, str | None]:
    """The account, client id, scopes and bound IP of a login record, each canonical."""
    if not isinstance(login, LoginRecord):
        raise bad_state(f"{where}: the login is not a LoginRecord")
    try:
        check_account(login.account)
        check_client_id(login.client_id)
        scopes = scopes_from_text(login.scopes)
    except (InvalidInput, Unauthorized) as exc:
        raise bad_state(f"{where}: {exc.message}") from None
    if scopes.format() != login.scopes:
        raise bad_state(f"{where}: the scopes are not in their canonical form")
    if login.ip is not None and _canonical_ip(login.ip) != login.ip:
        raise bad_state(f"{where}: the bound IP is not a canonical IP address")
    return login.account, login.client_id, scopes, login.ip


def check_token(
    record: object, where: str, *, access_ttl_ms: int, refresh_ttl_ms: int
) -> TokenRecord:
    """A token record whose times are integers in range, expiring after it was issued and no
    later than a token of its kind lives. Issue times are not compared with the clock or with
    each other: a wall clock stepped back must not make a service refuse its own file."""
    if not isinstance(record, TokenRecord) or not isinstance(record.kind, TokenKind):
        raise bad_state(f"{where} is not a TokenRecord")
    check_digest(record.digest, where)
    lifetime = access_ttl_ms if record.kind is TokenKind.ACCESS else refresh_ttl_ms
    if not (
        _is_ms(record.issued_ms)
        and _is_ms(record.expires_ms)
        and 0 < record.expires_ms - record.issued_ms <= lifetime
    ):
        raise bad_state(f"{where}: expires before it is issued or lives too long")
    return record


def _is_ms(value: object) -> bool:
    return type(value) is int and 0 <= value < _MAX_MS


def _canonical_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
