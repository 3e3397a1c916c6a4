"""What the risk engine knows about prices at one moment: an index per underlying and a mark
per instrument, each mark with its implied volatility and greeks.

Standard margin, equity and settlement read only the integer prices; portfolio margin also reads
an option's volatility and forward, which is why a mark carries them.
"""

from __future__ import annotations

import msgspec

from optex.core import InvalidInput
from optex.risk._reasons import RiskReason


class Mark(msgspec.Struct, frozen=True):
    """An instrument's mark price (settlement base units per whole underlying) and its model.

    For options ``iv`` is the volatility the mark was priced at, ``forward`` the underlying
    forward it used and ``t`` the years to expiry; the greeks are per whole underlying, delta and
    gamma with respect to the forward. Futures have delta 1 and no volatility.
    """

    price: int
    iv: float | None = None
    forward: float | None = None
    t: float | None = None
    delta: float = 1.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0


class Prices(msgspec.Struct):
    """Index prices by underlying and marks by instrument name (the risk engine's inputs)."""

    index: dict[str, int] = {}
    marks: dict[str, Mark] = {}
    ts_ms: int = 0

    def index_of(self, underlying: str) -> int:
        """The index of ``underlying``, or a clear error."""
        try:
            return self.index[underlying]
        except KeyError:
            raise InvalidInput(
                RiskReason.NO_INDEX_PRICE, f"no index price for {underlying} yet"
            ) from None

    def mark_of(self, instrument: str) -> Mark:
        """The mark of ``instrument``, or a clear error."""
        try:
            return self.marks[instrument]
        except KeyError:
            raise InvalidInput(
                RiskReason.NO_MARK_PRICE, f"no mark price for {instrument} yet"
            ) from None
