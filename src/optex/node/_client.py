"""A blocking client of a node's local RPC, for the settlement batcher, tests and benchmarks."""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from typing import Any

from optex.chain import SignedTx
from optex.core import encode


class RpcError(Exception):
    """The node answered with an error status; ``body`` holds its code, reason and message."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class RpcClient:
    """One keep-alive HTTP connection to ``host:port``."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self._conn = http.client.HTTPConnection(host, port, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One request; raises :class:`RpcError` on a non-200 answer, ``OSError`` if down."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            self._conn.request(method, path, body=data, headers=headers)
            response = self._conn.getresponse()
            payload: dict[str, Any] = json.loads(response.read())
        except (OSError, http.client.HTTPException):
            self._conn.close()
            raise
        if response.status != 200:
            raise RpcError(response.status, payload)
        return payload

    def status(self) -> dict[str, Any]:
        """The node's status."""
        return self.call("GET", "/status")

    def broadcast_tx(self, tx: SignedTx) -> str:
        """Submit one transaction; its hash in hex."""
        return str(self.call("POST", "/broadcast_tx", {"tx": encode(tx).hex()})["hash"])

    def broadcast_txs(self, txs: Sequence[SignedTx]) -> list[dict[str, Any]]:
        """Submit many; one result (``hash`` or an error) each."""
        body = {"txs": [encode(tx).hex() for tx in txs]}
        results: list[dict[str, Any]] = self.call("POST", "/broadcast_txs", body)["results"]
        return results

    def block(self, height: int) -> dict[str, Any]:
        """A decided block."""
        return self.call("GET", f"/block?height={height}")

    def commit(self, height: int) -> dict[str, Any]:
        """The commit of a decided block."""
        return self.call("GET", f"/commit?height={height}")
