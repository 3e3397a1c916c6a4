"""``optex settle``'s options: a clear refusal before anything starts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from optex.cli import _settle
from optex.core import OptexError
from optex.crypto import KeyRole, PrivateKey, encode_keystore, encrypt_key


def keystore(tmp_path: Path) -> Path:
    path = tmp_path / "operator.json"
    key = encrypt_key(
        PrivateKey.generate(), "correct horse", label="operator", role=KeyRole.OWNER, scrypt_n=2**14
    )
    path.write_bytes(encode_keystore(key))
    return path


def args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--engine-home", str(tmp_path / "engine"),
        "--node", "http://127.0.0.1:1",
        "--operator-key", str(keystore(tmp_path)),
        *extra,
    ]  # fmt: skip


def test_settle_refuses_to_start_without_a_keystore_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_settle.PASSWORD_ENV, raising=False)
    with pytest.raises(SystemExit, match="no keystore password"):
        _settle.main(args(tmp_path))
    assert not (tmp_path / "engine").exists()


def test_settle_refuses_a_batch_size_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--max-fills"):
        _settle.main(args(tmp_path, "--max-fills", "0"))


def test_settle_refuses_a_wrong_password(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("wrong\n")
    with pytest.raises(OptexError) as refused:
        _settle.main(args(tmp_path, "--password-file", str(tmp_path / "password")))
    assert refused.value.reason == "keystore_wrong_password"
    assert not (tmp_path / "engine").exists()


def test_the_parser_registers_settle_with_its_options() -> None:
    parser = argparse.ArgumentParser()
    _settle.add_parser(parser.add_subparsers())
    parsed = parser.parse_args(
        ["settle", "--engine-home", "e", "--node", "http://127.0.0.1:9", "--operator-key", "k"]
    )
    assert parsed.handler is _settle.run_settle
    assert parsed.max_fills == 200 and parsed.home is None
