"""API-key scopes as Deribit spells them: ``account:read``, ``trade:read_write``, ...

A scope set gives each area (account, trade, wallet) an access level: none, read or
read_write. Requested scopes are narrowed to what the key holds, never widened, and a key can
never be created with more scope than the caller that creates it (Deribit's ``scope_exceeded``).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final

import msgspec

from optex.core import Forbidden, InvalidInput
from optex.crypto._reasons import SecurityReason

MAX_SCOPE_LENGTH: Final = 512
# Session scopes a client may send and that carry no permission; they are accepted and ignored.
_SESSION_WORDS: Final = frozenset({"connection", "mainaccount"})


class Area(StrEnum):
    """What a scope governs."""

    ACCOUNT = "account"
    TRADE = "trade"
    WALLET = "wallet"


class Access(IntEnum):
    """How much of an area: ordered, so that a higher level includes the lower."""

    NONE = 0
    READ = 1
    READ_WRITE = 2


_ACCESS_NAMES: Final = {"none": Access.NONE, "read": Access.READ, "read_write": Access.READ_WRITE}


class Scopes(msgspec.Struct, frozen=True):
    """An access level per area."""

    account: Access = Access.NONE
    trade: Access = Access.NONE
    wallet: Access = Access.NONE

    def level(self, area: Area) -> Access:
        """The access level for ``area``."""
        return Access(getattr(self, area.value))

    def includes(self, other: Scopes) -> bool:
        """Whether every level of ``other`` is at most this one's."""
        return all(other.level(a) <= self.level(a) for a in Area)

    def narrow(self, requested: Scopes) -> Scopes:
        """The requested scopes, cut down to these."""
        return Scopes(**{a.value: min(self.level(a), requested.level(a)) for a in Area})

    def require(self, area: Area, access: Access) -> None:
        """Raise :class:`Forbidden` unless these scopes grant ``access`` to ``area``."""
        if self.level(area) < access:
            raise Forbidden(
                SecurityReason.SCOPE_MISSING,
                f"this needs {area.value}:{access.name.lower()}",
                scope=f"{area.value}:{access.name.lower()}",
            )

    def format(self) -> str:
        """Deribit's space-separated form, e.g. ``"account:read trade:read_write"``."""
        return " ".join(
            f"{a.value}:{self.level(a).name.lower()}" for a in Area if self.level(a) > Access.NONE
        )


FULL_SCOPES: Final = Scopes(Access.READ_WRITE, Access.READ_WRITE, Access.READ_WRITE)
DEFAULT_KEY_SCOPES: Final = Scopes(Access.READ, Access.READ_WRITE, Access.READ)


class RequestedScope(msgspec.Struct, frozen=True):
    """A parsed ``scope`` parameter: the levels asked for and the session options."""

    scopes: Scopes
    expires_s: int | None = None
    ip: str | None = None


def parse_scope(text: str, default: Scopes = FULL_SCOPES) -> RequestedScope:
    """Parse a Deribit ``scope`` string; areas not named get ``default``'s level.

    ``connection``, ``mainaccount`` and ``session:NAME`` are accepted and carry no permission;
    ``expires:SECONDS`` and ``ip:ADDRESS`` are returned for the token issuer.
    """
    if not isinstance(text, str) or len(text) > MAX_SCOPE_LENGTH or not text.isascii():
        raise InvalidInput(SecurityReason.INVALID_SCOPE, "a scope is short ASCII text")
    levels = {a.value: default.level(a) for a in Area}
    named: set[str] = set()
    expires: int | None = None
    ip: str | None = None
    for word in text.split():
        head, _, tail = word.partition(":")
        if word in _SESSION_WORDS or (head == "session" and tail):
            continue
        if head == "expires" and tail.isdigit() and 0 < int(tail) <= 10**9:
            expires = int(tail)
        elif head == "ip" and tail:
            ip = tail
        elif head in levels and tail in _ACCESS_NAMES and head not in named:
            named.add(head)
            levels[head] = _ACCESS_NAMES[tail]
        else:
            raise InvalidInput(SecurityReason.INVALID_SCOPE, f"unknown scope {word!r}")
    return RequestedScope(Scopes(**levels), expires, ip)


def scopes_from_text(text: str) -> Scopes:
    """Scopes from Deribit's form; unnamed areas get no access."""
    return parse_scope(text, default=Scopes()).scopes
