"""Reason codes of ``optex.settlement`` (7600-7799): fills that cannot be settled, and why."""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class SettlementReason(ReasonCode):
    """Reason codes of ``optex.settlement`` (7600-7799)."""

    UNSIGNED_FILL = 7600, "an order of the fill has no owner signature for the chain to verify"
    UNPROVABLE_FILL = 7601, "the fill is not within what the signed orders allow"
    FILL_REFUSED = 7602, "the ledger refused the fill"
    NONCE_CONFLICT = 7603, "the operator key signed a transaction this batcher did not submit"
    OPERATOR_REFUSED = 7604, "the node refused the operator's transaction for good"
    BAD_CHECKPOINT = 7605, "the settlement checkpoint is unreadable or does not fit the journal"
    WITHDRAWAL_REFUSED = 7606, "the engine refused the withdrawal"
    WITHDRAWAL_INVALID = 7607, "the withdrawal is not a signed chain withdrawal this desk can take"
    UNSUPPORTED_ASSET = 7608, "the engine holds only its settlement asset"
    REPLAY_DIVERGED = 7609, "the batcher's replay of the journal does not have the engine's state"
    OLD_NODE = 7610, "the node's block answer lacks the block's events: upgrade the node"


register_reasons(SettlementReason, range(7600, 7800))
