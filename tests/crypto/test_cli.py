"""``optex keys`` and ``optex audit verify`` from the command line."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from optex.cli import _audit, _keys, _main
from optex.core import InvalidInput, OptexError, Unauthorized
from optex.crypto import AuditLog, PublicKey, SecurityReason
from tests.crypto.kit import CHAIN, NOW_MS

FAST = ["--scrypt-log-n", "10"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optex")
    subparsers = parser.add_subparsers(dest="command")
    _keys.register(subparsers)
    _audit.register(subparsers)
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return int(args.handler(args))


@pytest.fixture
def keydir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPTEX_KEY_PASSWORD", "first password")
    monkeypatch.setenv("OPTEX_NEW_KEY_PASSWORD", "second password")
    return tmp_path / "keys"


def test_keys_new_list_show_and_export_public(
    keydir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("keys", "--dir", str(keydir), "new", "Main Owner", *FAST) == 0
    path = keydir / "main-owner.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["version"] == "optex-gcm/1"
    capsys.readouterr()
    assert _run("keys", "--dir", str(keydir), "export-public", "main owner") == 0
    public = capsys.readouterr().out.strip()
    assert PublicKey.from_hex(public).hex() == doc["optex"]["public_key"]
    assert _run("keys", "--dir", str(keydir), "list") == 0
    assert "Main Owner" in capsys.readouterr().out
    assert _run("keys", "--dir", str(keydir), "show", "Main Owner") == 0
    assert "owner" in capsys.readouterr().out
    assert _run("keys", "--dir", str(keydir), "export-public", "Main Owner", "--pem") == 0
    assert "BEGIN PUBLIC KEY" in capsys.readouterr().out


def test_keys_new_refuses_to_overwrite_and_v3_files_are_written(keydir: Path) -> None:
    _run(
        "keys",
        "--dir",
        str(keydir),
        "new",
        "t1",
        "--role",
        "trading",
        "--format",
        "v3",
        "--kdf",
        "pbkdf2",
        *FAST,
    )
    assert json.loads((keydir / "t1.json").read_text())["crypto"]["kdf"] == "pbkdf2"
    with pytest.raises(OptexError) as info:
        _run("keys", "--dir", str(keydir), "new", "T1", *FAST)
    assert info.value.code is SecurityReason.KEY_EXISTS


def test_change_password_uses_password_files_and_rejects_the_old_one(
    keydir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run("keys", "--dir", str(keydir), "new", "k", *FAST)
    monkeypatch.delenv("OPTEX_KEY_PASSWORD")
    monkeypatch.delenv("OPTEX_NEW_KEY_PASSWORD")
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text("first password\n")
    new.write_text("a new password\n")
    assert (
        _run(
            "keys",
            "--dir",
            str(keydir),
            "change-password",
            "k",
            "--password-file",
            str(old),
            "--new-password-file",
            str(new),
            *FAST,
        )
        == 0
    )
    with pytest.raises(Unauthorized) as info:
        _run("keys", "--dir", str(keydir), "export-public", "k", "--password-file", str(old))
    assert info.value.code is SecurityReason.KEYSTORE_WRONG_PASSWORD
    assert (
        _run("keys", "--dir", str(keydir), "export-public", "k", "--password-file", str(new)) == 0
    )


def test_path_like_labels_cannot_escape_the_key_directory(keydir: Path) -> None:
    for label in ("../evil", "/etc/passwd", "a/b"):
        with pytest.raises(InvalidInput):
            _run("keys", "--dir", str(keydir), "new", label, *FAST)
    assert not keydir.exists() or list(keydir.iterdir()) == []


def _write_log(path: Path) -> str:
    log = AuditLog(CHAIN)
    with path.open("wb") as out:
        for i in range(4):
            out.write(log.append("login", f"u{i}", {"ip": "1.2.3.4"}, now_ms=NOW_MS + i)[1])
    assert log.head is not None
    return f"{log.head.seq}:{log.head.hash}"


def test_audit_verify_accepts_an_intact_log_and_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    anchor = _write_log(path)
    assert _run("audit", "verify", str(path), "--chain-id", CHAIN, "--anchor", anchor) == 0
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + lines[3:]))
    with pytest.raises(InvalidInput, match="line 3"):
        _run("audit", "verify", str(path), "--chain-id", CHAIN)
    path.write_bytes(b"".join(lines[:3]))
    with pytest.raises(InvalidInput) as info:
        _run("audit", "verify", str(path), "--chain-id", CHAIN, "--anchor", anchor)
    assert info.value.code is SecurityReason.AUDIT_TRUNCATED


_ENTRY = (
    "import sys\n"
    "from optex.cli import _main\n"
    "_main.COMMAND_MODULES = ('optex.cli._keys', 'optex.cli._audit')\n"
    "sys.exit(_main.main(sys.argv[1:]))\n"
)


@pytest.mark.integration
def test_the_optex_entry_point_runs_keys_and_audit_in_a_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "OPTEX_KEY_PASSWORD": "process password"}
    keydir = tmp_path / "keys"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _ENTRY,
            "keys",
            "--dir",
            str(keydir),
            "new",
            "node one",
            "--role",
            "node",
            *FAST,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    exported = subprocess.run(
        [sys.executable, "-c", _ENTRY, "keys", "--dir", str(keydir), "export-public", "node one"],
        env={**env, "OPTEX_KEY_PASSWORD": "wrong password"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 1
    assert "keystore_wrong_password" in exported.stderr
    path = tmp_path / "audit.jsonl"
    _write_log(path)
    path.write_bytes(path.read_bytes().replace(b'"u2"', b'"u9"'))
    verified = subprocess.run(
        [sys.executable, "-c", _ENTRY, "audit", "verify", str(path), "--chain-id", CHAIN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 1
    assert "line 3" in verified.stderr and "audit_broken" in verified.stderr
    assert _main.COMMAND_MODULES  # the real tuple is untouched by the child process
