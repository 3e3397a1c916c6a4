"""Reason codes of ``optex.exchange`` (7200-7399): what the sequencer and the service refuse."""

from __future__ import annotations

from optex.core import InvariantViolation, ReasonCode, register_reasons


class ExchangeReason(ReasonCode):
    """Reason codes of ``optex.exchange`` (7200-7399)."""

    MALFORMED_COMMAND = 7200, "the command is not a well-formed exchange command"
    COMMAND_TOO_LARGE = 7201, "the command is larger than the sequencer accepts"
    INVALID_KEY = 7202, "the idempotency key is empty, too long or not printable ASCII"
    INVALID_ACCOUNT = 7203, "an account id is 1-64 ASCII letters, digits and '_.:-'"
    SIGNED_ORDERS_DISABLED = 7204, "this sequencer has no key authority to verify signed orders"
    SEQUENCER_STOPPED = 7205, "the sequencer has stopped and accepts nothing more"
    STANDBY = 7206, "this engine is a standby replica: submit to the primary"
    UNKNOWN_REQUEST = 7207, "the request is not one the engine service answers"
    COMMAND_FAILED = 7208, "the engine refused the journaled command"
    EXPIRES_BEFORE_SETTLEMENT = (
        7209,
        "the signed order or its instrument expires within the settlement window: a fill could "
        "not settle on chain",
    )
    REPLACED_ORDER_UNKNOWN = 7220, "the order a signed replacement names is not open"
    INVALID_REPLACEMENT = 7221, "the signed replacement does not fit the order it replaces"
    INVALID_QUOTE = 7222, "a signed mass quote leg is not a post-only limit order of the quoter"


register_reasons(ExchangeReason, range(7200, 7400))


class SnapshotCorrupt(InvariantViolation):
    """A snapshot failed its checksum or does not fit its journal: recovery cannot trust it."""
