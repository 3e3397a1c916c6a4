"""``optex node init``: a genesis, keys and one home per node for a local network.

Every key is written as an encrypted keystore under one devnet password, kept in
``devnet-password.txt`` at the root and named by each node's ``password_file``: convenient on
one machine, and only for a devnet. The nodes listen on 127.0.0.1; node ``i`` dials the nodes
after it, so every pair shares one connection. Besides the validators' operator accounts the
genesis opens ``user0`` ... ``userK`` with USDC, whose owner keys sit in ``keys/`` for tests,
benchmarks and the settlement batcher to sign with.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from optex.chain import (
    AssetSpec,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    OracleParams,
    StakingParams,
    dump_genesis,
)
from optex.chain.consensus import TimeoutConfig
from optex.core import InvalidInput, ListingRules
from optex.crypto import KeyRole, PrivateKey, encode_keystore, encrypt_key
from optex.node._config import (
    NODE_KEY_FILE,
    VALIDATOR_KEY_FILE,
    MempoolConfig,
    NodeConfig,
    PeerConfig,
    save_config,
)
from optex.node._errors import NodeReason

PASSWORD_FILE: Final = "devnet-password.txt"  # noqa: S105 - a file name
DEVNET_SCRYPT_N: Final = 2**14
"""A devnet keystore's scrypt cost: fast to open in tests. Real keys use the crypto default."""
USDC_DECIMALS: Final = 6
STAKE_PER_VALIDATOR: Final = 10_000_000
START_USDC: Final = 1_000_000_000_000


@dataclass
class Network:
    """What :func:`init_network` wrote, with the keys in memory for the caller's convenience."""

    root: Path
    genesis: Genesis
    homes: list[Path]
    configs: list[NodeConfig]
    password: str
    users: dict[str, PrivateKey] = field(default_factory=dict)
    bridge: PrivateKey | None = None
    operator: PrivateKey | None = None


def _write_key(path: Path, key: PrivateKey, password: str, label: str, role: KeyRole) -> None:
    keystore = encrypt_key(key, password, label=label, role=role, scrypt_n=DEVNET_SCRYPT_N)
    path.write_bytes(encode_keystore(keystore))
    path.chmod(0o600)


def init_network(
    root: Path,
    *,
    validators: int,
    genesis_time_ms: int,
    ports: list[tuple[int, int]],
    chain_id: str = "optex-devnet",
    users: int = 4,
    password: str | None = None,
    timeouts: TimeoutConfig | None = None,
    mempool: MempoolConfig | None = None,
    gossip_ms: int = 200,
    full_nodes: int = 0,
    underlyings: Mapping[str, ListingRules] | None = None,
    oracle_symbols: Sequence[str] = (),
    funding_interval_ms: int | None = None,
) -> Network:
    """Write a devnet of ``validators`` nodes under ``root`` (``node0`` ...), then
    ``full_nodes`` non-validating nodes that dial every validator; ports as ``(p2p, rpc)`` per
    node, validators first; ``underlyings`` are the listing rules of what the chain settles
    (none: it refuses every trade batch); ``oracle_symbols`` what the validators may vote
    (``BTC``, ``BTC-PERPETUAL``; none: no price, so nothing settles or funds);
    ``funding_interval_ms`` replaces the genesis default (8 hours). Refuses a root that
    already holds a genesis."""
    if validators < 1 or full_nodes < 0 or len(ports) != validators + full_nodes:
        raise InvalidInput(NodeReason.INVALID_CONFIG, "one (p2p, rpc) port pair per node")
    if funding_interval_ms is not None and funding_interval_ms < 1:
        raise InvalidInput(NodeReason.INVALID_CONFIG, "the funding interval must be positive")
    if (root / "genesis.json").exists():
        raise InvalidInput(NodeReason.INVALID_CONFIG, f"{root} already holds a network")
    password = password or secrets.token_hex(16)
    root.mkdir(parents=True, exist_ok=True)
    keys_dir = root / "keys"
    keys_dir.mkdir(exist_ok=True)
    (root / PASSWORD_FILE).write_text(password + "\n")
    (root / PASSWORD_FILE).chmod(0o600)
    bridge, operator = PrivateKey.generate(), PrivateKey.generate()
    _write_key(keys_dir / "bridge.json", bridge, password, "bridge", KeyRole.OWNER)
    _write_key(keys_dir / "operator.json", operator, password, "operator", KeyRole.OWNER)
    accounts: list[GenesisAccount] = []
    user_keys: dict[str, PrivateKey] = {}
    for k in range(users):
        name = f"user{k}"
        user_keys[name] = PrivateKey.generate()
        _write_key(keys_dir / f"{name}.json", user_keys[name], password, name, KeyRole.OWNER)
        accounts.append(
            GenesisAccount(name, user_keys[name].public_key.hex(), {"USDC": START_USDC})
        )
    node_keys = [PrivateKey.generate() for _ in range(validators + full_nodes)]
    consensus_keys = [PrivateKey.generate() for _ in range(validators)]
    genesis_validators = []
    for i, consensus in enumerate(consensus_keys):
        owner = PrivateKey.generate()
        name = f"val{i}"
        _write_key(keys_dir / f"{name}.json", owner, password, name, KeyRole.OWNER)
        accounts.append(GenesisAccount(name, owner.public_key.hex(), {"OPX": 0}))
        genesis_validators.append(
            GenesisValidator(name, consensus.public_key.hex(), STAKE_PER_VALIDATOR)
        )
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=genesis_time_ms,
        assets=(AssetSpec("USDC", USDC_DECIMALS), AssetSpec("OPX", 6)),
        bridge_key=bridge.public_key.hex(),
        operator_key=operator.public_key.hex(),
        accounts=tuple(accounts),
        validators=tuple(genesis_validators),
        # A devnet node is often stopped for a while; a long window keeps it out of jail.
        staking=StakingParams(signed_blocks_window=100_000),
        underlyings=dict(underlyings or {}),
        oracle=OracleParams(symbols=tuple(oracle_symbols)),
    )
    if funding_interval_ms is not None:
        funding = msgspec.structs.replace(genesis.funding, interval_ms=funding_interval_ms)
        genesis = msgspec.structs.replace(genesis, funding=funding)
    (root / "genesis.json").write_text(dump_genesis(genesis) + "\n")
    homes, configs = [], []
    for i in range(validators + full_nodes):
        validator = i < validators
        home = root / f"node{i}"
        home.mkdir(exist_ok=True)
        shutil.copy(root / "genesis.json", home / "genesis.json")
        _write_key(home / NODE_KEY_FILE, node_keys[i], password, f"node{i}", KeyRole.OWNER)
        if validator:
            _write_key(
                home / VALIDATOR_KEY_FILE, consensus_keys[i], password, f"val{i}", KeyRole.VALIDATOR
            )
        # Validators dial the validators after them; a full node dials every validator.
        peers = tuple(
            PeerConfig(
                node_keys[j].public_key.hex(), "127.0.0.1", ports[j][0], dial=not validator or j > i
            )
            for j in range(validators)
            if j != i
        )
        config = NodeConfig(
            moniker=f"node{i}",
            p2p_port=ports[i][0],
            rpc_port=ports[i][1],
            peers=peers,
            validator=validator,
            password_file=f"../{PASSWORD_FILE}",
            timeouts=timeouts or TimeoutConfig(),
            mempool=mempool or MempoolConfig(),
            gossip_ms=gossip_ms,
        )
        save_config(home, config)
        homes.append(home)
        configs.append(config)
    return Network(
        root, genesis, homes, configs, password, user_keys, bridge=bridge, operator=operator
    )
