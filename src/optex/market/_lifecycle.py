"""An order's lifecycle as one (state, trigger) -> state table, checked in one place.

Every change of an order's state goes through :func:`advance`; a pair missing from the table is
a bug in the engine, not bad input, so it raises :class:`optex.core.InvariantViolation`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from optex.core import InvariantViolation


class OrderState(StrEnum):
    """Where an order is in its life; the last three are final."""

    UNTRIGGERED = "untriggered"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Trigger(StrEnum):
    """What happened to an order."""

    TRIGGER = "trigger"
    PARTIAL_FILL = "partial_fill"
    FULL_FILL = "full_fill"
    AMEND = "amend"
    CANCEL = "cancel"
    EXPIRE = "expire"


_S = OrderState
_T = Trigger

TRANSITIONS: Final[dict[tuple[OrderState, Trigger], OrderState]] = {
    (_S.UNTRIGGERED, _T.TRIGGER): _S.OPEN,
    (_S.UNTRIGGERED, _T.AMEND): _S.UNTRIGGERED,
    (_S.UNTRIGGERED, _T.CANCEL): _S.CANCELLED,
    (_S.UNTRIGGERED, _T.EXPIRE): _S.EXPIRED,
    (_S.OPEN, _T.PARTIAL_FILL): _S.PARTIALLY_FILLED,
    (_S.OPEN, _T.FULL_FILL): _S.FILLED,
    (_S.OPEN, _T.AMEND): _S.OPEN,
    (_S.OPEN, _T.CANCEL): _S.CANCELLED,
    (_S.OPEN, _T.EXPIRE): _S.EXPIRED,
    (_S.PARTIALLY_FILLED, _T.PARTIAL_FILL): _S.PARTIALLY_FILLED,
    (_S.PARTIALLY_FILLED, _T.FULL_FILL): _S.FILLED,
    (_S.PARTIALLY_FILLED, _T.AMEND): _S.PARTIALLY_FILLED,
    (_S.PARTIALLY_FILLED, _T.CANCEL): _S.CANCELLED,
    (_S.PARTIALLY_FILLED, _T.EXPIRE): _S.EXPIRED,
}

FINAL_STATES: Final = frozenset({_S.FILLED, _S.CANCELLED, _S.EXPIRED})


# The same table by state, then trigger: two lookups of interned strings instead of building
# and hashing a tuple on every fill and amendment.
_NEXT: Final[dict[OrderState, dict[Trigger, OrderState]]] = {}
for (_state, _trigger), _after in TRANSITIONS.items():
    _NEXT.setdefault(_state, {})[_trigger] = _after


def advance(state: OrderState, trigger: Trigger) -> OrderState:
    """The state after ``trigger``, or :class:`InvariantViolation` if the table forbids it."""
    try:
        return _NEXT[state][trigger]
    except KeyError:
        raise InvariantViolation(f"an order in state {state} cannot {trigger}") from None
