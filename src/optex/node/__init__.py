"""optex.node: the validator and full node around the settlement chain's consensus and ledger.

An asyncio process (:class:`Node`) that connects to its peers over encrypted, authenticated
TCP connections (:func:`handshake`, after CometBFT's secret connection: X25519, HKDF-SHA256,
ChaCha20-Poly1305, Ed25519 node keys), gossips proposals, votes and transactions, keeps a
checked and bounded :class:`Mempool`, drives :class:`optex.chain.consensus.Tendermint` with
timers and a file write-ahead log, applies decided blocks to the :class:`optex.chain.Ledger`
in SQLite, syncs blocks when behind, turns double signs into slashing evidence, and serves a
small JSON RPC on 127.0.0.1 (:class:`RpcClient`). :func:`init_network` writes a local devnet.
See docs/node.md.
"""

from optex.node._app import ChainApp
from optex.node._client import RpcClient, RpcError
from optex.node._cluster import LocalCluster, free_ports
from optex.node._config import (
    PASSWORD_ENV,
    MempoolConfig,
    NodeConfig,
    PeerConfig,
    load_config,
    save_config,
)
from optex.node._errors import NodeReason
from optex.node._init import Network, init_network
from optex.node._mempool import LedgerCheck, Mempool
from optex.node._node import Node, run_node
from optex.node._secret import (
    Opener,
    Sealer,
    SecretConnection,
    Session,
    auth_message,
    check_auth,
    handshake,
    node_id,
)
from optex.node._wal import SignSyncWAL
from optex.node._wire import (
    Message,
    Status,
    SyncBlocks,
    SyncRequest,
    Txs,
    decode_message,
    encode_message,
)

__all__ = [
    "ChainApp",
    "LedgerCheck",
    "LocalCluster",
    "Mempool",
    "MempoolConfig",
    "Message",
    "Network",
    "Node",
    "NodeConfig",
    "NodeReason",
    "Opener",
    "PASSWORD_ENV",
    "PeerConfig",
    "RpcClient",
    "RpcError",
    "Sealer",
    "SecretConnection",
    "Session",
    "SignSyncWAL",
    "Status",
    "SyncBlocks",
    "SyncRequest",
    "Txs",
    "auth_message",
    "check_auth",
    "decode_message",
    "encode_message",
    "free_ports",
    "handshake",
    "init_network",
    "load_config",
    "node_id",
    "run_node",
    "save_config",
]
