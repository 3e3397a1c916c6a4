"""Reason codes of ``optex.gateway`` (7400-7599): what the gateway itself refuses."""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class GatewayReason(ReasonCode):
    """Reason codes of ``optex.gateway`` (7400-7599)."""

    METHOD_NOT_FOUND = 7400, "there is no such method"
    INVALID_PARAMS = 7401, "a parameter is missing, of the wrong type or out of range"
    PARSE_ERROR = 7402, "the request is not valid JSON"
    INVALID_REQUEST = 7403, "the request is not a JSON-RPC 2.0 request object"
    REQUEST_TOO_LARGE = 7404, "the request is larger than the gateway accepts"
    TOO_MANY_CONNECTIONS = 7405, "this address has too many open connections"
    TOO_MANY_SUBSCRIPTIONS = 7406, "this connection has too many subscriptions"
    AUTHORIZATION_REQUIRED = 7407, "this method needs an authenticated session"
    WEBSOCKET_REQUIRED = 7408, "this method is only available over WebSocket"
    INVALID_CHANNEL = 7409, "the channel name is not one the gateway publishes"
    ENGINE_UNAVAILABLE = 7410, "the engine service cannot be reached"
    ORDER_REJECTED = 7411, "the engine rejected the order"
    PROOFS_UNAVAILABLE = 7412, "no chain node is configured to answer proofs"
    INVALID_HOME = 7413, "the gateway home is missing a file or has an invalid one"
    OWNER_MISMATCH = 7414, "the account already has another owner key"
    HEARTBEAT_MISSED = 7415, "the client did not answer the heartbeat in time"
    INTERNAL_ERROR = 7416, "the gateway failed to answer; the request may or may not have run"
    WITHDRAWAL_INVALID = 7417, "the signed chain withdrawal does not match the request"
    WITHDRAWAL_REFUSED = 7418, "the engine did not debit the withdrawal"
    PROOF_NOT_FOUND = 7419, "the chain has no record to prove for that account"


register_reasons(GatewayReason, range(7400, 7600))
