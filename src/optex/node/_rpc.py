"""A small local RPC: HTTP/1.1 with JSON bodies on asyncio streams, no framework.

Routes (all answers are JSON objects; errors carry ``code``, ``reason`` and ``message``):

* ``GET /status``: chain id, node id, height, last block hash, app hash (state root), round,
  peers, mempool size.
* ``POST /broadcast_tx`` with ``{"tx": "<hex of the canonical SignedTx>"}``: admit to the
  mempool and gossip; answers ``{"hash": ...}`` or the refusal.
* ``POST /broadcast_txs`` with ``{"txs": [...]}``: the same for many, one result each.
* ``GET /block?height=N`` and ``GET /commit?height=N``: a decided block (header fields,
  transaction hashes and results, and the raw canonical bytes in hex) and its commit. The
  block's ``events`` (its begin and end steps': expiry settlement, funding, withdrawals paid,
  slashing) and each result's ``events`` are decoded as ``{"kind", "attributes"}`` objects.
* ``GET /proof?account=NAME``: a light-client proof of the account at the last decided height
  (``optex.chain.AccountProof``, base64 of its canonical bytes) with its header fields
  (``_proofs``).

It listens on 127.0.0.1 by default and has no authentication: it is the node operator's, and the
exchange's settlement batcher runs beside it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from optex.core import InvalidInput, OptexError
from optex.node._errors import NodeReason

MAX_BODY_BYTES: Final = 64 * 1024 * 1024
MAX_HEADER_LINES: Final = 100
_STATUS_TEXT: Final = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Too Large"}

Route = Callable[[dict[str, str], Any], tuple[int, dict[str, Any]]]
"""``route(query, json_body) -> (http_status, json_object)``."""


def error_body(exc: OptexError) -> dict[str, Any]:
    """The JSON form of a refusal."""
    return {"code": int(exc.code), "reason": exc.reason, "message": exc.message}


class RpcServer:
    """Serves ``routes`` keyed by ``(method, path)``."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self.server = await asyncio.start_server(self._serve, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close the listening socket."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, UnicodeDecodeError):
            pass
        except asyncio.CancelledError:
            # Shutdown cancels open connections. Python 3.11's start_server then asks the
            # cancelled task for its exception and logs that as an ERROR on every clean stop;
            # ending the connection task normally avoids it, and nothing waits on this task.
            return
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= MAX_BODY_BYTES:
            self._write(writer, 413, {"message": "body too large"})
            return False
        body = await reader.readexactly(length) if length else b""
        status, payload = self._dispatch(method, target, body)
        self._write(writer, status, payload)
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    def _dispatch(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        route = self.routes.get((method.upper(), parts.path))
        if route is None:
            return 404, {"message": f"no route {method} {parts.path}"}
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            data = json.loads(body) if body else None
            return route(query, data)
        except json.JSONDecodeError:
            return 400, error_body(InvalidInput(NodeReason.BAD_REQUEST, "the body is not JSON"))
        except OptexError as exc:
            return (404 if exc.code.name == "NOT_FOUND" else 400), error_body(exc)
        except (KeyError, TypeError, ValueError) as exc:
            return 400, error_body(InvalidInput(NodeReason.BAD_REQUEST, f"bad request: {exc}"))

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Error')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data)
