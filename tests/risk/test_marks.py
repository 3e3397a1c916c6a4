"""Marks: futures within a bounded basis of the index; options from a fitted SVI smile."""

from __future__ import annotations

import numpy as np
import pytest

from optex.core import InvalidInput
from optex.pricing import SviParams, black76_price
from optex.risk import MarkParams, OptionQuote, RiskReason, fit_smile, future_mark, option_marks
from tests.risk.kit import NOW_MS, USDC, instrument

TRUE = SviParams(a=0.02, b=0.08, rho=-0.3, m=0.02, sigma=0.2)
FORWARD = 95_000.0 * USDC
STRIKES = range(70_000, 125_000, 5_000)


def chain() -> list[str]:
    return [f"BTC-27DEC26-{k}-{'C' if k >= 95_000 else 'P'}" for k in STRIKES]


def quotes_from(smile: SviParams) -> list[OptionQuote]:
    names = chain()
    insts = [instrument(n) for n in names]
    t = ((insts[0].expiry_ms or 0) - NOW_MS) / (365 * 86_400_000)
    strikes = np.array([i.strike for i in insts], dtype=float)
    vol = np.sqrt(smile.total_variance(np.log(strikes / FORWARD)) / t)
    calls = np.array([n.endswith("C") for n in names])
    value = black76_price(forward=FORWARD, strike=strikes, t=t, rate=0.0, vol=vol, call=calls)
    return [OptionQuote(i, round(float(v))) for i, v in zip(insts, value, strict=True)]


def test_a_future_mark_follows_the_book_within_the_basis_bound() -> None:
    params = MarkParams(max_basis_ppm=50_000)
    assert future_mark(100_000, 101_000, params) == 101_000
    # The book at +10% is clamped to +5%; with no book the last basis stays.
    assert future_mark(100_000, 110_000, params) == 105_000
    assert future_mark(100_000, None, params, last_basis=-300) == 99_700


def test_the_fitted_smile_reprices_the_quotes_it_was_fitted_to() -> None:
    quotes = quotes_from(TRUE)
    smile = fit_smile(quotes, forward=FORWARD, now_ms=NOW_MS, params=MarkParams())
    marks = option_marks([q.instrument for q in quotes], smile, forward=FORWARD, now_ms=NOW_MS)
    for q in quotes:
        mark = marks[q.instrument.name]
        # Within 0.1% of the quote (quotes were rounded to the base unit).
        assert abs(mark.price - q.price) <= max(q.price // 1_000, 2)
        assert mark.iv is not None and 0.1 < mark.iv < 1.5
    atm_call = marks["BTC-27DEC26-95000-C"]
    assert 0.45 < atm_call.delta < 0.65 and atm_call.gamma > 0 and atm_call.vega > 0


def test_a_refused_fit_falls_back_to_the_last_good_smile() -> None:
    few = quotes_from(TRUE)[:3]
    kept = fit_smile(few, forward=FORWARD, now_ms=NOW_MS, params=MarkParams(), last_good=TRUE)
    assert kept is TRUE
    with pytest.raises(InvalidInput) as caught:
        fit_smile(few, forward=FORWARD, now_ms=NOW_MS, params=MarkParams())
    assert caught.value.code is RiskReason.SURFACE_FIT_FAILED
