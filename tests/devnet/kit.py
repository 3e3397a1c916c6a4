"""A devnet's processes for failure drills: started by :class:`optex.devnet.Devnet` exactly as
``optex devnet`` starts them, killed and restarted one at a time on the same home and ports,
plus users who sign their own orders and what the chain and the journal say afterwards.

The market makers and the index feed are not run (``Devnet.start`` without ``run``): the
books hold only the test's own orders, so every fill is between two users whose orders are
signed, and every fill can be settled and compared with the chain.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from optex.chain import Block, RegisterTradingKey, TradeBatch, sign_tx
from optex.core import decode
from optex.crypto import (
    PrivateKey,
    TradingKeyAuthorization,
    TradingScope,
    decode_keystore,
    decrypt_key,
    sign_authorization,
)
from optex.devnet import Devnet, DevnetConfig
from optex.exchange import (
    Command,
    DelegationRecord,
    Pipeline,
    PlaceSignedOrder,
    load_delegations_file,
    save_delegations_file,
)
from optex.journal import FileFollower
from optex.market import Fill, OrderAccepted
from optex.node import RpcClient, free_ports

CHAIN_ID = "optex-devnet"
WAIT_S = 60.0
"""Bound on waiting for something that must happen (a commit, a settlement); reaching it is a
failure, not a measurement."""


def start_devnet(home: Path) -> Devnet:
    """A devnet of four validators, the engine, the gateway and ``optex settle``, with the
    fewest books the devnet lists (per underlying a perpetual, two futures, a call and a put),
    its gateway on a port chosen here so that a restarted gateway listens where clients expect.
    """
    config = DevnetConfig(
        home=home, validators=4, expiries=1, strikes=1, gateway_port=free_ports(1)[0]
    )
    devnet = Devnet(config, Console(quiet=True))
    devnet.start()
    return devnet


def ws_url(devnet: Devnet) -> str:
    """The gateway's WebSocket address."""
    assert devnet.gateway_url is not None
    return devnet.gateway_url.replace("http", "ws", 1)


def credentials(devnet: Devnet, account: str) -> tuple[str, str]:
    """``(client_id, client_secret)`` of ``account``'s printed API key."""
    entry = next(c for c in devnet.credentials if c["account"] == account)
    return entry["client_id"], entry["client_secret"]


# Killing and restarting ------------------------------------------------------------------------


def restart_engine(devnet: Devnet, *options: str) -> None:
    """SIGKILL the engine and start it again on its home and its port (the gateway was told
    that address and reconnects to it), with ``options`` added to its command line."""
    assert devnet.engine_address is not None
    host, port = devnet.engine_address
    child = devnet.supervisor.kill("engine")
    (devnet.home / "engine" / "engine.json").unlink(missing_ok=True)  # the dead one's address
    first = child.args[: child.args.index("--listen")] if "--listen" in child.args else child.args
    devnet.supervisor.restart("engine", args=[*first, "--listen", f"{host}:{port}", *options])


def restart_gateway(devnet: Devnet) -> None:
    """SIGKILL the gateway and start it again with the same command line (same port)."""
    devnet.supervisor.kill("gateway")
    (devnet.home / "gateway" / "gateway-address.json").unlink(missing_ok=True)
    devnet.supervisor.restart("gateway")


def restart_validator(devnet: Devnet, index: int) -> None:
    """SIGKILL validator ``index`` and start it again on its home (store, WAL, ports)."""
    devnet.supervisor.kill(f"node{index}")
    devnet.supervisor.restart(f"node{index}")


# Users who sign their own orders ---------------------------------------------------------------


def _owner(devnet: Devnet, account: str) -> PrivateKey:
    chain = devnet.home / "chain"
    password = (chain / "devnet-password.txt").read_text().strip()
    return decrypt_key(decode_keystore((chain / "keys" / f"{account}.json").read_bytes()), password)


def delegate_trading_key(devnet: Devnet, account: str, trading_key: PrivateKey) -> None:
    """Have ``account``'s owner authorize ``trading_key``: in the delegations file the engine
    reads (so the engine accepts its orders) and on chain (so the ledger accepts its fills),
    waiting until the chain has committed it."""
    path = devnet.home / "gateway" / "delegations.json"
    content = load_delegations_file(path)
    last = max(
        (
            (r.authorization or r.revocation).nonce  # type: ignore[union-attr]
            for r in content.authorizations
            if (r.authorization or r.revocation).account == account  # type: ignore[union-attr]
        ),
        default=-1,
    )
    now_ms = time.time_ns() // 1_000_000
    grant = TradingKeyAuthorization(
        chain_id=CHAIN_ID,
        account=account,
        trading_key=trading_key.public_key.raw,
        scopes=(TradingScope.CANCEL, TradingScope.TRADE),
        not_before_ms=now_ms - 60_000,
        expiry_ms=now_ms + 24 * 3600 * 1000,
        nonce=last + 1,
    )
    owner = _owner(devnet, account)
    record = DelegationRecord.of(sign_authorization(owner, grant))
    save_delegations_file(
        path,
        type(content)(content.chain_id, content.owners, [*content.authorizations, record]),
    )
    register = sign_tx(
        owner,
        RegisterTradingKey(
            chain_id=CHAIN_ID,
            nonce=time.time_ns() // 1_000,  # above the devnet's own registration's nonce
            authorization=grant,
            owner_signature=record.signature,
        ),
    )
    node = RpcClient("127.0.0.1", devnet.rpc_ports[0])
    try:
        digest = node.broadcast_tx(register)
        deadline = time.monotonic() + WAIT_S
        while (code := _committed(node, digest)) is None:
            assert time.monotonic() < deadline, f"{account}'s trading key was not committed"
            time.sleep(0.2)
        assert code == 0, f"the chain refused {account}'s trading key: {code}"
    finally:
        node.close()


def _committed(node: RpcClient, digest: str) -> int | None:
    """The result code of transaction ``digest`` if a decided block holds it."""
    for height in range(1, int(node.status()["height"]) + 1):
        answer = node.block(height)
        for tx_hash, result in zip(answer["tx_hashes"], answer["results"], strict=True):
            if tx_hash == digest:
                return int(result["code"])
    return None


# What the journal and the chain say ------------------------------------------------------------


@dataclass
class Journal:
    """The engine's journal replayed by a fresh pipeline, with what the checks need."""

    pipeline: Pipeline
    placed: Counter[str]
    """Journaled signed orders by client order id (label)."""
    placed_ms: dict[str, int]
    """When the engine journaled each (the time it stamped), by client order id."""
    accepted: Counter[str]
    """Orders the engine accepted, by client order id."""
    fills: Counter[tuple[bytes, bytes, int, int]]
    """Fills between signed orders: (maker's signature, taker's signature, price, quantity)."""


def replay_journal(devnet: Devnet, last_seq: int | None = None) -> Journal:
    """Replay the engine's journal file from its first entry (up to ``last_seq``)."""
    pipeline = Pipeline()
    follower = FileFollower(devnet.home / "engine" / "journal.optexj")
    placed: Counter[str] = Counter()
    placed_ms: dict[str, int] = {}
    accepted: Counter[str] = Counter()
    fills: Counter[tuple[bytes, bytes, int, int]] = Counter()
    signature_of: dict[int, bytes] = {}
    while entries := follower.poll():
        for entry in entries:
            if last_seq is not None and entry.seq > last_seq:
                return Journal(pipeline, placed, placed_ms, accepted, fills)
            events = pipeline.apply_entry(entry)
            command: Command = decode(entry.payload, Command)  # type: ignore[arg-type]
            signed = command.order if isinstance(command, PlaceSignedOrder) else None
            if signed is not None:
                placed[signed.intent.client_order_id] += 1
                placed_ms[signed.intent.client_order_id] = command.ts_ms
            for event in events:
                if isinstance(event, OrderAccepted):
                    accepted[event.client_order_id or ""] += 1
                    if signed is not None and event.account == signed.intent.account:
                        signature_of[event.order_id] = signed.signature
                elif isinstance(event, Fill):
                    maker = signature_of.get(event.maker_order_id)
                    taker = signature_of.get(event.taker_order_id)
                    if maker is not None and taker is not None:
                        fills[maker, taker, event.price, event.quantity] += 1
    return Journal(pipeline, placed, placed_ms, accepted, fills)


def chain_fills(devnet: Devnet, node: int = 0) -> Counter[tuple[bytes, bytes, int, int]]:
    """Every fill of every trade batch the chain applied, as :attr:`Journal.fills` counts them."""
    fills: Counter[tuple[bytes, bytes, int, int]] = Counter()
    client = RpcClient("127.0.0.1", devnet.rpc_ports[node])
    try:
        for height in range(1, int(client.status()["height"]) + 1):
            answer = client.block(height)
            block = decode(bytes.fromhex(answer["raw"]), Block)
            for tx, result in zip(block.txs, answer["results"], strict=True):
                if int(result["code"]) == 0 and isinstance(tx.body, TradeBatch):
                    for fill in tx.body.fills:
                        signatures = (fill.maker.signature, fill.taker.signature)
                        fills[(*signatures, fill.price, fill.quantity)] += 1
    finally:
        client.close()
    return fills


def settle_status(devnet: Devnet) -> dict[str, object]:
    """``optex settle``'s status file (empty before its first write)."""
    try:
        status: dict[str, object] = json.loads((devnet.home / "settle" / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return status


def bearer(http: httpx.Client, user: dict[str, str]) -> dict[str, str]:
    """Log a printed devnet user in over HTTP (``public/auth`` with client credentials); the
    header that authorizes its private calls."""
    login = http.get(
        "/public/auth",
        params={
            "grant_type": "client_credentials",
            "client_id": user["client_id"],
            "client_secret": user["client_secret"],
        },
    ).json()["result"]
    return {"Authorization": f"Bearer {login['access_token']}"}
