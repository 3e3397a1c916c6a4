"""The ASGI application: JSON-RPC 2.0 over HTTP and WebSocket, in Deribit's envelope.

Routes::

    GET|POST /api/v2/public/<method>, /api/v2/private/<method>   HTTP (ccxt sends GET)
    POST     /api/v2                                              JSON-RPC body names the method
    GET      /api/v2/openapi.json                                 the HTTP side, described
    WS       /ws/api/v2                                           JSON-RPC, subscriptions

Every answer is ``{"jsonrpc": "2.0", "id", "result" | "error": {code, message, data}, "usIn",
"usOut", "usDiff", "testnet"}``. Limits, each a Deribit-shaped error rather than a dropped
connection where the protocol allows: the request size (HTTP body and query string, WebSocket
message), WebSocket connections per IP address, requests in flight per connection, messages
queued to a client that does not read (it is disconnected), and the rate limiter's credits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, Final

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from optex.core import InvalidInput, OptexError
from optex.gateway._errors import error_body
from optex.gateway._gateway import Connection, Gateway, HttpAuth
from optex.gateway._openapi import openapi
from optex.gateway._reasons import GatewayReason
from optex.market import MassCancel

log = logging.getLogger("optex.gateway")
MAX_IN_FLIGHT: Final = 512
MAX_ID_LENGTH: Final = 64
_ENCODER: Final = msgspec.json.Encoder()


def _micros() -> int:
    return time.time_ns() // 1000


class _Envelope:
    """Builds Deribit's response envelope."""

    def __init__(self, testnet: bool) -> None:
        self.testnet = testnet

    def ok(self, request_id: Any, result: Any, us_in: int) -> dict[str, Any]:
        us_out = _micros()
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": result,
            "usIn": us_in,
            "usOut": us_out,
            "usDiff": us_out - us_in,
            "testnet": self.testnet,
        }

    def error(self, request_id: Any, exc: OptexError, us_in: int) -> dict[str, Any]:
        us_out = _micros()
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": error_body(exc),
            "usIn": us_in,
            "usOut": us_out,
            "usDiff": us_out - us_in,
            "testnet": self.testnet,
        }


def _decode_json(data: bytes | str) -> Any:
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, ValueError, RecursionError):
        raise InvalidInput(GatewayReason.PARSE_ERROR) from None


def _request_id(message: dict[str, Any]) -> Any:
    request_id = message.get("id")
    if request_id is None or (isinstance(request_id, int) and not isinstance(request_id, bool)):
        return request_id
    if isinstance(request_id, str) and len(request_id) <= MAX_ID_LENGTH:
        return request_id
    return None


def _check_request(message: Any) -> tuple[Any, str, Any]:
    """``(id, method, params)`` of a JSON-RPC request object, or a clear refusal."""
    if isinstance(message, list):
        raise InvalidInput(GatewayReason.INVALID_REQUEST, "batch requests are not supported")
    if not isinstance(message, dict):
        raise InvalidInput(GatewayReason.INVALID_REQUEST, "a request is a JSON object")
    raw_id = message.get("id")
    request_id = _request_id(message)
    if raw_id is not None and request_id is None:
        raise InvalidInput(GatewayReason.INVALID_REQUEST, "id is an integer or a short string")
    if message.get("jsonrpc", "2.0") != "2.0":
        raise InvalidInput(GatewayReason.INVALID_REQUEST, 'jsonrpc must be "2.0"')
    method = message.get("method")
    if not isinstance(method, str):
        raise InvalidInput(GatewayReason.INVALID_REQUEST, "method is required")
    params = message.get("params", {})
    if isinstance(params, list):
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "positional params are not supported")
    return request_id, method, params


def create_app(gateway: Gateway) -> Starlette:
    """The gateway's ASGI application (its lifespan connects to the engine)."""
    envelope = _Envelope(gateway.config.testnet)
    limits = gateway.config.limits

    def respond(payload: dict[str, Any], exc: OptexError | None = None) -> Response:
        status = 200 if exc is None else exc.http_status
        return Response(_ENCODER.encode(payload), status, media_type="application/json")

    async def http_call(request: Request) -> Response:
        us_in = _micros()
        request_id: Any = None
        try:
            query = request.scope.get("query_string", b"")
            length = int(request.headers.get("content-length") or 0)
            if len(query) > limits.max_request_bytes or length > limits.max_request_bytes:
                raise InvalidInput(
                    GatewayReason.REQUEST_TOO_LARGE,
                    f"a request is at most {limits.max_request_bytes} bytes",
                )
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > limits.max_request_bytes:
                    raise InvalidInput(
                        GatewayReason.REQUEST_TOO_LARGE,
                        f"a request is at most {limits.max_request_bytes} bytes",
                    )
            path = request.path_params.get("path")
            params: Any
            text = False
            if request.method == "GET":
                params = _query_params(query)
                text = True
                method = path
            else:
                message = _decode_json(body) if body else {}
                if path is not None and isinstance(message, dict) and "method" not in message:
                    message = {"method": path, "params": message}
                request_id, method, params = _check_request(message)
                if path is not None and method != path:
                    raise InvalidInput(GatewayReason.INVALID_REQUEST, "method differs from path")
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            uri = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
            auth = HttpAuth(
                request.headers.get("authorization", ""),
                request.method,
                uri,
                body.decode("utf-8", errors="replace"),
            )
            ip = request.client.host if request.client else None
            result = await gateway.call(method, params, ip=ip, http=auth, text=text)
        except OptexError as exc:
            return respond(envelope.error(request_id, exc, us_in), exc)
        except Exception:  # a bug answers in the envelope too, never with a bare 500 page
            log.exception("request failed")
            failure = _internal()
            return Response(
                _ENCODER.encode(envelope.error(_safe_id(request_id), failure, us_in)),
                500,
                media_type="application/json",
            )
        return respond(envelope.ok(request_id, result, us_in))

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi(gateway.methods, gateway.config))

    async def websocket(socket: WebSocket) -> None:
        ip = socket.client.host if socket.client else "unknown"
        open_here = gateway.connections.get(ip, 0)
        if open_here >= limits.max_connections_per_ip:
            await socket.close(code=1008, reason="too many connections from this address")
            return
        gateway.connections[ip] = open_here + 1
        try:
            await socket.accept()
            await _serve_socket(gateway, envelope, socket, ip)
        finally:
            gateway.connections[ip] -= 1
            if not gateway.connections[ip]:
                del gateway.connections[ip]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.close()

    return Starlette(
        routes=[
            Route("/api/v2/openapi.json", openapi_json, methods=["GET"]),
            Route("/api/v2/{path:path}", http_call, methods=["GET", "POST"]),
            Route("/api/v2", http_call, methods=["POST"]),
            WebSocketRoute("/ws/api/v2", websocket),
        ],
        lifespan=lifespan,
    )


def _query_params(query: bytes) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(
            query.decode("ascii"), keep_blank_values=True, strict_parsing=False, max_num_fields=64
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(GatewayReason.INVALID_PARAMS, "the query string is not valid") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidInput(GatewayReason.INVALID_PARAMS, f"{name} is given twice", param=name)
        params[name] = value
    return params


async def _serve_socket(gateway: Gateway, envelope: _Envelope, socket: WebSocket, ip: str) -> None:
    limits = gateway.config.limits
    conn = Connection(ip, limits.max_send_queue, gateway.settlement_scale)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()

    async def send_forever() -> None:
        while (message := await conn.queue.get()) is not None:
            await socket.send_text(message)
        await socket.close(code=1008, reason="the client did not read its messages")

    async def heartbeat_forever() -> None:
        while True:
            await asyncio.sleep(max(conn.heartbeat_s, 1))
            if not conn.heartbeat_s:
                continue
            if not conn.heartbeat_answered:
                await socket.close(code=1000, reason="heartbeat not answered")
                return
            conn.heartbeat_answered = False
            conn.send({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})

    async def answer(message: Any, us_in: int) -> None:
        request_id: Any = message.get("id") if isinstance(message, dict) else None
        try:
            request_id, method, params = _check_request(message)
            result = await gateway.call(method, params, ip=ip, connection=conn)
            conn.send(envelope.ok(request_id, result, us_in))
        except OptexError as exc:
            conn.send(envelope.error(_safe_id(request_id), exc, us_in))
        except Exception:  # a bug must not kill the connection's other requests
            log.exception("request failed")
            conn.send(envelope.error(_safe_id(request_id), _internal(), us_in))
        finally:
            in_flight.release()

    sender = asyncio.get_running_loop().create_task(send_forever())
    beater = asyncio.get_running_loop().create_task(heartbeat_forever())
    try:
        while True:
            incoming = await socket.receive()
            if incoming["type"] == "websocket.disconnect":
                break
            text = incoming.get("text")
            if text is None and incoming.get("bytes") is not None:
                text = incoming["bytes"].decode("utf-8", errors="replace")
            us_in = _micros()
            if text is None or len(text) > limits.max_request_bytes:
                exc = InvalidInput(
                    GatewayReason.REQUEST_TOO_LARGE if text else GatewayReason.INVALID_REQUEST,
                    f"messages are JSON text of at most {limits.max_request_bytes} bytes",
                )
                conn.send(envelope.error(None, exc, us_in))
                continue
            try:
                message = _decode_json(text)
            except OptexError as exc:
                conn.send(envelope.error(None, exc, us_in))
                continue
            await in_flight.acquire()
            task = asyncio.get_running_loop().create_task(answer(message, us_in))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except WebSocketDisconnect:
        pass
    finally:
        gateway.hub.drop(conn)
        beater.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if conn.cancel_on_disconnect and conn.account is not None:
            try:
                await gateway.link.submit(MassCancel(0, conn.account))
            except OptexError as exc:
                log.warning("cancel on disconnect of %s failed: %s", conn.account, exc)
        conn.queue.put_nowait(None)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _safe_id(request_id: Any) -> Any:
    if isinstance(request_id, bool):
        return None
    if isinstance(request_id, int) or (
        isinstance(request_id, str) and len(request_id) <= MAX_ID_LENGTH
    ):
        return request_id
    return None


def _internal() -> OptexError:
    return InvalidInput(GatewayReason.INTERNAL_ERROR)
