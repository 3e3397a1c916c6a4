"""Account proofs for light clients, and the ``optex chain prove|verify`` commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.chain import (
    AccountProof,
    ChainReason,
    Ledger,
    SqliteStore,
    TradeBatch,
    decode_proof,
    dump_genesis,
    encode_proof,
    load_genesis,
    prove_account,
    sign_commit,
    verify_account_proof,
)
from optex.cli import _chain
from optex.core import InvalidInput, OptexError, encode
from optex.crypto import Side
from tests.chain.kit import OPERATOR, OPTION, Chain, make_genesis, validator_key


def traded(chain: Chain) -> None:
    chain.run(chain.register("alice"), chain.register("bob"))
    maker = chain.order("alice", Side.SELL, 500_000_000, 1_000_000)
    taker = chain.order("bob", Side.BUY, 500_000_000, 1_000_000)
    assert chain.run(chain.sign(OPERATOR, TradeBatch, fills=(chain.fill(maker, taker),))).txs[0].ok


@pytest.fixture(scope="module")
def proof() -> AccountProof:
    chain = Chain()
    traded(chain)
    chain.commit([0, 1, 2])
    return prove_account(chain.ledger, "bob")


def test_a_proof_shows_the_accounts_balances_and_positions(proof: AccountProof) -> None:
    proven = verify_account_proof(proof)
    assert proven.account == "bob" and proven.height == 2
    assert proven.record.positions[OPTION].quantity == 1_000_000
    assert proven.record.balances["USDC"] == 1_000_000_000_000 - 5_000_000 - 625_000


def test_the_proof_survives_its_json_and_binary_forms(proof: AccountProof) -> None:
    assert decode_proof(encode_proof(proof)) == proof
    assert decode_proof(encode_proof(proof, binary=True)) == proof


def test_every_single_byte_change_of_a_proof_is_caught(proof: AccountProof) -> None:
    data = encode(proof)
    for index in range(len(data)):
        changed = bytearray(data)
        changed[index] ^= 0x01
        with pytest.raises(OptexError):
            verify_account_proof(decode_proof(bytes(changed)))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_byte_change_of_a_proof_is_caught(proof: AccountProof, data: st.DataObject) -> None:
    raw = encode(proof)
    index = data.draw(st.integers(0, len(raw) - 1))
    changed = bytearray(raw)
    changed[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(OptexError):
        verify_account_proof(decode_proof(bytes(changed)))


def test_a_proof_fails_against_a_header_of_a_changed_state(proof: AccountProof) -> None:
    chain = Chain()
    traded(chain)
    chain.run(chain.register("carol"))
    chain.commit()
    newer = prove_account(chain.ledger, "alice")
    mixed = msgspec.structs.replace(newer, proof=proof.proof)
    with pytest.raises(InvalidInput) as caught:
        verify_account_proof(mixed)
    assert caught.value.code is ChainReason.INVALID_PROOF


def test_a_commit_of_two_thirds_or_less_of_the_stake_is_refused() -> None:
    chain = Chain()
    chain.block()
    with pytest.raises(InvalidInput) as caught:
        chain.commit([0, 1])
    assert caught.value.code is ChainReason.INVALID_COMMIT


def test_a_proof_whose_commit_lacks_a_quorum_is_refused(proof: AccountProof) -> None:
    weak = sign_commit(proof.header, [validator_key(0), validator_key(1)])
    with pytest.raises(InvalidInput) as caught:
        verify_account_proof(msgspec.structs.replace(proof, commit=weak))
    assert caught.value.code is ChainReason.INVALID_COMMIT


def test_a_proof_signed_by_an_untrusted_set_is_refused(proof: AccountProof) -> None:
    with pytest.raises(InvalidInput):
        verify_account_proof(proof, trusted_validators_hash=bytes(32))
    assert verify_account_proof(proof, trusted_validators_hash=proof.header.validators_hash)


def test_a_validator_set_swapped_for_one_the_forger_controls_is_refused(
    proof: AccountProof,
) -> None:
    forged_chain = Chain(make_genesis(validators=1))
    traded(forged_chain)
    forged_chain.commit()
    forged = prove_account(forged_chain.ledger, "bob")
    mixed = msgspec.structs.replace(forged, header=proof.header)
    with pytest.raises(InvalidInput):
        verify_account_proof(mixed)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="optex")
    _chain.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    genesis = make_genesis()
    (tmp_path / "genesis.json").write_text(dump_genesis(genesis))
    assert load_genesis(tmp_path / "genesis.json") == genesis
    store = SqliteStore(tmp_path / "chain.db")
    chain = Chain(genesis, store)
    traded(chain)
    chain.commit()
    store.close()
    return tmp_path


def test_chain_prove_and_verify_on_the_command_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = home / "bob.proof"
    assert _cli("chain", "prove", "bob", "--home", str(home), "--out", str(out)) == 0
    capsys.readouterr()
    assert _cli("chain", "verify", str(out)) == 0
    text = capsys.readouterr().out
    assert "proof verified" in text and "bob" in text
    assert OPTION in text and "1000000" in text


def test_chain_verify_exits_1_and_says_why_for_a_tampered_proof(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = home / "bob.proof"
    _cli("chain", "prove", "bob", "--home", str(home), "--out", str(out))
    document = json.loads(out.read_text())
    document["proof"]["value"] = document["proof"]["value"][:-4] + "AAA="
    out.write_text(json.dumps(document))
    capsys.readouterr()
    assert _cli("chain", "verify", str(out)) == 1
    assert "proof rejected" in capsys.readouterr().out


def test_chain_verify_exits_1_for_a_missing_or_garbled_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli("chain", "verify", str(tmp_path / "none")) == 1
    (tmp_path / "junk").write_text("{not json")
    assert _cli("chain", "verify", str(tmp_path / "junk")) == 1
    assert "proof rejected" in capsys.readouterr().out


def test_chain_prove_on_stdout_and_for_a_reopened_home(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli("chain", "prove", "alice", "--home", str(home)) == 0
    proof = decode_proof(capsys.readouterr().out.encode())
    assert verify_account_proof(proof).account == "alice"
    ledger = Ledger.open(home)
    assert ledger.height == 2


def test_proving_an_unknown_account_is_a_clear_error(home: Path) -> None:
    with pytest.raises(OptexError):
        _cli("chain", "prove", "nobody", "--home", str(home))


def test_chain_verify_with_a_pinned_validator_set(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = home / "bob.proof"
    _cli("chain", "prove", "bob", "--home", str(home), "--out", str(out))
    pinned = decode_proof(out.read_bytes()).header.validators_hash.hex()
    capsys.readouterr()
    assert _cli("chain", "verify", str(out), "--validators-hash", pinned) == 0
    assert "not pinned" not in capsys.readouterr().out
    assert _cli("chain", "verify", str(out), "--validators-hash", "00" * 32) == 1
    assert "not the trusted one" in capsys.readouterr().out
