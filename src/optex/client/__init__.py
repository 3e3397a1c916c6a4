"""optex.client: the Python client for an optex exchange, async and sync.

Users install this to trade: it speaks Deribit API v2 JSON-RPC over one WebSocket to the optex
gateway, so code written for Deribit's methods (``buy``, ``get_order_book``, ``subscribe``)
works unchanged, with typed results (msgspec Structs) and Deribit's error codes raised as
:class:`ApiError`. :class:`AsyncClient` keeps its session logged in (signature auth by default,
so the API secret never leaves the machine), refreshed, heartbeating, reconnected and
resubscribed; :class:`Client` is the same client for synchronous code. ``place_signed_order``
signs an order with the user's own trading key locally, so the exchange operator can match it
but could not have made it; a signed order whose answer was lost is sent again, safely, since
the exchange places the same signed bytes at most once (:func:`outcome_unknown` says when an
answer was lost). Depends on ``optex.core`` and ``optex.crypto`` only.
See docs/client.md.
"""

from optex.client._async import AsyncClient
from optex.client._auth import ClientCredentials, ClientSignature, Credentials, client_signature
from optex.client._errors import (
    ApiError,
    ClientError,
    ClientReason,
    outcome_unknown,
    rate_limited_for_s,
)
from optex.client._framing import (
    Heartbeat,
    Publication,
    Response,
    RpcError,
    decode_message,
    encode_request,
)
from optex.client._models import (
    AccountSummary,
    AuthToken,
    Greeks,
    Instrument,
    Order,
    OrderBook,
    OrderResult,
    Position,
    Stats,
    Status,
    Ticker,
    Trade,
    Trades,
    UserTrade,
    UserTrades,
)
from optex.client._session import ws_url
from optex.client._signed import NonceSource, prepare_signed_order, signed_order_params
from optex.client._subscriptions import BookUpdate, Notification, Subscription
from optex.client._sync import BlockingSubscription, Client

__all__ = [
    "AccountSummary",
    "ApiError",
    "AsyncClient",
    "AuthToken",
    "BlockingSubscription",
    "BookUpdate",
    "Client",
    "ClientCredentials",
    "ClientError",
    "ClientReason",
    "ClientSignature",
    "Credentials",
    "Greeks",
    "Heartbeat",
    "Instrument",
    "NonceSource",
    "Notification",
    "Order",
    "OrderBook",
    "OrderResult",
    "Position",
    "Publication",
    "Response",
    "RpcError",
    "Stats",
    "Status",
    "Subscription",
    "Ticker",
    "Trade",
    "Trades",
    "UserTrade",
    "UserTrades",
    "client_signature",
    "decode_message",
    "encode_request",
    "outcome_unknown",
    "prepare_signed_order",
    "rate_limited_for_s",
    "signed_order_params",
    "ws_url",
]
