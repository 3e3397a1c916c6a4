"""Mark prices: futures from the index plus a bounded basis, options from a fitted SVI smile.

A future's or perpetual's mark is the index plus the basis the book shows (its mid minus the
index), clamped to ``±max_basis_ppm`` of the index, so that a thin or manipulated book cannot
drag the mark, and with no book the last basis is kept.

Options are marked from one raw SVI smile per expiry (``optex.pricing.fit_svi``), fitted to the
implied volatilities of the book's mids and of recent trades (trades weigh more). A fit with too
few quotes, a large error or butterfly arbitrage is refused and the last good smile is kept; the
mark is then the Black-76 value at the smile's volatility, with that volatility and the greeks.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from optex.core import Instrument, InvalidInput, OptexError, OptionType
from optex.pricing import (
    SviParams,
    black76_greeks,
    black76_price,
    fit_svi,
    implied_vol,
    svi_butterfly_arbitrage,
)
from optex.risk._money import PPM
from optex.risk._params import MarkParams
from optex.risk._portfolio import MS_PER_YEAR
from optex.risk._prices import Mark
from optex.risk._reasons import RiskReason


def future_mark(index: int, mid: int | None, params: MarkParams, last_basis: int = 0) -> int:
    """``index + clamp(mid - index, ±max_basis)``; without a mid, ``index + last_basis``."""
    if index <= 0:
        raise InvalidInput(RiskReason.INVALID_PRICE, f"index {index} must be positive")
    bound = index * params.max_basis_ppm // PPM
    basis = last_basis if mid is None else mid - index
    return index + max(-bound, min(bound, basis))


class OptionQuote(msgspec.Struct, frozen=True):
    """A price observed for an option of one expiry: a book mid or a recent trade."""

    instrument: Instrument
    price: int
    trade: bool = False


def fit_smile(
    quotes: Sequence[OptionQuote],
    *,
    forward: float,
    now_ms: int,
    params: MarkParams,
    last_good: SviParams | None = None,
) -> SviParams:
    """The SVI smile of one expiry fitted to ``quotes``, or ``last_good`` if the fit is refused.

    Raises ``SURFACE_FIT_FAILED`` only when there is neither a good fit nor a last good smile.
    """
    problem = "no quotes"
    if quotes:
        expiry = quotes[0].instrument.expiry_ms or now_ms
        t = (expiry - now_ms) / MS_PER_YEAR
        fitted, problem = _try_fit(quotes, forward, t, params)
        if fitted is not None:
            return fitted
    if last_good is not None:
        return last_good
    raise InvalidInput(RiskReason.SURFACE_FIT_FAILED, f"cannot fit the smile: {problem}")


def _try_fit(
    quotes: Sequence[OptionQuote], forward: float, t: float, params: MarkParams
) -> tuple[SviParams | None, str]:
    if t <= 0:
        return None, "the expiry has passed"
    strike = np.array([q.instrument.strike or 0 for q in quotes], dtype=np.float64)
    price = np.array([q.price for q in quotes], dtype=np.float64)
    call = np.array([q.instrument.option_type is OptionType.CALL for q in quotes])
    weight = np.array([params.trade_weight if q.trade else 1.0 for q in quotes])
    vol = implied_vol(price=price, forward=forward, strike=strike, t=t, rate=params.rate, call=call)
    good = np.isfinite(vol) & (vol > 0)
    if int(good.sum()) < params.min_quotes:
        return None, f"{int(good.sum())} usable quotes, need {params.min_quotes}"
    k = np.log(strike[good] / forward)
    order = np.argsort(k, kind="stable")
    try:
        fit = fit_svi(k=k[order], vol=vol[good][order], t=t, weights=weight[good][order])
    except OptexError as exc:
        return None, exc.message
    if not fit.rmse <= params.max_fit_error:
        return None, f"fit error {fit.rmse:.4f} above {params.max_fit_error}"
    if len(svi_butterfly_arbitrage(fit.params)):
        return None, "the fitted smile has butterfly arbitrage"
    return fit.params, ""


def option_marks(
    instruments: Sequence[Instrument],
    smile: SviParams,
    *,
    forward: float,
    now_ms: int,
    rate: float = 0.0,
) -> dict[str, Mark]:
    """Marks of one expiry's options from its smile: Black-76 value, volatility and greeks.

    The value is rounded to the nearest base unit: a mark is a price, not a cash flow; each use
    of it (equity, margin) rounds its own cash against the user.
    """
    if not instruments:
        return {}
    expiry = instruments[0].expiry_ms or now_ms
    t = max(expiry - now_ms, 0) / MS_PER_YEAR
    strike = np.array([i.strike or 0 for i in instruments], dtype=np.float64)
    call = np.array([i.option_type is OptionType.CALL for i in instruments])
    if t > 0:
        vol = np.sqrt(np.maximum(smile.total_variance(np.log(strike / forward)), 0.0) / t)
    else:
        vol = np.zeros(strike.size)
    value = black76_price(forward=forward, strike=strike, t=t, rate=rate, vol=vol, call=call)
    greeks = black76_greeks(forward=forward, strike=strike, t=t, rate=rate, vol=vol, call=call)
    marks: dict[str, Mark] = {}
    for i, instrument in enumerate(instruments):
        marks[instrument.name] = Mark(
            price=round(float(value[i])),
            iv=float(vol[i]),
            forward=forward,
            t=t,
            delta=float(greeks.delta[i]),
            gamma=float(greeks.gamma[i]),
            vega=float(greeks.vega[i]),
            theta=float(greeks.theta[i]),
        )
    return marks
