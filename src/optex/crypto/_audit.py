"""An append-only, hash-chained audit log of security events, as JSON lines.

Each record carries its sequence number, the hash of the previous record and its own hash over
the canonical encoding (domain ``"audit/v1"``, the chain id) of everything else. Editing a
record breaks its hash; removing or reordering records breaks a ``seq`` or ``prev`` link. What a
chain alone cannot show is the loss of the newest records: a log cut short after record k is a
valid log of k records. An :class:`AuditAnchor` (the head's seq and hash, kept elsewhere —
another machine, the settlement chain, a printed receipt) closes that gap. Someone who can
rewrite the whole file and every anchor can forge a consistent history; anchoring outside the
writer's reach is the defence (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Final

import msgspec

from optex.core import InvalidInput, content_hash
from optex.crypto._reasons import SecurityReason

AUDIT_DOMAIN: Final = "audit/v1"
GENESIS: Final = "00" * 32
MAX_LINE_BYTES: Final = 16 * 1024
MAX_DETAILS: Final = 32
MAX_TEXT: Final = 512

DetailValue = str | int | bool | None


class AuditEvent(StrEnum):
    """The security events optex records; other event names are allowed too."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    TOTP_ENROLLED = "totp_enrolled"
    TOTP_FAILED = "totp_failed"
    KEY_CREATED = "key_created"
    KEY_PASSWORD_CHANGED = "key_password_changed"  # noqa: S105 - an event name
    API_KEY_CREATED = "api_key_created"
    API_KEY_CHANGED = "api_key_changed"
    API_KEY_REVOKED = "api_key_revoked"
    TRADING_KEY_AUTHORIZED = "trading_key_authorized"
    TRADING_KEY_REVOKED = "trading_key_revoked"
    ADDRESS_ADDED = "address_added"
    ADDRESS_REMOVED = "address_removed"
    WITHDRAWAL = "withdrawal"
    WITHDRAWAL_REFUSED = "withdrawal_refused"
    CONFIG_CHANGED = "config_changed"


class AuditRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One security event. ``hash`` covers every other field."""

    seq: int
    ts_ms: int
    event: str
    actor: str
    details: dict[str, DetailValue]
    prev: str
    hash: str

    def body(self) -> tuple[int, int, str, str, dict[str, DetailValue], str]:
        """The fields the hash covers."""
        return (self.seq, self.ts_ms, self.event, self.actor, self.details, self.prev)


class AuditAnchor(msgspec.Struct, frozen=True):
    """A head of the log kept somewhere else: proves the log once reached this record."""

    seq: int
    hash: str


class AuditReport(msgspec.Struct, frozen=True):
    """The result of a successful verification."""

    records: int
    head: AuditAnchor | None


def _hash(chain_id: str, record: AuditRecord) -> str:
    return content_hash(AUDIT_DOMAIN, chain_id, record.body()).hex()


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT or not value.isprintable():
        raise InvalidInput(SecurityReason.AUDIT_MALFORMED, f"{what} must be printable text")
    return value


def _check_details(details: Mapping[str, object]) -> dict[str, DetailValue]:
    if len(details) > MAX_DETAILS:
        raise InvalidInput(SecurityReason.AUDIT_MALFORMED, f"at most {MAX_DETAILS} details")
    checked: dict[str, DetailValue] = {}
    for name, value in details.items():
        _check_text(name, "a detail name")
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise InvalidInput(SecurityReason.AUDIT_MALFORMED, f"detail {name} is too long")
        elif isinstance(value, int) and not -(2**63) <= value < 2**64:
            raise InvalidInput(SecurityReason.AUDIT_MALFORMED, f"detail {name} is out of range")
        elif not (value is None or isinstance(value, int)):
            # Only plain values: a Secret, a key object or bytes never reaches the log.
            raise InvalidInput(
                SecurityReason.AUDIT_MALFORMED,
                f"detail {name} must be text, an integer, a boolean or null",
            )
        checked[name] = value
    return checked


class AuditLog:
    """The writer's side: builds the next record; the caller appends its line to the file."""

    def __init__(self, chain_id: str, head: AuditAnchor | None = None) -> None:
        self.chain_id = chain_id
        self._next_seq = 0 if head is None else head.seq + 1
        self._prev = GENESIS if head is None else head.hash
        self._last_ts = 0

    @property
    def head(self) -> AuditAnchor | None:
        """The last record's seq and hash: publish it elsewhere to detect truncation."""
        return None if self._next_seq == 0 else AuditAnchor(self._next_seq - 1, self._prev)

    def append(
        self, event: str, actor: str, details: Mapping[str, object], *, now_ms: int
    ) -> tuple[AuditRecord, bytes]:
        """The next record and its JSON line (with the newline)."""
        if not isinstance(now_ms, int) or now_ms < self._last_ts:
            raise InvalidInput(SecurityReason.AUDIT_MALFORMED, "audit time must not go backwards")
        draft = AuditRecord(
            seq=self._next_seq,
            ts_ms=now_ms,
            event=_check_text(event, "event"),
            actor=_check_text(actor, "actor"),
            details=_check_details(details),
            prev=self._prev,
            hash="",
        )
        record = msgspec.structs.replace(draft, hash=_hash(self.chain_id, draft))
        line = encode_audit_line(record)
        if len(line) > MAX_LINE_BYTES:
            raise InvalidInput(SecurityReason.AUDIT_MALFORMED, "the audit record is too large")
        self._next_seq += 1
        self._prev = record.hash
        self._last_ts = now_ms
        return record, line


def encode_audit_line(record: AuditRecord) -> bytes:
    """One JSON line, keys sorted."""
    return msgspec.json.encode(record, order="sorted") + b"\n"


def decode_audit_line(line: bytes | str) -> AuditRecord:
    """Parse one JSON line strictly, refusing oversized or malformed input."""
    if isinstance(line, str):
        line = line.encode("utf-8")
    if len(line) > MAX_LINE_BYTES:
        raise InvalidInput(SecurityReason.PAYLOAD_TOO_LARGE, "the audit line is too long")
    try:
        record = msgspec.json.decode(line, type=AuditRecord, strict=True)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(SecurityReason.AUDIT_MALFORMED, f"not an audit record: {exc}") from None
    _check_text(record.event, "event")
    _check_text(record.actor, "actor")
    _check_details(record.details)
    return record


def verify_audit(
    lines: Iterable[bytes | str], *, chain_id: str, anchor: AuditAnchor | None = None
) -> AuditReport:
    """Check a whole log from its first record; raise at the first broken line.

    Errors carry ``line`` (1-based). With ``anchor`` the log must contain that record, which
    detects a cut-off tail; records after the anchor are checked like the rest.
    """
    prev, expected_seq, last_ts = GENESIS, 0, 0
    head: AuditAnchor | None = None
    anchored = anchor is None
    for number, line in enumerate(lines, start=1):
        try:
            record = decode_audit_line(line)
        except InvalidInput as exc:
            raise InvalidInput(exc.code, f"line {number}: {exc.message}", line=number) from None
        if record.seq != expected_seq:
            raise InvalidInput(
                SecurityReason.AUDIT_BROKEN,
                f"line {number}: expected record {expected_seq}, found {record.seq} "
                "(a record was removed, inserted or moved)",
                line=number,
            )
        if record.prev != prev:
            raise InvalidInput(
                SecurityReason.AUDIT_BROKEN,
                f"line {number}: does not follow the previous record",
                line=number,
            )
        if _hash(chain_id, record) != record.hash:
            raise InvalidInput(
                SecurityReason.AUDIT_BROKEN, f"line {number}: the record was altered", line=number
            )
        if record.ts_ms < last_ts:
            raise InvalidInput(
                SecurityReason.AUDIT_BROKEN, f"line {number}: time goes backwards", line=number
            )
        if anchor is not None and record.seq == anchor.seq:
            if record.hash != anchor.hash:
                raise InvalidInput(
                    SecurityReason.AUDIT_BROKEN,
                    f"line {number}: differs from the anchored record {anchor.seq}",
                    line=number,
                )
            anchored = True
        prev, expected_seq, last_ts = record.hash, record.seq + 1, record.ts_ms
        head = AuditAnchor(record.seq, record.hash)
    if not anchored:
        raise InvalidInput(
            SecurityReason.AUDIT_TRUNCATED,
            f"the log ends at record {expected_seq - 1}, before the anchored record "
            f"{anchor.seq if anchor else '-'}",
        )
    return AuditReport(records=expected_seq, head=head)
