"""Shared builders for the node tests: transfers and fast consensus timeouts."""

from __future__ import annotations

import hashlib

from optex.chain import (
    AssetSpec,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    SignedTx,
    Transfer,
    sign_tx,
)
from optex.chain.consensus import TimeoutConfig
from optex.crypto import PrivateKey

FAST = TimeoutConfig(
    propose_ms=800,
    propose_delta_ms=200,
    prevote_ms=250,
    prevote_delta_ms=100,
    precommit_ms=250,
    precommit_delta_ms=100,
    commit_ms=100,
)


def transfer(
    key: PrivateKey, nonce: int, *, chain_id: str = "optex-devnet", amount: int = 1
) -> SignedTx:
    """A transfer of ``amount`` USDC from ``user0`` (signed by ``key``) to ``user1``."""
    body = Transfer(
        chain_id=chain_id,
        nonce=nonce,
        source="user0",
        destination="user1",
        asset="USDC",
        amount=amount,
    )
    return sign_tx(key, body)


def keys(label: str) -> PrivateKey:
    """A deterministic key for ``label``."""
    return PrivateKey(hashlib.sha256(label.encode()).digest())


def genesis() -> Genesis:
    """One validator and two funded users, ``user0`` and ``user1``."""
    return Genesis(
        chain_id="optex-devnet",
        genesis_time_ms=1_000,
        assets=(AssetSpec("USDC", 6), AssetSpec("OPX", 6)),
        bridge_key=keys("bridge").public_key.hex(),
        operator_key=keys("operator").public_key.hex(),
        accounts=(
            GenesisAccount("user0", keys("user0").public_key.hex(), {"USDC": 1_000_000}),
            GenesisAccount("user1", keys("user1").public_key.hex(), {"USDC": 1_000_000}),
            GenesisAccount("val0", keys("val0").public_key.hex(), {}),
        ),
        validators=(GenesisValidator("val0", keys("consensus0").public_key.hex(), 10_000_000),),
    )
