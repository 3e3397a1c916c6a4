"""``optex node``: init writes a devnet; ``optex node --home`` means ``run``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from optex.chain import load_genesis
from optex.cli import _node
from optex.core import InvalidInput
from optex.node import load_config
from optex.node._config import NODE_KEY_FILE, VALIDATOR_KEY_FILE, load_key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optex")
    _node.register(parser.add_subparsers(dest="command"))
    return parser


def test_node_with_only_a_home_runs_the_node() -> None:
    args = _parser().parse_args(["node", "--home", "homes/x"])
    assert args.handler is _node.run and args.home == Path("homes/x")
    args = _parser().parse_args(["node", "run", "--home", "homes/y"])
    assert args.handler is _node.run and args.home == Path("homes/y")


def test_node_init_writes_a_genesis_encrypted_keys_and_peered_homes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTEX_NODE_PASSWORD", "devnet-password-1")
    args = _parser().parse_args(
        ["node", "init", "--validators", "3", "--home", str(tmp_path), "--base-port", "31000"]
    )
    assert args.handler(args) == 0
    genesis = load_genesis(tmp_path / "genesis.json")
    assert len(genesis.validators) == 3
    for i in range(3):
        home = tmp_path / f"node{i}"
        config = load_config(home)
        assert (config.p2p_port, config.rpc_port) == (31000 + 2 * i, 31001 + 2 * i)
        assert [p.port for p in config.peers] == [31000 + 2 * j for j in range(3) if j != i]
        assert [p.dial for p in config.peers] == [j > i for j in range(3) if j != i]
        key = load_key(home / VALIDATOR_KEY_FILE, "devnet-password-1")
        assert key.public_key.hex() == genesis.validators[i].consensus_key
        text = (home / VALIDATOR_KEY_FILE).read_text()
        assert json.loads(text)["crypto"]["ciphertext"]
        assert key.seed().reveal().hex() not in text
        load_key(home / NODE_KEY_FILE, "devnet-password-1")


def test_node_init_refuses_a_root_that_already_holds_a_network(tmp_path: Path) -> None:
    args = _parser().parse_args(["node", "init", "--validators", "1", "--home", str(tmp_path)])
    assert args.handler(args) == 0
    with pytest.raises(InvalidInput):
        args.handler(args)


def test_node_without_a_home_is_a_usage_error() -> None:
    args = _parser().parse_args(["node"])
    assert args.handler(args) == 2


def test_chain_init_is_the_same_command_as_node_init(tmp_path: Path) -> None:
    from optex.cli._main import build_parser

    args = build_parser().parse_args(
        ["chain", "init", "--validators", "2", "--home", str(tmp_path), "--base-port", "31100"]
    )
    assert args.handler is _node.run_init
    assert args.handler(args) == 0
    assert len(load_genesis(tmp_path / "genesis.json").validators) == 2
