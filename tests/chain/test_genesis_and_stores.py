"""Genesis files, and the stores: crash recovery, reopening, another genesis."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from optex.chain import (
    ChainReason,
    Ledger,
    MemoryStore,
    SqliteStore,
    Transfer,
    dump_genesis,
    load_genesis,
)
from optex.core import InvalidInput
from tests.chain.kit import USDC, Chain, make_genesis, owner


def test_a_genesis_round_trips_through_json() -> None:
    genesis = make_genesis()
    assert load_genesis(dump_genesis(genesis)) == genesis


def test_a_genesis_loads_from_toml(tmp_path: Path) -> None:
    key = owner("alice").public_key.hex()
    path = tmp_path / "genesis.toml"
    path.write_text(
        f"""
chain_id = "optex-toml"
genesis_time_ms = 1798761600000
bridge_key = "{key}"
operator_key = "{key}"
assets = [{{ symbol = "USDC", decimals = 6 }}, {{ symbol = "OPX", decimals = 6 }}]

[[accounts]]
account = "alice"
owner_key = "{key}"
balances = {{ USDC = 5 }}

[staking]
epoch_blocks = 3
"""
    )
    genesis = load_genesis(path)
    assert genesis.staking.epoch_blocks == 3
    ledger = Ledger(genesis)
    assert ledger.account("alice").balances == {USDC: 5}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"chain_id": "Bad Chain"}, "chain id"),
        ({"bridge_key": "zz"}, "bridge_key"),
        ({"staking": {"stake_asset": "DOGE"}}, "stake asset"),
        ({"accounts": [{"account": "a", "owner_key": "00" * 32, "balances": {"XYZ": 1}}]}, "XYZ"),
    ],
)
def test_an_invalid_genesis_is_refused_with_the_field_named(
    change: dict[str, object], needle: str
) -> None:
    document = json.loads(dump_genesis(make_genesis()))
    document.update(change)
    with pytest.raises(InvalidInput) as caught:
        load_genesis(json.dumps(document))
    assert caught.value.code is ChainReason.INVALID_GENESIS
    assert needle in caught.value.message


class CrashingStore(MemoryStore):
    """A store whose process dies after writing block ``crash_at`` but before its state."""

    def __init__(self, crash_at: int) -> None:
        super().__init__()
        self.crash_at = crash_at

    def save_state(self, height: int, changes: Mapping[str, bytes | None]) -> None:
        if height == self.crash_at:
            raise KeyboardInterrupt
        super().save_state(height, changes)


def _transfer(chain: Chain) -> object:
    return chain.sign(
        owner("alice"), Transfer, source="alice", destination="bob", asset=USDC, amount=1
    )


def test_blocks_stored_beyond_the_state_are_replayed_on_open() -> None:
    reference = Chain()
    store = CrashingStore(crash_at=3)
    chain = Chain(reference.genesis, store)
    for _ in range(2):
        chain.run(_transfer(chain))
    with pytest.raises(KeyboardInterrupt):
        chain.run(_transfer(chain))
    store.crash_at = -1
    reopened = Ledger(reference.genesis, store)
    assert reopened.height == 3
    for height in range(1, 4):
        reference.ledger.apply_block(chain.ledger.load_block(height)[0])
    assert reopened.state_root() == reference.ledger.state_root()


def test_a_sqlite_home_reopens_at_the_same_root_and_keeps_going(tmp_path: Path) -> None:
    genesis = make_genesis()
    store = SqliteStore(tmp_path / "chain.db")
    chain = Chain(genesis, store)
    chain.run(_transfer(chain))
    root = chain.ledger.state_root()
    store.close()
    again = SqliteStore(tmp_path / "chain.db")
    chain.ledger = Ledger(genesis, again)
    assert chain.ledger.state_root() == root and chain.ledger.height == 1
    assert chain.run(_transfer(chain)).txs[0].ok
    assert chain.ledger.account("bob").balances[USDC] == 1_000_000_000_000 + 2  # type: ignore[union-attr]
    again.close()


def test_a_store_of_another_genesis_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "chain.db")
    Ledger(make_genesis(), store)
    with pytest.raises(InvalidInput) as caught:
        Ledger(make_genesis(validators=2), store)
    assert caught.value.code is ChainReason.INVALID_GENESIS
    store.close()


def test_opening_a_home_without_genesis_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="genesis"):
        Ledger.open(tmp_path)
