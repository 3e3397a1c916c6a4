"""Consensus reason codes.

Consensus owns 8500-8599 of the table (the 6000s go to pricing): a peer's malformed or forged
message, a commit or evidence that does not verify, and a write-ahead log that cannot be read.
"""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class ConsensusReason(ReasonCode):
    """Reason codes of ``optex.chain.consensus`` (8500-8599)."""

    INVALID_MESSAGE = 8500, "the consensus message is malformed"
    UNKNOWN_VALIDATOR = 8501, "the signer is not in the validator set"
    BAD_SIGNATURE = 8502, "the signature does not verify"
    WRONG_PROPOSER = 8503, "the proposal is not from the proposer of its round"
    INVALID_COMMIT = 8510, "the commit does not prove more than two thirds of the power"
    INVALID_EVIDENCE = 8511, "the evidence does not prove a double sign"
    INVALID_VALIDATOR_SET = 8520, "the validator set is not valid"
    INVALID_CONFIG = 8521, "the consensus configuration is not valid"
    WAL_CORRUPT = 8530, "the write-ahead log cannot be read"


register_reasons(ConsensusReason, range(8500, 8600))
