"""A node's configuration file (``node.json`` in its home) and its keys.

A home holds ``genesis.json``, ``chain.db`` (the ledger's SQLite store), ``consensus.wal``,
``node.json``, ``node_key.json`` (the node's peer-to-peer identity) and, for a validator,
``validator_key.json`` (its consensus key). Both keys are encrypted keystores
(:func:`optex.crypto.encrypt_key`). The password comes from ``OPTEX_NODE_PASSWORD``, a
``--password-file`` or the config's ``password_file``; the last is what ``optex node init``
writes for a local devnet and must not be used for a network holding value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import msgspec

from optex.chain.consensus import TimeoutConfig
from optex.core import InvalidInput
from optex.crypto import PrivateKey, decode_keystore, decrypt_key
from optex.node._errors import NodeReason

CONFIG_FILE: Final = "node.json"
NODE_KEY_FILE: Final = "node_key.json"
VALIDATOR_KEY_FILE: Final = "validator_key.json"
WAL_FILE: Final = "consensus.wal"
PASSWORD_ENV: Final = "OPTEX_NODE_PASSWORD"  # noqa: S105 - the variable's name


class PeerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A peer: its node key (hex), where it listens, and whether this node dials it.

    ``optex node init`` makes the node with the smaller index dial, so that each pair of nodes
    shares one connection; the other side only accepts.
    """

    id: str
    host: str
    port: int
    dial: bool = True


class MempoolConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Mempool limits and the size of the blocks reaped from it."""

    max_txs: int = 50_000
    max_bytes: int = 64 * 1024 * 1024
    max_tx_bytes: int = 256 * 1024
    block_max_txs: int = 5_000
    block_max_bytes: int = 2 * 1024 * 1024
    """Below optex.core's 4 MiB decode limit, which stored blocks must pass."""


class NodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a node needs besides its genesis and keys."""

    moniker: str
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 26656
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 26657
    peers: tuple[PeerConfig, ...] = ()
    validator: bool = True
    password_file: str | None = None
    """Devnet only: a file holding the keystore password, relative to the home."""
    timeouts: TimeoutConfig = msgspec.field(default_factory=TimeoutConfig)
    mempool: MempoolConfig = msgspec.field(default_factory=MempoolConfig)
    gossip_ms: int = 200
    sync_batch: int = 16

    def __post_init__(self) -> None:
        for port in (self.p2p_port, self.rpc_port, *(p.port for p in self.peers)):
            if not 0 <= port < 65536:
                raise InvalidInput(NodeReason.INVALID_CONFIG, f"port {port} is out of range")
        if self.gossip_ms < 1 or self.sync_batch < 1:
            raise InvalidInput(NodeReason.INVALID_CONFIG, "gossip_ms and sync_batch must be >= 1")
        for peer in self.peers:
            try:
                if len(bytes.fromhex(peer.id)) != 32:
                    raise ValueError
            except ValueError:
                raise InvalidInput(
                    NodeReason.INVALID_CONFIG, f"peer id {peer.id!r} is not 64 hex digits"
                ) from None


def save_config(home: Path, config: NodeConfig) -> None:
    """Write ``node.json`` in ``home``."""
    text = msgspec.json.format(msgspec.json.encode(config).decode(), indent=2)
    (home / CONFIG_FILE).write_text(text + "\n")


def load_config(home: Path) -> NodeConfig:
    """Read ``node.json`` from ``home``, or raise a clear error."""
    path = home / CONFIG_FILE
    if not path.exists():
        raise InvalidInput(NodeReason.INVALID_CONFIG, f"no {CONFIG_FILE} in {home}")
    try:
        return msgspec.json.decode(path.read_bytes(), type=NodeConfig)
    except msgspec.DecodeError as exc:
        raise InvalidInput(NodeReason.INVALID_CONFIG, f"{path}: {exc}") from None


def resolve_password(home: Path, config: NodeConfig, password_file: Path | None = None) -> str:
    """The keystore password: the environment, then an explicit file, then the config's."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    path = password_file
    if path is None and config.password_file is not None:
        path = home / config.password_file
    if path is None:
        raise InvalidInput(
            NodeReason.INVALID_CONFIG,
            f"no keystore password: set {PASSWORD_ENV} or pass --password-file",
        )
    return path.read_text().strip()


def load_key(path: Path, password: str) -> PrivateKey:
    """The Ed25519 key in an encrypted keystore file."""
    return decrypt_key(decode_keystore(path.read_bytes()), password)
