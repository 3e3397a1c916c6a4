"""The OpenAPI 3.1 description of the HTTP side, generated from the method table.

Each HTTP-capable method becomes ``GET /api/v2/<method>`` with its parameters in the query
string (as ccxt sends them) and ``POST`` with a JSON-RPC body; private methods carry the three
security schemes Deribit defines (``deri-hmac-sha256`` signatures, bearer tokens, Basic).
WebSocket-only methods are listed under ``x-websocket-methods``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from optex import __version__
from optex.gateway._home import GatewayConfig
from optex.gateway._methods import Method

_TYPES: Final[dict[str, dict[str, Any]]] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer", "minimum": 0},
    "boolean": {"type": "boolean"},
    "array": {"type": "array", "items": {"type": "string"}},
}

_ENVELOPE: Final = {
    "type": "object",
    "required": ["jsonrpc", "usIn", "usOut", "usDiff", "testnet"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["integer", "string", "null"]},
        "result": {},
        "error": {"$ref": "#/components/schemas/Error"},
        "usIn": {"type": "integer"},
        "usOut": {"type": "integer"},
        "usDiff": {"type": "integer"},
        "testnet": {"type": "boolean"},
    },
}

_ERROR: Final = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "integer", "description": "Deribit's error code"},
        "message": {"type": "string"},
        "data": {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": "the optex reason"},
                "optex_code": {"type": "integer"},
                "message": {"type": "string"},
            },
        },
    },
}


def _schema(param_kind: str, choices: tuple[str, ...], max_length: int) -> dict[str, Any]:
    schema: dict[str, Any] = {**_TYPES[param_kind]}
    if choices:
        schema["enum"] = list(choices)
    if param_kind == "string":
        schema["maxLength"] = max_length
    return schema


def _operation(method: Method, verb: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{verb}_{method.name.replace('/', '_')}",
        "summary": method.summary,
        "tags": list(method.tags),
        "responses": {
            "200": {
                "description": f"result: {method.result}",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
                },
            },
            "4XX": {
                "description": "a Deribit-shaped error",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
                },
            },
        },
    }
    if verb == "get":
        operation["parameters"] = [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": p.doc,
                "schema": _schema(p.kind, p.choices, p.max_length),
            }
            for p in method.params
        ]
    else:
        operation["requestBody"] = {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "jsonrpc": {"const": "2.0"},
                            "id": {"type": ["integer", "string"]},
                            "method": {"const": method.name},
                            "params": {
                                "type": "object",
                                "required": [p.name for p in method.params if p.required],
                                "properties": {
                                    p.name: _schema(p.kind, p.choices, p.max_length)
                                    for p in method.params
                                },
                            },
                        },
                    }
                }
            }
        }
    if method.private:
        operation["security"] = [{"deribitHmac": []}, {"bearer": []}, {"basic": []}]
    return operation


def openapi(methods: Mapping[str, Method], config: GatewayConfig) -> dict[str, Any]:
    """The OpenAPI document for ``methods``."""
    paths = {
        f"/api/v2/{method.name}": {
            "get": _operation(method, "get"),
            "post": _operation(method, "post"),
        }
        for method in sorted(methods.values(), key=lambda m: m.name)
        if not method.websocket_only
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "optex gateway (Deribit API v2 compatible)",
            "version": __version__,
            "description": (
                "JSON-RPC 2.0 over HTTP; the same methods and subscriptions over WebSocket at "
                f"/ws/api/v2. Chain: {config.chain_id}. Amounts in coins of the underlying, "
                "prices in the settlement currency per coin."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"Envelope": _ENVELOPE, "Error": _ERROR},
            "securitySchemes": {
                "deribitHmac": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": (
                        "deri-hmac-sha256 id=CLIENT_ID,ts=MS,sig=HEX,nonce=NONCE; sig = "
                        "HMAC-SHA256(secret, ts\\nnonce\\nMETHOD\\nURI\\nBODY\\n)"
                    ),
                },
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
        "x-websocket-methods": sorted(m.name for m in methods.values() if m.websocket_only),
    }
