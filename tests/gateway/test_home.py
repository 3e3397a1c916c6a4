"""The gateway home: provisioning API keys with owner-signed delegations, sealed secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optex.core import Conflict, OptexError
from optex.crypto import PrivateKey, SecurityReason, TradingScope, WithdrawalState
from optex.exchange import FileAuthority, delegations_from, load_delegations_file
from optex.gateway import GatewayConfig, gateway_public_key, init_home, provision_account, unlock
from optex.gateway._home import AccountRecords
from optex.gateway._reasons import GatewayReason
from tests.gateway.kit import PASSWORD


@pytest.fixture
def home(tmp_path: Path) -> Path:
    init_home(tmp_path / "gw", password=PASSWORD, scrypt_n=2**14)
    return tmp_path / "gw"


def test_provisioning_writes_a_key_and_the_owners_delegation_of_the_gateway_key(
    home: Path,
) -> None:
    owner = PrivateKey.generate()
    credentials = provision_account(home, "alice", owner, password=PASSWORD, now_ms=1_000_000)
    assert credentials.account == "alice" and credentials.client_secret
    assert credentials.client_secret not in repr(credentials)
    assert credentials.client_secret not in (home / "api-keys.json").read_text()
    keys = json.loads((home / "api-keys.json").read_text())
    assert [k["client_id"] for k in keys] == [credentials.client_id]
    delegations = delegations_from(load_delegations_file(home / "delegations.json"), "optex-devnet")
    gateway_key = gateway_public_key(home).raw
    delegations.check("alice", gateway_key, TradingScope.TRADE, 1_000_000)
    with pytest.raises(OptexError):
        delegations.check("bob", gateway_key, TradingScope.TRADE, 1_000_000)


def test_a_second_key_for_an_account_reuses_its_delegation(home: Path) -> None:
    owner = PrivateKey.generate()
    first = provision_account(home, "alice", owner, password=PASSWORD, now_ms=1_000_000)
    second = provision_account(
        home, "alice", owner, "account:read", password=PASSWORD, now_ms=1_000_001
    )
    assert first.client_id != second.client_id
    assert len(load_delegations_file(home / "delegations.json").authorizations) == 1


def test_another_owner_key_cannot_take_over_an_account(home: Path) -> None:
    provision_account(home, "alice", PrivateKey.generate(), password=PASSWORD)
    before = (home / "delegations.json").read_bytes(), (home / "api-keys.json").read_bytes()
    with pytest.raises(Conflict) as refused:
        provision_account(home, "alice", PrivateKey.generate(), password=PASSWORD)
    assert refused.value.reason == "owner_mismatch"
    assert (
        (home / "delegations.json").read_bytes(),
        (home / "api-keys.json").read_bytes(),
    ) == before


def test_the_keystore_needs_its_password(home: Path) -> None:
    assert unlock(home, PASSWORD).public_key == gateway_public_key(home)
    with pytest.raises(OptexError) as refused:
        unlock(home, "wrong password!")
    assert refused.value.code is SecurityReason.KEYSTORE_WRONG_PASSWORD


def test_a_home_keeps_its_config_and_key_when_initialised_again(tmp_path: Path) -> None:
    home = tmp_path / "gw"
    key = init_home(
        home, password=PASSWORD, config=GatewayConfig(chain_id="optex-test"), scrypt_n=2**14
    )
    assert init_home(home, password=PASSWORD, scrypt_n=2**14) == key
    assert json.loads((home / "gateway.json").read_text())["chain_id"] == "optex-test"


def test_the_engines_file_authority_sees_accounts_provisioned_after_it_started(home: Path) -> None:
    authority = FileAuthority(home / "delegations.json", "optex-devnet")
    gateway_key = gateway_public_key(home).raw
    with pytest.raises(OptexError):
        authority.check("carol", gateway_key, TradingScope.TRADE, 2_000_000)
    provision_account(home, "carol", PrivateKey.generate(), password=PASSWORD, now_ms=2_000_000)
    authority.check("carol", gateway_key, TradingScope.TRADE, 2_000_000)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"alice": {"addresses": 7}}', b"[]", b'{"alice": {"unknown": 1}}'],
)
def test_a_damaged_per_account_file_is_refused_and_left_as_it_is(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "withdrawals.json"
    path.write_bytes(content)
    records = AccountRecords(path, WithdrawalState)
    with pytest.raises(OptexError) as refused:
        records.get("alice")
    assert refused.value.reason == GatewayReason.INVALID_HOME.reason
    assert str(path) in refused.value.message
    # A write must not start afresh: that would drop every other account's record.
    with pytest.raises(OptexError):
        records.put("bob", WithdrawalState())
    assert path.read_bytes() == content


def test_per_account_records_keep_each_others_accounts(tmp_path: Path) -> None:
    records = AccountRecords(tmp_path / "withdrawals.json", WithdrawalState)
    assert records.get("alice") is None
    records.put("alice", WithdrawalState(history={"USDC": ((1, 5),)}))
    records.put("bob", WithdrawalState())
    assert records.get("alice") == WithdrawalState(history={"USDC": ((1, 5),)})
    records.put("alice", None)
    assert records.all() == {"bob": WithdrawalState()}
