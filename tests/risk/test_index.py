"""Index prices (median, staleness, outliers) and the settlement average before expiry."""

from __future__ import annotations

import pytest

from optex.core import InvalidInput
from optex.risk import (
    IndexParams,
    IndexSample,
    RiskReason,
    SourceQuote,
    index_price,
    settlement_price,
)
from tests.risk.kit import USDC

PARAMS = IndexParams(max_age_ms=5_000, outlier_ppm=20_000, min_sources=2)


def quote(source: str, usdc: int, ts_ms: int) -> SourceQuote:
    return SourceQuote(source, usdc * USDC, ts_ms)


def test_index_is_the_median_of_fresh_agreeing_sources() -> None:
    quotes = [quote("a", 100_000, 9_000), quote("b", 100_200, 9_500), quote("c", 100_100, 9_900)]
    index = index_price("BTC", quotes, 10_000, PARAMS)
    assert index.price == 100_100 * USDC
    assert index.sources == ("a", "b", "c")


def test_an_even_number_of_sources_takes_the_floor_of_the_middle_pair() -> None:
    quotes = [SourceQuote("a", 101, 0), SourceQuote("b", 100, 0)]
    assert index_price("BTC", quotes, 0, PARAMS).price == 100


def test_stale_quotes_and_outliers_are_dropped() -> None:
    quotes = [
        quote("a", 100_000, 10_000),
        quote("b", 100_100, 10_000),
        quote("c", 90_000, 10_000),  # 10% away: an outlier
        quote("d", 50_000, 1_000),  # 9 s old: stale
    ]
    index = index_price("BTC", quotes, 10_000, PARAMS)
    assert index.sources == ("a", "b")
    assert index.price == 100_050 * USDC


def test_only_the_latest_quote_of_a_source_counts() -> None:
    quotes = [quote("a", 1, 9_000), quote("a", 100_000, 9_999), quote("b", 100_000, 9_999)]
    assert index_price("BTC", quotes, 10_000, PARAMS).price == 100_000 * USDC


def test_too_few_agreeing_sources_give_no_index_and_say_why() -> None:
    quotes = [quote("a", 100_000, 10_000), quote("b", 100_000, 1_000)]
    with pytest.raises(InvalidInput) as caught:
        index_price("BTC", quotes, 10_000, PARAMS)
    assert caught.value.code is RiskReason.NO_INDEX_PRICE
    assert "1 stale" in caught.value.message


def test_a_quote_from_the_future_is_refused() -> None:
    with pytest.raises(InvalidInput):
        index_price("BTC", [quote("a", 1, 20_000)], 10_000, PARAMS)


def test_settlement_is_the_average_index_over_the_thirty_minutes_before_expiry() -> None:
    expiry = 1_800_000_000_000
    minute = 60_000
    # One sample a minute from 40 minutes before expiry: 100,000 + 10 x minutes-to-expiry USDC.
    samples = [
        IndexSample(expiry - m * minute, (100_000 + 10 * m) * USDC) for m in range(40, -1, -1)
    ]
    # The window holds m = 30 ... 0 (31 samples): mean of 10 m is 10 x 15 = 150.
    assert settlement_price(samples, expiry, IndexParams()) == 100_150 * USDC
    # Samples after expiry never count.
    late = [*samples, IndexSample(expiry + 1, 1)]
    assert settlement_price(late, expiry, IndexParams()) == 100_150 * USDC


def test_settlement_average_floors_to_a_whole_base_unit() -> None:
    samples = [IndexSample(0, 1), IndexSample(1, 2)]
    assert settlement_price(samples, 1, IndexParams()) == 1


def test_settlement_without_samples_in_the_window_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        settlement_price([IndexSample(0, 5)], 10 * 3_600_000, IndexParams())
    assert caught.value.code is RiskReason.NO_SETTLEMENT_PRICE
