"""The last-signed guard: CometBFT's privval last-sign state, kept by the state machine.

Whatever the state machine decides, a validator must never sign at a (height, round, step)
earlier than its last signature, nor a different value at the same one; the guard is the last
line that enforces it, independent of the consensus rules.
"""

from __future__ import annotations

from optex.chain.consensus._messages import Step


class SignGuard:
    """The last (height, round, step, hash) signed: refuses regressions and changed values."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[int, int, int, bytes | None] | None = None

    def allows(self, height: int, round: int, step: Step, block_hash: bytes | None) -> bool:
        if self.last is None:
            return True
        slot = (height, round, int(step))
        last_slot = self.last[:3]
        if slot == last_slot:
            return block_hash == self.last[3]
        return slot > last_slot

    def record(self, height: int, round: int, step: Step, block_hash: bytes | None) -> None:
        if self.allows(height, round, step, block_hash):
            self.last = (height, round, int(step), block_hash)
