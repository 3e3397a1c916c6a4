"""``public/optex_get_proof``: a chain proof of an account, forwarded from a validator node.

The gateway holds no chain state. With ``node_rpc`` configured (``optex gateway --node
http://127.0.0.1:PORT``; ``optex devnet`` passes validator 0's RPC) it asks the node's
``GET /proof?account=NAME`` for a light-client proof of the account's committed record at the
latest decided height (:class:`optex.chain.AccountProof`: header, commit, validator set, Merkle
proof) and answers it as base64 of the proof's canonical bytes, with the header fields beside
it. A user checks it with ``optex.chain`` alone, trusting neither the gateway nor the node::

    proven = verify_account_proof(decode_proof(base64.b64decode(result["proof"])))

The gateway verifies the node's answer the same way before passing it on, so a node that
answers garbage (or a proof of another chain or account) is reported as unavailable instead of
forwarded; the fields it shows (height, state root, balances, ...) are read from the verified
proof, never from the node's JSON.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

import httpx

from optex.chain import block_hash, decode_proof, verify_account_proof
from optex.core import InvalidInput, NotFound, OptexError
from optex.gateway._gateway import Call
from optex.gateway._methods import Method, Param
from optex.gateway._reasons import GatewayReason

NODE_TIMEOUT_S: Final = 5.0
"""A proof is read from the node's memory; a node slower than this is treated as down."""
MAX_PROOF_BYTES: Final = 1 << 20
PROOF_ENCODING: Final = "optex.chain.AccountProof, canonical msgpack, base64"


def _unavailable(message: str) -> InvalidInput:
    return InvalidInput(GatewayReason.PROOFS_UNAVAILABLE, message)


async def _ask_node(node: str, account: str) -> dict[str, Any]:
    """The node's answer to ``GET /proof?account=``, or the refusal it stands for."""
    try:
        async with httpx.AsyncClient(timeout=NODE_TIMEOUT_S) as client:
            response = await client.get(f"{node.rstrip('/')}/proof", params={"account": account})
        body = response.json()
    except (httpx.HTTPError, ValueError):
        raise _unavailable("the chain node cannot be reached or did not answer JSON") from None
    if not isinstance(body, dict):
        raise _unavailable("the chain node answered something other than a JSON object")
    if response.status_code == 404:
        raise NotFound(
            GatewayReason.PROOF_NOT_FOUND,
            f"{account} has no record on chain yet",
            param="account",
        )
    if response.status_code == 400:
        raise InvalidInput(
            GatewayReason.INVALID_PARAMS, str(body.get("message", "bad account")), param="account"
        )
    if response.status_code != 200 or not isinstance(body.get("proof"), str):
        raise _unavailable(f"the chain node answered HTTP {response.status_code}")
    return body


async def optex_get_proof(call: Call) -> Any:
    node = call.gateway.config.node_rpc
    if not node:
        raise _unavailable("no chain node is configured: start the gateway with --node URL")
    account = call.args["account"]
    body = await _ask_node(node, account)
    text: str = body["proof"]
    if len(text) > MAX_PROOF_BYTES:
        raise _unavailable("the chain node answered an oversized proof")
    try:
        raw = base64.b64decode(text, validate=True)
        proven = verify_account_proof(decode_proof(raw))
    except (binascii.Error, ValueError, OptexError) as exc:
        raise _unavailable(f"the chain node answered a proof that does not verify: {exc}") from None
    if proven.account != account or proven.chain_id != call.gateway.config.chain_id:
        raise _unavailable("the chain node answered a proof of another account or chain")
    header = decode_proof(raw).header
    return {
        "account": proven.account,
        "chain_id": proven.chain_id,
        "height": proven.height,
        "timestamp": proven.ts_ms,
        "block_hash": block_hash(header).hex(),
        "state_root": header.state_root.hex(),
        "validators_hash": proven.validators_hash.hex(),
        "balances": dict(sorted(proven.record.balances.items())),
        "positions": {
            name: position.quantity for name, position in sorted(proven.record.positions.items())
        },
        "proof": text,
        "proof_encoding": PROOF_ENCODING,
    }


PROOF_METHODS: Final = (
    Method(
        "public/optex_get_proof",
        "optex: a light-client proof of an account's chain record (needs --node)",
        optex_get_proof,
        (Param("account", required=True, doc="the optex account id", max_length=64),),
        tags=("optex",),
    ),
)
