"""The TOTP second factor: enrolment, drift window, once-only codes, lockout."""

from __future__ import annotations

import urllib.parse

import pytest

from optex.core import Conflict, Forbidden, InvalidInput, LimitExceeded, OptexError, Unauthorized
from optex.crypto import SecurityReason, TotpGuard, provisioning_uri, qr_svg, totp
from tests.crypto.kit import NOW_MS, seeded_rng

SECRET = seeded_rng(1)(20)  # what TotpGuard.begin_enrolment draws from seeded_rng(1)


def _enrolled(now_ms: int = NOW_MS) -> TotpGuard:
    guard = TotpGuard()
    guard.begin_enrolment("alice", rng=seeded_rng(1))
    guard.confirm_enrolment("alice", totp(SECRET, now_ms // 1000 - 30), now_ms)
    return guard


def _code(now_ms: int, offset_steps: int = 0) -> str:
    return totp(SECRET, now_ms // 1000 + 30 * offset_steps)


def test_enrolment_gives_an_otpauth_uri_and_a_qr_code() -> None:
    guard = TotpGuard(issuer="optex")
    enrolment = guard.begin_enrolment("alice", rng=seeded_rng(1))
    parsed = urllib.parse.urlparse(enrolment.uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    query = urllib.parse.parse_qs(parsed.query)
    assert query["secret"] == [enrolment.secret_base32]
    assert query["issuer"] == ["optex"]
    assert enrolment.qr.count("\n") > 10
    assert enrolment.secret_base32 not in repr(enrolment)
    assert qr_svg(enrolment.uri).startswith(b"<?xml")
    assert not guard.is_enrolled("alice")


def test_enrolment_activates_only_after_a_correct_code() -> None:
    guard = TotpGuard()
    guard.begin_enrolment("alice", rng=seeded_rng(1))
    with pytest.raises(Unauthorized):
        guard.confirm_enrolment(
            "alice", "000000" if _code(NOW_MS) != "000000" else "111111", NOW_MS
        )
    assert not guard.is_enrolled("alice")
    guard.confirm_enrolment("alice", _code(NOW_MS), NOW_MS)
    assert guard.is_enrolled("alice")
    with pytest.raises(Conflict):
        guard.begin_enrolment("alice")


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_one_step_either_side_are_accepted_for_clock_drift(offset: int) -> None:
    guard = _enrolled()
    now = NOW_MS + 300_000
    guard.verify("alice", _code(now, offset), now)


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_further_away_are_refused(offset: int) -> None:
    guard = _enrolled()
    now = NOW_MS + 300_000
    code = _code(now, offset)
    if code in {_code(now, -1), _code(now), _code(now, 1)}:
        pytest.skip("the codes collide by chance")
    with pytest.raises(Unauthorized):
        guard.verify("alice", code, now)


def test_each_code_is_usable_once_and_older_codes_die_with_it() -> None:
    guard = _enrolled()
    now = NOW_MS + 300_000
    guard.verify("alice", _code(now), now)
    with pytest.raises(Conflict) as info:
        guard.verify("alice", _code(now), now + 1000)
    assert info.value.code is SecurityReason.TOTP_REUSED
    with pytest.raises(Conflict):
        guard.verify("alice", _code(now, -1), now + 1000)


def test_repeated_failures_lock_the_user_out_even_for_correct_codes() -> None:
    guard = _enrolled()
    now = NOW_MS + 300_000
    wrong = next(
        f"{n:06d}"
        for n in range(10)
        if f"{n:06d}" not in {_code(now, -1), _code(now), _code(now, 1)}
    )
    for _ in range(5):
        with pytest.raises(Unauthorized):
            guard.verify("alice", wrong, now)
    with pytest.raises(LimitExceeded) as info:
        guard.verify("alice", _code(now), now)
    assert info.value.code is SecurityReason.TOTP_LOCKED
    later = now + 15 * 60 * 1000
    guard.verify("alice", _code(later), later)


def test_missing_malformed_and_unenrolled_codes_give_clear_reasons() -> None:
    guard = _enrolled()
    with pytest.raises(Unauthorized) as info:
        guard.verify("alice", None, NOW_MS)
    assert info.value.code is SecurityReason.TOTP_REQUIRED
    for bad in ("12345", "1234567", "12a456", "１２３４５６"):
        with pytest.raises(InvalidInput):
            guard.verify("alice", bad, NOW_MS)
    with pytest.raises(Forbidden) as info2:
        guard.verify("bob", "123456", NOW_MS)
    assert info2.value.code is SecurityReason.TOTP_NOT_ENROLLED


def test_disabling_the_second_factor_needs_a_code() -> None:
    guard = _enrolled()
    now = NOW_MS + 300_000
    with pytest.raises(OptexError):
        guard.disable("alice", "", now)
    guard.disable("alice", _code(now), now)
    assert not guard.is_enrolled("alice")


def test_provisioning_uri_refuses_look_alike_account_names() -> None:
    with pytest.raises(InvalidInput):
        provisioning_uri(SECRET, account="аlice")  # Cyrillic a


def test_an_exported_state_restored_in_a_new_guard_keeps_used_codes_used() -> None:
    import pyotp

    first = TotpGuard()
    enrolment = first.begin_enrolment("alice")
    code = pyotp.TOTP(enrolment.secret_base32).at(1_700_000_000)
    first.confirm_enrolment("alice", code, 1_700_000_000_000)
    state = first.export("alice")
    assert state is not None and state.active
    assert first.export("bob") is None
    second = TotpGuard()
    second.restore("alice", state)
    assert second.is_enrolled("alice")
    with pytest.raises(OptexError):
        second.verify("alice", code, 1_700_000_000_000)  # the step was used before the restart
