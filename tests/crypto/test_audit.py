"""The hash-chained audit log: what verification detects, and what it needs an anchor for."""

from __future__ import annotations

import json

import pytest

from optex.core import InvalidInput
from optex.crypto import (
    AuditAnchor,
    AuditEvent,
    AuditLog,
    Secret,
    SecurityReason,
    decode_audit_line,
    verify_audit,
)
from tests.crypto.kit import CHAIN, NOW_MS


def _log(n: int = 5) -> tuple[list[bytes], AuditLog]:
    log = AuditLog(CHAIN)
    lines = []
    for i in range(n):
        _, line = log.append(
            AuditEvent.LOGIN, f"user-{i}", {"ip": "10.0.0.1", "ok": True}, now_ms=NOW_MS + i
        )
        lines.append(line)
    return lines, log


def _fails(
    lines: list[bytes], reason: SecurityReason, line: int | None, anchor: AuditAnchor | None = None
) -> None:
    with pytest.raises(InvalidInput) as info:
        verify_audit(lines, chain_id=CHAIN, anchor=anchor)
    assert info.value.code is reason
    if line is not None:
        assert info.value.details["line"] == line


def test_an_untouched_log_verifies_and_reports_its_head() -> None:
    lines, log = _log()
    report = verify_audit(lines, chain_id=CHAIN, anchor=log.head)
    assert report.records == 5 and report.head == log.head
    assert verify_audit([], chain_id=CHAIN).records == 0


def test_an_altered_record_is_detected_at_its_line() -> None:
    lines, _ = _log()
    doc = json.loads(lines[2])
    doc["actor"] = "mallory"
    lines[2] = json.dumps(doc).encode()
    _fails(lines, SecurityReason.AUDIT_BROKEN, 3)


def test_an_altered_record_with_a_recomputed_hash_breaks_the_next_link() -> None:
    lines, _ = _log()
    forged_log = AuditLog(CHAIN, head=AuditAnchor(1, json.loads(lines[1])["hash"]))
    _, forged = forged_log.append("login", "mallory", {}, now_ms=NOW_MS + 2)
    lines[2] = forged
    _fails(lines, SecurityReason.AUDIT_BROKEN, 4)


def test_removed_and_reordered_records_are_detected() -> None:
    lines, _ = _log()
    _fails(lines[:2] + lines[3:], SecurityReason.AUDIT_BROKEN, 3)
    _fails([lines[0], lines[2], lines[1], *lines[3:]], SecurityReason.AUDIT_BROKEN, 2)
    _fails(lines[1:], SecurityReason.AUDIT_BROKEN, 1)


def test_a_cut_off_tail_is_detected_only_with_an_anchor() -> None:
    lines, log = _log()
    assert verify_audit(lines[:3], chain_id=CHAIN).records == 3
    _fails(lines[:3], SecurityReason.AUDIT_TRUNCATED, None, anchor=log.head)


def test_a_log_from_another_chain_does_not_verify() -> None:
    lines, _ = _log()
    with pytest.raises(InvalidInput):
        verify_audit(lines, chain_id="optex-mainnet")


def test_secrets_and_other_objects_never_enter_the_log() -> None:
    log = AuditLog(CHAIN)
    with pytest.raises(InvalidInput):
        log.append("api_key_created", "alice", {"secret": Secret(b"x")}, now_ms=NOW_MS)
    with pytest.raises(InvalidInput):
        log.append("login", 'alice\n{"forged": 1}', {}, now_ms=NOW_MS)
    assert log.head is None


def test_lines_round_trip_and_appending_continues_from_an_anchor() -> None:
    lines, log = _log(3)
    record = decode_audit_line(lines[-1])
    resumed = AuditLog(CHAIN, head=log.head)
    _, more = resumed.append(AuditEvent.WITHDRAWAL, "user-9", {"amount": 10}, now_ms=NOW_MS + 9)
    assert decode_audit_line(more).prev == record.hash
    assert verify_audit([*lines, more], chain_id=CHAIN).records == 4
