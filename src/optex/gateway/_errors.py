"""Deribit's error codes at the edge: every optex reason becomes the code a Deribit client
(ccxt) understands, and nothing inside optex sees a Deribit number.

The codes and their names are Deribit API v2's (the table ccxt 4.5.90 maps to its exception
classes): 10004 ``order_not_found`` → ``OrderNotFound``, 10009 ``not_enough_funds`` →
``InsufficientFunds``, 10028 ``too_many_requests`` → ``DDoSProtection``, 13009 and 13004 →
``AuthenticationError``, -32602 → ``BadRequest``, and so on. A reason without an entry gives
11030 ``other_reject`` (an order) or 11031 ``other_error``, with the optex reason in ``data``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

from optex.core import CoreReason, OptexError
from optex.crypto import DERIBIT_ERROR_CODES, DERIBIT_ERROR_MESSAGES, SecurityReason
from optex.exchange import ExchangeReason
from optex.gateway._reasons import GatewayReason
from optex.market import MarketReason
from optex.risk import RiskReason

#: Deribit's ``error.message`` for each code the gateway sends.
MESSAGES: Final = MappingProxyType(
    {
        **DERIBIT_ERROR_MESSAGES,
        10004: "order_not_found",
        10009: "not_enough_funds",
        10010: "already_closed",
        10012: "book_closed",
        10020: "invalid_or_unsupported_instrument",
        10021: "invalid_amount",
        10023: "invalid_price",
        10028: "too_many_requests",
        10030: "must_be_websocket_request",
        10043: "price_wrong_tick",
        10044: "stop_price_wrong_tick",
        10005: "price_too_low",
        10007: "price_too_high",
        10002: "qty_too_low",
        11030: "other_reject",
        11031: "other_error",
        11036: "invalid_stoppx_for_index_or_last",
        11043: "bad_argument",
        11047: "unsupported_arg_combination",
        11050: "bad_request",
        11054: "post_only_reject",
        11094: "internal_server_error",
        13009: "unauthorized",
        13028: "temporarily_unavailable",
        13030: "mmp_trigger",
        13032: "non_unique_order_label",
        13503: "unavailable",
        -32600: "Invalid Request",
        -32601: "Method not found",
        -32602: "Invalid params",
        -32700: "Parse error",
    }
)

_CODES: Final[dict[int, int]] = {
    GatewayReason.METHOD_NOT_FOUND: -32601,
    GatewayReason.INVALID_PARAMS: -32602,
    GatewayReason.PARSE_ERROR: -32700,
    GatewayReason.INVALID_REQUEST: -32600,
    GatewayReason.REQUEST_TOO_LARGE: 11050,
    GatewayReason.TOO_MANY_CONNECTIONS: 10028,
    GatewayReason.TOO_MANY_SUBSCRIPTIONS: 11050,
    GatewayReason.AUTHORIZATION_REQUIRED: 13009,
    GatewayReason.WEBSOCKET_REQUIRED: 10030,
    GatewayReason.INVALID_CHANNEL: -32602,
    GatewayReason.ENGINE_UNAVAILABLE: 13028,
    GatewayReason.ORDER_REJECTED: 11030,
    GatewayReason.PROOFS_UNAVAILABLE: 13503,
    GatewayReason.INVALID_HOME: 11031,
    GatewayReason.OWNER_MISMATCH: 13021,
    GatewayReason.HEARTBEAT_MISSED: 11050,
    GatewayReason.INTERNAL_ERROR: 11094,
    GatewayReason.WITHDRAWAL_INVALID: -32602,
    GatewayReason.WITHDRAWAL_REFUSED: 11031,
    GatewayReason.PROOF_NOT_FOUND: -32602,
    MarketReason.UNKNOWN_INSTRUMENT: 10020,
    MarketReason.INSTRUMENT_EXPIRED: 10012,
    MarketReason.NOT_AN_INTEGER: -32602,
    MarketReason.NOT_POSITIVE: -32602,
    MarketReason.PRICE_OFF_TICK: 10043,
    MarketReason.QUANTITY_OFF_LOT: 10021,
    MarketReason.BELOW_MIN_SIZE: 10002,
    MarketReason.ABOVE_MAX_SIZE: 10021,
    MarketReason.PRICE_OUTSIDE_BAND: 10007,
    MarketReason.PRICE_REQUIRED: 10023,
    MarketReason.TRIGGER_PRICE_REQUIRED: -32602,
    MarketReason.TRIGGER_ALREADY_REACHED: 11036,
    MarketReason.EXPIRY_TIME_REQUIRED: -32602,
    MarketReason.EXPIRY_TIME_PASSED: -32602,
    MarketReason.INVALID_DISPLAY_QUANTITY: 10021,
    MarketReason.INVALID_COMBINATION: 11047,
    MarketReason.INVALID_FIELD: -32602,
    MarketReason.DUPLICATE_CLIENT_ORDER_ID: 13032,
    MarketReason.UNKNOWN_ORDER: 10004,
    MarketReason.NOTHING_TO_AMEND: 11043,
    MarketReason.AMEND_BELOW_FILLED: 10021,
    MarketReason.POST_ONLY_WOULD_CROSS: 11054,
    MarketReason.REDUCE_ONLY_WOULD_INCREASE: 11030,
    MarketReason.MMP_FROZEN: 13030,
    RiskReason.INSUFFICIENT_MARGIN: 10009,
    RiskReason.INSUFFICIENT_BALANCE: 10009,
    RiskReason.UNKNOWN_ACCOUNT: 10009,
    RiskReason.UNKNOWN_INSTRUMENT: 10020,
    RiskReason.NO_MARK_PRICE: 10012,
    RiskReason.NO_INDEX_PRICE: 10012,
    CoreReason.INVALID_ARGUMENT: -32602,
    CoreReason.INVALID_AMOUNT: -32602,
    CoreReason.TOO_MANY_DECIMALS: -32602,
    CoreReason.INVALID_INSTRUMENT_NAME: 10020,
    CoreReason.UNKNOWN_INSTRUMENT: 10020,
    ExchangeReason.SEQUENCER_STOPPED: 13028,
    ExchangeReason.STANDBY: 13028,
    ExchangeReason.INVALID_ACCOUNT: -32602,
    ExchangeReason.MALFORMED_COMMAND: -32602,
    ExchangeReason.COMMAND_TOO_LARGE: 11050,
    ExchangeReason.EXPIRES_BEFORE_SETTLEMENT: -32602,
}


def deribit_code(exc: OptexError) -> tuple[int, str]:
    """The Deribit ``(error.code, error.message)`` for an optex error."""
    code = int(exc.code)
    if isinstance(exc.code, SecurityReason) and exc.code in DERIBIT_ERROR_CODES:
        number = DERIBIT_ERROR_CODES[exc.code]
    else:
        number = _CODES.get(code, 11031)
    return number, MESSAGES.get(number, "other_error")


def error_body(exc: OptexError) -> dict[str, Any]:
    """The ``error`` member of a Deribit response for ``exc``: code, message and ``data``
    with the optex reason, its number and the human message (and any details)."""
    number, message = deribit_code(exc)
    data: dict[str, Any] = {"reason": exc.reason, "optex_code": int(exc.code)}
    data["message"] = exc.message
    for key, value in exc.details.items():
        if isinstance(value, str | int | float | bool) or value is None:
            data.setdefault(key, value)
    return {"code": number, "message": message, "data": data}
