"""The settlement window: a signed order stops trading a fixed time before its signature ends.

The chain checks a fill's signed orders at the time of the block that records it
(``optex.chain``'s ``check_order``), and that block comes after the fill: the batcher's linger,
the batch in flight and a consensus round lie between them. A fill made in the last second of
a signature would reach the chain after it and be refused, together with the batch carrying it,
leaving a trade the engine made and the chain never records. So the engine ends a signed
order's (or quote leg's) trading :data:`SETTLEMENT_WINDOW_MS` before its signature expires,
and the sequencer refuses one that has no more than that left: it could never trade and still
settle. The chain refuses a fill of an expired instrument for the same reason, so signed
trading on an instrument ends the same window before its expiry (the pipeline passes the
instrument's expiry; the sequencer, which does not know instruments, checks the signature
alone). A chain stalled for longer than the window still refuses the fills made before the
stall; the batcher then reports them (``fill_refused``), as for any refused fill.
"""

from __future__ import annotations

from typing import Final

from optex.core import InvalidInput
from optex.crypto import SignedOrder
from optex.exchange._reasons import ExchangeReason

SETTLEMENT_WINDOW_MS: Final = 10_000
"""How long before its signature (or instrument) expires a signed order stops trading: room for
the batcher's linger, a batch in flight and several consensus rounds, slow ones included."""


def trading_end_ms(order: SignedOrder, instrument_expiry_ms: int | None = None) -> int:
    """When the engine stops trading ``order``: the settlement window before its signature's
    expiry or its instrument's (``None``: a perpetual, or not known here), whichever is first."""
    end = order.intent.expiry_ms
    if instrument_expiry_ms is not None:
        end = min(end, instrument_expiry_ms)
    return end - SETTLEMENT_WINDOW_MS


def check_settles_in_time(order: SignedOrder, now_ms: int) -> None:
    """Refuse ``order`` at ``now_ms`` if its signature leaves it no time to trade (the
    sequencer's check; the pipeline checks the instrument's expiry, which it knows)."""
    if trading_end_ms(order) <= now_ms:
        raise InvalidInput(
            ExchangeReason.EXPIRES_BEFORE_SETTLEMENT,
            expiry_ms=order.intent.expiry_ms,
            settlement_window_ms=SETTLEMENT_WINDOW_MS,
        )
