"""The RPC routes of a node: status, transaction submission, blocks and commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optex.chain import Event, SignedTx, tx_hash
from optex.core import InvalidInput, OptexError, decode, encode
from optex.node._errors import NodeReason
from optex.node._rpc import Route, error_body

if TYPE_CHECKING:
    from optex.node._node import Node


def _height(query: dict[str, str]) -> int:
    try:
        return int(query["height"])
    except (KeyError, ValueError):
        raise InvalidInput(NodeReason.BAD_REQUEST, "give ?height=N") from None


def _tx(text: Any) -> SignedTx:
    if not isinstance(text, str):
        raise InvalidInput(NodeReason.BAD_REQUEST, "a transaction is a hex string")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidInput(NodeReason.BAD_REQUEST, "a transaction is a hex string") from None
    return decode(raw, SignedTx)


def _hexed(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _events(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Events as JSON, in the order the ledger emitted them: ``{"kind": ..., "attributes":
    {name: text}}`` (the ledger writes every attribute as text, amounts in decimal)."""
    return [{"kind": e.kind, "attributes": dict(sorted(e.attributes.items()))} for e in events]


def routes(node: Node) -> dict[tuple[str, str], Route]:
    """The routes of ``node``'s RPC server."""

    def status(query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        return 200, node.status()

    def broadcast_tx(query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        digest = node.admit(_tx(body["tx"]))
        return 200, {"hash": digest.hex()}

    def broadcast_txs(query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for text in body["txs"]:
            try:
                results.append({"hash": node.admit(_tx(text)).hex()})
            except OptexError as exc:
                results.append(error_body(exc))
        return 200, {"results": results}

    def block(query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        found, result = node.ledger.load_block(_height(query))
        header = {
            name: _hexed(getattr(found.header, name)) for name in found.header.__struct_fields__
        }
        return 200, {
            "height": found.header.height,
            "hash": result.block_hash.hex(),
            "header": header,
            "tx_hashes": [tx_hash(tx).hex() for tx in found.txs],
            "results": [
                {"code": r.code, "reason": r.reason, "events": _events(r.events)}
                for r in result.txs
            ],
            "events": _events(result.events),
            "raw": encode(found).hex(),
        }

    def commit(query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        found = node.ledger.load_commit(_height(query))
        return 200, {
            "height": found.height,
            "round": found.round,
            "block_hash": found.block_hash.hex(),
            "signers": [v.validator.hex() for v in found.precommits],
            "raw": encode(found).hex(),
        }

    return {
        ("GET", "/status"): status,
        ("POST", "/broadcast_tx"): broadcast_tx,
        ("POST", "/broadcast_txs"): broadcast_txs,
        ("GET", "/block"): block,
        ("GET", "/commit"): commit,
    }
