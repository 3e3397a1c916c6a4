"""The two kinds of failure a client call can end in.

:class:`ApiError` is the server's answer: a JSON-RPC ``error`` object with Deribit's numeric
code (13004 bad credentials, 10004 order not found, 10028 rate limited, ...), passed on exactly
as it came so that code written against Deribit keeps working. :class:`ClientError` is
everything that happened on this side of the wire: no connection, a lost connection, no answer
in time, an answer that is not JSON-RPC. Its codes are ``ClientReason`` (7800-7899).

The distinction matters for money: after an :class:`ApiError` the request was refused and
changed nothing; after ``ClientError(CONNECTION_LOST)`` the order may or may not have reached
the exchange, and the caller must look (``get_order_state``, ``get_open_orders_by_*``) before
sending it again.
"""

from __future__ import annotations

from typing import Any, Final

from optex.core import OptexError, ReasonCode, register_reasons


class ClientReason(ReasonCode):
    """Reason codes of ``optex.client`` (7800-7899): failures on the client's side of the wire."""

    NOT_CONNECTED = 7800, "the client is not connected; call connect() first"
    CONNECTION_LOST = 7801, "the connection closed before the answer: the request may have run"
    REQUEST_TIMEOUT = 7802, "no answer came in time: the request may have run"
    CLIENT_CLOSED = 7803, "the client was closed"
    MALFORMED_MESSAGE = 7804, "the server sent a message that is not valid JSON-RPC"
    SUBSCRIPTION_OVERFLOW = 7805, "the subscription's reader fell behind; notifications were lost"
    NO_CREDENTIALS = 7806, "the client has no credentials to authenticate with"
    INVALID_ARGUMENT = 7807, "an argument is not valid"
    CHANNEL_REFUSED = 7808, "the server did not confirm the subscription to these channels"
    ORDER_OUTCOME_UNKNOWN = (
        7809,
        "an earlier send of this signed order reached the exchange, which no longer knows what "
        "became of it: look for it by its label",
    )


register_reasons(ClientReason, range(7800, 7900))


class ClientError(OptexError):
    """A failure on the client's side of the wire; ``code`` is a :class:`ClientReason`."""


class ApiError(Exception):
    """The server refused a request: Deribit's ``error`` object, ``code``, ``message``, ``data``.

    ``data`` is whatever the server attached (often ``{"reason": ..., "param": ...}``); it is
    kept as decoded JSON. Nothing was changed by a refused request.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"{message} [{code}]" + (f" {data!r}" if data is not None else ""))

    def __repr__(self) -> str:
        return f"ApiError(code={self.code}, message={self.message!r}, data={self.data!r})"


ENGINE_UNAVAILABLE: Final = 13028
"""Deribit's ``temporarily_unavailable``: the gateway's engine did not answer (it may have
journaled the order before it went away)."""
TOO_MANY_REQUESTS: Final = 10028
_UNKNOWN: Final = frozenset(
    {ClientReason.CONNECTION_LOST, ClientReason.REQUEST_TIMEOUT, ClientReason.NOT_CONNECTED}
)


def outcome_unknown(error: BaseException) -> bool:
    """Whether a send that failed with ``error`` may or may not have placed the order.

    ``NOT_CONNECTED`` sent nothing, but is listed because waiting for the reconnect and sending
    then is the right response to it as well.
    """
    if isinstance(error, ClientError):
        return error.code in _UNKNOWN
    return isinstance(error, ApiError) and error.code == ENGINE_UNAVAILABLE


def rate_limited_for_s(error: BaseException) -> float | None:
    """How long the server asked to wait if ``error`` is its ``too_many_requests`` (10028)."""
    if not isinstance(error, ApiError) or error.code != TOO_MANY_REQUESTS:
        return None
    wait_ms = error.data.get("retry_after_ms") if isinstance(error.data, dict) else None
    return wait_ms / 1000 if isinstance(wait_ms, int) and 0 <= wait_ms < 60_000 else 1.0


def replayed(error: BaseException) -> bool:
    """Whether ``error`` is the exchange refusing a signed order it has seen before."""
    return (
        isinstance(error, ApiError)
        and isinstance(error.data, dict)
        and error.data.get("reason") == "order_replayed"
    )
