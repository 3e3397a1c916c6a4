"""optex.gateway: the ASGI gateway, compatible with Deribit's API v2.

JSON-RPC 2.0 over HTTP (``/api/v2/public/...``, ``/api/v2/private/...``) and WebSocket
(``/ws/api/v2``), in Deribit's envelope and with Deribit's error codes, for the methods trading
clients use (ccxt's ``deribit`` class works against it unchanged): authentication
(``public/auth`` with client credentials, client signature or refresh token, and the
``deri-hmac-sha256`` ``Authorization`` header), instruments, currencies, order books, tickers
with mark, IV and greeks, trades, orders (buy, sell, edit, cancel, cancel all), open orders,
order state, user trades, account summaries and positions, subscriptions with heartbeats, and
cancel-on-disconnect. Native methods add what Deribit lacks (user-signed orders, engine status).

The gateway holds no trading state: it reads the engine's live state with queries and follows
its stream of journal entries (:class:`~optex.exchange.EngineClient`). Orders from API keys are
signed with the gateway's trading key, which each account's owner delegated
(:func:`provision_account`), so every order the engine matches is signed. One method table
(:data:`METHODS`) drives dispatch, parameter checks and the OpenAPI description. See
docs/gateway.md.
"""

from optex.gateway._app import create_app
from optex.gateway._errors import deribit_code, error_body
from optex.gateway._gateway import Call, Connection, Gateway, HttpAuth
from optex.gateway._handlers import METHODS
from optex.gateway._home import (
    PASSWORD_ENV,
    Credentials,
    GatewayConfig,
    Limits,
    WithdrawalPolicy,
    gateway_public_key,
    init_home,
    load_config,
    master_key,
    provision_account,
    resolve_password,
    unlock,
)
from optex.gateway._methods import Method, Param, parse_params
from optex.gateway._openapi import openapi
from optex.gateway._reasons import GatewayReason
from optex.gateway._server import ServeOptions, build, engine_address, run, serve

__all__ = [
    "Call",
    "Connection",
    "Credentials",
    "Gateway",
    "GatewayConfig",
    "GatewayReason",
    "HttpAuth",
    "Limits",
    "METHODS",
    "Method",
    "PASSWORD_ENV",
    "Param",
    "ServeOptions",
    "WithdrawalPolicy",
    "build",
    "create_app",
    "deribit_code",
    "engine_address",
    "error_body",
    "gateway_public_key",
    "init_home",
    "load_config",
    "master_key",
    "openapi",
    "parse_params",
    "provision_account",
    "resolve_password",
    "run",
    "serve",
    "unlock",
]
