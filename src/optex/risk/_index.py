"""Index prices from several sources, and the settlement price averaged before expiry.

An index is the median of the sources' latest quotes after two filters: quotes older than
``max_age_ms`` are stale, and a quote further than ``outlier_ppm`` from the median of the fresh
quotes is an outlier (a venue that broke or was manipulated). The median of what is left is the
index; with fewer than ``min_sources`` left there is no index, and the caller keeps the last one
rather than publish a price a single venue could move. Everything is integer arithmetic, so the
chain computes the same index from the same quotes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from optex.core import InvalidInput
from optex.risk._money import PPM
from optex.risk._params import IndexParams
from optex.risk._reasons import RiskReason


class SourceQuote(msgspec.Struct, frozen=True):
    """One venue's latest price for the underlying (settlement base units per whole unit)."""

    source: str
    price: int
    ts_ms: int


class IndexPrice(msgspec.Struct, frozen=True):
    """An index value, the time it was formed and the sources that made it."""

    underlying: str
    price: int
    ts_ms: int
    sources: tuple[str, ...]


class IndexSample(msgspec.Struct, frozen=True):
    """A recorded index value, as kept for the settlement average."""

    ts_ms: int
    price: int


def _median(values: Sequence[int]) -> int:
    """The integer median; an even count takes the floor of the middle pair's mean."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


def _check_price(price: int, what: str) -> None:
    if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        raise InvalidInput(RiskReason.INVALID_PRICE, f"{what} {price!r} must be a positive int")


def index_price(
    underlying: str, quotes: Iterable[SourceQuote], now_ms: int, params: IndexParams
) -> IndexPrice:
    """The index at ``now_ms``: median of fresh quotes, outliers dropped.

    Raises :class:`InvalidInput` (``NO_INDEX_PRICE``) when too few sources remain, saying how
    many were stale and how many disagreed.
    """
    latest: dict[str, SourceQuote] = {}
    for quote in quotes:
        _check_price(quote.price, f"{quote.source} price")
        if quote.ts_ms > now_ms:
            raise InvalidInput(
                RiskReason.INVALID_PRICE, f"{quote.source} quote is from the future ({quote.ts_ms})"
            )
        held = latest.get(quote.source)
        if held is None or quote.ts_ms >= held.ts_ms:
            latest[quote.source] = quote
    fresh = [q for q in latest.values() if now_ms - q.ts_ms <= params.max_age_ms]
    kept: list[SourceQuote] = []
    if fresh:
        centre = _median([q.price for q in fresh])
        kept = [q for q in fresh if abs(q.price - centre) * PPM <= params.outlier_ppm * centre]
    if len(kept) < params.min_sources:
        raise InvalidInput(
            RiskReason.NO_INDEX_PRICE,
            f"{underlying} index: {len(kept)} agreeing fresh sources, need "
            f"{params.min_sources} ({len(latest) - len(fresh)} stale, "
            f"{len(fresh) - len(kept)} outliers)",
            underlying=underlying,
            fresh=len(fresh),
            kept=len(kept),
        )
    return IndexPrice(
        underlying=underlying,
        price=_median([q.price for q in kept]),
        ts_ms=now_ms,
        sources=tuple(sorted(q.source for q in kept)),
    )


def settlement_price(samples: Iterable[IndexSample], expiry_ms: int, params: IndexParams) -> int:
    """The expiry settlement price: the mean index over the window before ``expiry_ms``.

    Samples in ``[expiry_ms - settlement_window_ms, expiry_ms]`` count, each once (a sample per
    second gives Deribit's 30-minute average). The mean is floored to a whole base unit: the
    rounding is deterministic and below one millionth of a dollar.
    """
    start = expiry_ms - params.settlement_window_ms
    prices: list[int] = []
    for sample in samples:
        _check_price(sample.price, "index sample")
        if start <= sample.ts_ms <= expiry_ms:
            prices.append(sample.price)
    if len(prices) < params.min_settlement_samples:
        raise InvalidInput(
            RiskReason.NO_SETTLEMENT_PRICE,
            f"{len(prices)} index samples in the {params.settlement_window_ms} ms before expiry, "
            f"need {params.min_settlement_samples}",
            samples=len(prices),
        )
    return sum(prices) // len(prices)
