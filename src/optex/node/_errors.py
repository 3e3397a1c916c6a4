"""Node reason codes (8600-8699): why a peer, a transaction or an RPC call was refused."""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class NodeReason(ReasonCode):
    """Reason codes of ``optex.node`` (8600-8699)."""

    HANDSHAKE_FAILED = 8600, "the peer failed the secret-connection handshake"
    WRONG_PEER = 8601, "the peer proved a different node key than the one expected"
    BAD_FRAME = 8602, "a frame failed authentication or is malformed"
    FRAME_TOO_LARGE = 8603, "the frame is larger than the connection allows"
    NONCE_EXHAUSTED = 8604, "the connection sent the most frames a key may protect"
    DUPLICATE_TX = 8610, "the transaction is already in the mempool or was committed"
    MEMPOOL_FULL = 8611, "the mempool is full"
    TX_TOO_LARGE = 8612, "the transaction is larger than the mempool accepts"
    INVALID_CONFIG = 8620, "the node configuration is not valid"
    BAD_REQUEST = 8630, "the RPC request is not valid"


register_reasons(NodeReason, range(8600, 8700))
