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

from typing import Any

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
