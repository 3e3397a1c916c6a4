"""Errors with stable reason codes.

Every rejection in optex carries a number that clients can rely on and a message a person
understands. Each subsystem owns a range of numbers and declares its codes in one ``ReasonCode``
table of its own; :func:`register_reasons` refuses overlapping ranges, so the union of all tables
is the one table of result codes for the whole system (exchange-core's habit, split per package
so that a package can be replaced without editing another's file).

Bad input is an :class:`OptexError` subclass and changes nothing. A broken invariant is an
:class:`InvariantViolation`: it means a bug, and the process that sees it should halt rather
than carry on with state it can no longer trust.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar, Self


class ReasonCode(IntEnum):
    """Base for a subsystem's table of reason codes: each member is ``NAME = code, "message"``."""

    message: str

    def __new__(cls, value: int, message: str = "") -> Self:
        member = int.__new__(cls, value)
        member._value_ = value
        member.message = message
        return member

    @property
    def reason(self) -> str:
        """The code's stable snake_case name, as sent to clients."""
        return self.name.lower()


_REGISTERED: dict[str, tuple[range, type[ReasonCode]]] = {}


def register_reasons(table: type[ReasonCode], codes: range) -> type[ReasonCode]:
    """Register a subsystem's table, checking that its codes stay inside its own range.

    Returns the table, so that it can be used as a class decorator.
    """
    for member in table:
        if int(member) not in codes:
            raise ValueError(f"{table.__name__}.{member.name}={int(member)} is outside {codes}")
        if not member.message:
            raise ValueError(f"{table.__name__}.{member.name} has no message")
    for name, (other, _) in _REGISTERED.items():
        if name != table.__qualname__ and codes.start < other.stop and other.start < codes.stop:
            raise ValueError(f"{table.__name__} range {codes} overlaps {name} range {other}")
    _REGISTERED[table.__qualname__] = (codes, table)
    return table


def registered_reason_tables() -> dict[str, tuple[range, type[ReasonCode]]]:
    """All registered tables, by name: the whole system's result codes."""
    return dict(_REGISTERED)


class CoreReason(ReasonCode):
    """Reason codes of ``optex.core`` (1000-1999)."""

    INVALID_ARGUMENT = 1000, "an argument is not valid"
    INVALID_AMOUNT = 1001, "the amount is not a valid number for this asset"
    TOO_MANY_DECIMALS = 1002, "the amount has more decimal places than the asset allows"
    AMOUNT_OUT_OF_RANGE = 1003, "the amount is outside the range a ledger field can hold"
    NEGATIVE_AMOUNT = 1004, "the amount must not be negative"
    ASSET_MISMATCH = 1005, "the amounts are in different assets"
    UNKNOWN_ASSET = 1006, "the asset is not known"
    INVALID_INSTRUMENT_NAME = 1010, "the instrument name is not valid"
    UNKNOWN_INSTRUMENT = 1011, "the instrument is not known"
    INVALID_EXPIRY = 1012, "the expiry is not a valid listing date"
    INVALID_STRIKE = 1013, "the strike is not valid"
    ENCODING_FAILED = 1020, "the value cannot be encoded canonically"
    DECODING_FAILED = 1021, "the bytes are not a valid encoding"
    INVALID_DOMAIN = 1022, "the domain tag or chain id is not valid"


register_reasons(CoreReason, range(1000, 2000))


class OptexError(Exception):
    """Base of every expected error in optex: a reason code, a message and optional details.

    ``details`` carries machine-readable context (which field, by how much) so that a client can
    act on the error without parsing the message.
    """

    http_status: ClassVar[int] = 400

    def __init__(self, code: ReasonCode, message: str | None = None, **details: Any) -> None:
        self.code = code
        self.message = message or code.message
        self.details = details
        super().__init__(f"{self.message} [{code.reason} {int(code)}]")

    @property
    def reason(self) -> str:
        """The stable snake_case reason, as sent to clients."""
        return self.code.reason


class InvalidInput(OptexError):
    """The input is malformed, out of range or inconsistent; nothing was changed."""


class NotFound(OptexError):
    """The thing referred to does not exist."""

    http_status = 404


class Conflict(OptexError):
    """The input clashes with state: a duplicate id, a replay, a stale version."""

    http_status = 409


class Unauthorized(OptexError):
    """The caller could not be authenticated."""

    http_status = 401


class Forbidden(OptexError):
    """The caller is authenticated but not allowed to do this."""

    http_status = 403


class LimitExceeded(OptexError):
    """A rate, size or risk limit was reached."""

    http_status = 429


class InsufficientFunds(OptexError):
    """The account does not have the balance or margin this needs."""


class InvariantViolation(Exception):
    """A broken invariant: a bug. The process that sees it must stop, not carry on."""
