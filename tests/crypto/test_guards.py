"""Rate limits, withdrawal protection, and the validation of labels, addresses and amounts."""

from __future__ import annotations

import pytest

from optex.core import Forbidden, InvalidInput, LimitExceeded
from optex.crypto import (
    RateLimit,
    RateLimiter,
    SecurityReason,
    TotpGuard,
    WithdrawalGuard,
    check_amount,
    key_name,
    normalize_address,
    normalize_label,
    totp,
)
from tests.crypto.kit import ACCOUNT, NOW_MS, seeded_rng

ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
DAY = 24 * 3600 * 1000


def test_a_bucket_allows_its_burst_then_refuses_with_too_many_requests() -> None:
    limiter = RateLimiter(
        per_account=RateLimit(max_credits=1000, refill_per_second=500, default_cost=500)
    )
    limiter.charge("public/ticker", account="a", ip=None, now_ms=0)
    limiter.charge("public/ticker", account="a", ip=None, now_ms=0)
    with pytest.raises(LimitExceeded) as info:
        limiter.charge("public/ticker", account="a", ip=None, now_ms=0)
    assert info.value.code is SecurityReason.TOO_MANY_REQUESTS
    assert info.value.details["retry_after_ms"] == 1000
    limiter.charge("public/ticker", account="a", ip=None, now_ms=1000)
    limiter.charge("public/ticker", account="b", ip=None, now_ms=1000)


def test_matching_engine_methods_cost_more_credits() -> None:
    limiter = RateLimiter()
    limit = limiter.per_account
    assert limit.cost("private/buy") == 4 * limit.cost("public/ticker")
    for _ in range(25):
        limiter.charge("private/buy", account="a", ip=None, now_ms=0)
    with pytest.raises(LimitExceeded):
        limiter.charge("private/buy", account="a", ip=None, now_ms=0)


def test_an_ip_bucket_refusal_does_not_charge_the_account_bucket() -> None:
    small = RateLimit(max_credits=500, refill_per_second=1, default_cost=500)
    limiter = RateLimiter(per_account=RateLimit(), per_ip=small)
    limiter.charge("m", account="a", ip="1.1.1.1", now_ms=0)
    before = limiter.available("account:a", limiter.per_account, 0)
    with pytest.raises(LimitExceeded):
        limiter.charge("m", account="a", ip="1.1.1.1", now_ms=0)
    assert limiter.available("account:a", limiter.per_account, 0) == before


def test_the_refill_is_exact_integer_arithmetic() -> None:
    limit = RateLimit(max_credits=10, refill_per_second=3, default_cost=10)
    limiter = RateLimiter(per_account=limit)
    limiter.charge("m", account="a", ip=None, now_ms=0)
    assert limiter.available("account:a", limit, 333) == 0
    assert limiter.available("account:a", limit, 334) == 1
    assert limiter.available("account:a", limit, 10**9) == 10


def _withdrawals(limit: int = 1_000) -> tuple[WithdrawalGuard, bytes]:
    totp_guard = TotpGuard()
    secret = seeded_rng(1)(20)
    totp_guard.begin_enrolment(ACCOUNT, rng=seeded_rng(1))
    totp_guard.confirm_enrolment(ACCOUNT, totp(secret, NOW_MS // 1000 - 30), NOW_MS)
    return WithdrawalGuard(totp_guard, {"BTC": limit}), secret


def _code(secret: bytes, now_ms: int) -> str:
    return totp(secret, now_ms // 1000)


def test_a_new_address_is_usable_only_after_the_activation_delay() -> None:
    guard, secret = _withdrawals()
    guard.add_address(
        ACCOUNT, "BTC", ADDRESS, label="cold", now_ms=NOW_MS, totp_code=_code(secret, NOW_MS)
    )
    t = NOW_MS + 60_000
    with pytest.raises(Forbidden) as info:
        guard.authorize(ACCOUNT, "BTC", ADDRESS, 10, now_ms=t, totp_code=_code(secret, t))
    assert info.value.code is SecurityReason.ADDRESS_PENDING
    t = NOW_MS + DAY
    guard.authorize(ACCOUNT, "BTC", ADDRESS, 10, now_ms=t, totp_code=_code(secret, t))
    assert guard.withdrawn_today(ACCOUNT, "BTC", t) == 10


def test_the_daily_limit_is_a_rolling_24_hours_and_a_refusal_records_nothing() -> None:
    guard, secret = _withdrawals(limit=100)
    guard.add_address(
        ACCOUNT, "BTC", ADDRESS, label="cold", now_ms=NOW_MS, totp_code=_code(secret, NOW_MS)
    )
    t = NOW_MS + DAY
    guard.authorize(ACCOUNT, "BTC", ADDRESS, 70, now_ms=t, totp_code=_code(secret, t))
    t2 = t + 60_000
    with pytest.raises(Forbidden) as info:
        guard.authorize(ACCOUNT, "BTC", ADDRESS, 31, now_ms=t2, totp_code=_code(secret, t2))
    assert info.value.code is SecurityReason.DAILY_LIMIT_EXCEEDED
    assert info.value.details["remaining"] == 30
    guard.authorize(ACCOUNT, "BTC", ADDRESS, 30, now_ms=t2, totp_code=_code(secret, t2))
    t3 = t + DAY + 60_000
    guard.authorize(ACCOUNT, "BTC", ADDRESS, 70, now_ms=t3, totp_code=_code(secret, t3))


def test_withdrawals_to_unlisted_addresses_or_without_totp_are_refused() -> None:
    guard, secret = _withdrawals()
    t = NOW_MS + DAY
    with pytest.raises(Forbidden) as info:
        guard.authorize(ACCOUNT, "BTC", ADDRESS, 1, now_ms=t, totp_code=_code(secret, t))
    assert info.value.code is SecurityReason.ADDRESS_NOT_ALLOWED
    guard.add_address(
        ACCOUNT, "BTC", ADDRESS, label="cold", now_ms=NOW_MS, totp_code=_code(secret, NOW_MS)
    )
    with pytest.raises(Exception) as info2:
        guard.authorize(ACCOUNT, "BTC", ADDRESS, 1, now_ms=t, totp_code=None)
    assert getattr(info2.value, "code", None) is SecurityReason.TOTP_REQUIRED
    assert guard.withdrawn_today(ACCOUNT, "BTC", t) == 0
    guard.remove_address(ACCOUNT, "BTC", ADDRESS, now_ms=t, totp_code=_code(secret, t))
    assert guard.addresses(ACCOUNT) == []


def test_labels_are_nfkc_normalized_and_look_alikes_refused() -> None:
    assert normalize_label("  Ｍａｉｎ   key ") == "Main key"
    assert key_name("Main Key") == "main-key"
    for bad, reason in [
        ("pаypal", SecurityReason.CONFUSABLE_LABEL),  # Cyrillic а
        ("main\u200bkey", SecurityReason.CONFUSABLE_LABEL),  # zero-width space
        ("evil\u202ekey", SecurityReason.CONFUSABLE_LABEL),  # right-to-left override
        ("../etc", SecurityReason.INVALID_LABEL),
        ("", SecurityReason.INVALID_LABEL),
        ("x" * 65, SecurityReason.INVALID_LABEL),
    ]:
        with pytest.raises(InvalidInput) as info:
            normalize_label(bad)
        assert info.value.code is reason, bad


def test_addresses_must_already_be_plain_ascii() -> None:
    assert normalize_address(ADDRESS) == ADDRESS
    for bad in (
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdｑ",  # full-width q
        "0x" + "а" * 40,  # Cyrillic
        ADDRESS + "\u200d",
        "short",
        ADDRESS + " ",
        "x" * 129,
    ):
        with pytest.raises(InvalidInput) as info:
            normalize_address(bad)
        assert info.value.code is SecurityReason.INVALID_ADDRESS


@pytest.mark.parametrize("amount", [0, -1, True, 1.5, "10", 2**127, None])
def test_amounts_must_be_positive_integers_in_range(amount: object) -> None:
    with pytest.raises(InvalidInput) as info:
        check_amount(amount)
    assert info.value.code is SecurityReason.INVALID_AMOUNT


def test_the_largest_ledger_amount_is_accepted() -> None:
    assert check_amount(2**127 - 1) == 2**127 - 1
