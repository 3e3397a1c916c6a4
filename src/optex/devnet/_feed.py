"""The devnet's simulated index and marks: a seeded GBM per underlying, SVI smiles per expiry.

A real exchange takes its index from several spot venues and fits its option surface to its
own books (``optex.risk``); a devnet has neither spot venues nor history, so this feed plays
both parts. It steps in wall-clock time (the engine stamps commands with its own clock), keeps
the at-the-money volatility fixed and lets the smile's wings steepen with maturity, so that
marks, greeks and the market maker's quotes look like a real chain.

The same numbers reach both sides of the exchange: the engine as ``SetPrices`` (its margin,
marks and quotes) and the chain as every validator's ``PriceVote`` (``_oracle``: each
underlying's index and its perpetual's mark, from which the chain settles expiries and pays
funding), so the engine and the chain price from one feed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np

from optex.core import Instrument, InstrumentKind, asset
from optex.pricing import SviParams
from optex.risk import Mark, option_marks

MS_PER_YEAR: Final = 365.0 * 24 * 3600 * 1000
SKEW: Final = 0.4
"""SVI ``b`` per year of maturity: how fast the wings steepen."""
SKEW_RHO: Final = -0.3
SKEW_SIGMA: Final = 0.2


def smile(vol: float, t: float) -> SviParams:
    """A raw SVI smile of maturity ``t`` years whose at-the-money variance is ``vol**2`` exactly."""
    b = SKEW * t
    return SviParams(a=vol * vol * t - b * SKEW_SIGMA, b=b, rho=SKEW_RHO, m=0.0, sigma=SKEW_SIGMA)


class IndexFeed:
    """Seeded geometric Brownian motion of each underlying's index, in settlement base units."""

    def __init__(self, spots: Mapping[str, float], vol: float, seed: int) -> None:
        self.vol = vol
        self.rng = np.random.default_rng(seed)
        self.index = {u: float(s) for u, s in spots.items()}
        self._unit = asset("USDC").scale

    def step(self, dt_s: float) -> dict[str, int]:
        """Move every index by one GBM step of ``dt_s`` seconds; the new indices in base units."""
        dt = dt_s / (365.0 * 24 * 3600)
        for underlying, level in self.index.items():
            shock = float(self.rng.standard_normal())
            drift = -0.5 * self.vol * self.vol * dt
            self.index[underlying] = level * math.exp(drift + self.vol * math.sqrt(dt) * shock)
        return self.units()

    def units(self) -> dict[str, int]:
        """The current indices in settlement base units, on no grid (the engine's marks round)."""
        return {u: round(level * self._unit) for u, level in self.index.items()}

    def marks(self, instruments: Sequence[Instrument], now_ms: int) -> dict[str, Mark]:
        """Marks of ``instruments`` at ``now_ms``: futures at the index, options off the smile."""
        index = self.units()
        marks: dict[str, Mark] = {}
        by_expiry: dict[tuple[str, int], list[Instrument]] = {}
        for instrument in instruments:
            if instrument.kind is InstrumentKind.OPTION:
                key = (instrument.underlying, instrument.expiry_ms or now_ms)
                by_expiry.setdefault(key, []).append(instrument)
            else:
                marks[instrument.name] = Mark(price=index[instrument.underlying])
        for (underlying, expiry), group in by_expiry.items():
            if expiry <= now_ms:
                continue
            t = (expiry - now_ms) / MS_PER_YEAR
            forward = float(index[underlying])
            marks.update(option_marks(group, smile(self.vol, t), forward=forward, now_ms=now_ms))
        return marks
