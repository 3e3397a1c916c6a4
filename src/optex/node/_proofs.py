"""The proof route of a node's RPC: ``GET /proof?account=NAME``.

It answers a light-client proof (:class:`optex.chain.AccountProof`) of an account's committed
record at the ledger's last decided height: the header, the commit that sealed it, the validator
set that signed it and the Merkle proof of the record under the header's state root. The proof
travels as base64 of its canonical bytes (``optex.chain.encode_proof(proof, binary=True)``, the
one byte form :func:`optex.chain.decode_proof` accepts), so whoever receives it checks it with
``optex.chain`` alone::

    verify_account_proof(decode_proof(base64.b64decode(answer["proof"])))

The header fields beside it (height, block hash, state root, validators hash) are there to read,
not to trust: the proof carries the header they come from. Accounts are the state keys
``optex.chain`` can prove today; others are refused with ``bad_request``.

The route runs on the node's event loop, between blocks: the ledger applies a block and saves
its commit in one step of that loop, so the last header, its commit and the state always belong
to the same height.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Final

from optex.chain import block_hash, encode_proof, prove_account
from optex.core import InvalidInput
from optex.node._errors import NodeReason
from optex.node._rpc import Route

if TYPE_CHECKING:
    from optex.node._node import Node

MAX_ACCOUNT: Final = 64
_ACCOUNT_CHARACTERS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"
)


def _account(query: dict[str, str]) -> str:
    """The ``account`` parameter, checked as optex account ids are (1-64 of ``[A-Za-z0-9_.:-]``)."""
    account = query.get("account")
    if (
        account is None
        or not 0 < len(account) <= MAX_ACCOUNT
        or not set(account) <= _ACCOUNT_CHARACTERS
    ):
        raise InvalidInput(
            NodeReason.BAD_REQUEST,
            f"give ?account=NAME: 1-{MAX_ACCOUNT} ASCII letters, digits and '_.:-'",
        )
    return account


def proof_routes(node: Node) -> dict[tuple[str, str], Route]:
    """The proof route of ``node``'s RPC server."""

    def proof(query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        account = _account(query)
        # NotFound (404) when no block is committed yet or the account has no record.
        found = prove_account(node.ledger, account)
        header = found.header
        return 200, {
            "account": account,
            "chain_id": header.chain_id,
            "height": header.height,
            "ts_ms": header.ts_ms,
            "block_hash": block_hash(header).hex(),
            "state_root": header.state_root.hex(),
            "validators_hash": header.validators_hash.hex(),
            "proof": base64.b64encode(encode_proof(found, binary=True)).decode("ascii"),
        }

    return {("GET", "/proof"): proof}
