"""What the node configures around consensus: the application hooks and the timeouts."""

from __future__ import annotations

from typing import Protocol

import msgspec

from optex.chain.consensus._errors import ConsensusReason
from optex.chain.consensus._messages import TimeoutKind, Value
from optex.core import InvalidInput


class Application(Protocol):
    """What consensus needs from the application: a value to propose and a validity check."""

    def propose_value(self, height: int) -> Value:
        """A new value to propose at ``height``."""
        ...

    def validate_value(self, height: int, value: Value) -> bool:
        """Whether ``value`` is valid at ``height``; must be deterministic."""
        ...


class TimeoutConfig(msgspec.Struct, frozen=True):
    """Timeouts in milliseconds: ``timeoutX(r) = x_ms + r * x_delta_ms`` (linear growth per round).

    Growth makes the timeouts eventually exceed the unknown message delay after GST, which is
    what Tendermint's liveness rests on; ``docs/decisions/0001-consensus-timeouts.md`` explains
    the defaults.
    """

    propose_ms: int = 3000
    propose_delta_ms: int = 500
    prevote_ms: int = 1000
    prevote_delta_ms: int = 500
    precommit_ms: int = 1000
    precommit_delta_ms: int = 500
    commit_ms: int = 1000

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(
                    ConsensusReason.INVALID_CONFIG, f"{name} must be a non-negative integer"
                )

    def duration_ms(self, kind: TimeoutKind, round: int) -> int:
        """How long the timeout of ``kind`` in ``round`` lasts."""
        if kind is TimeoutKind.PROPOSE:
            return self.propose_ms + round * self.propose_delta_ms
        if kind is TimeoutKind.PREVOTE:
            return self.prevote_ms + round * self.prevote_delta_ms
        if kind is TimeoutKind.PRECOMMIT:
            return self.precommit_ms + round * self.precommit_delta_ms
        return self.commit_ms
