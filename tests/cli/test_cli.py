"""The ``optex`` command, run as a user runs it: a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import optex

OPTEX = shutil.which("optex") or str(Path(sys.executable).with_name("optex"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run(
        [OPTEX, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"optex {optex.__version__}"


def test_help_lists_the_instruments_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "instruments" in result.stdout


def test_instruments_lists_the_days_btc_listing_as_a_table() -> None:
    result = run("instruments", "--underlying", "BTC", "--spot", "95000", "--date", "2026-11-23")
    assert result.returncode == 0, result.stderr
    assert "BTC-PERPETUAL" in result.stdout
    assert "BTC-23NOV26-95000-C" in result.stdout  # today's daily: listed before 08:00
    assert "BTC-25DEC26" in result.stdout


def test_instruments_can_show_one_kind() -> None:
    result = run(
        "instruments",
        "--underlying",
        "ETH",
        "--spot",
        "3500",
        "--date",
        "2026-11-23",
        "--kind",
        "future",
    )
    assert result.returncode == 0
    assert "ETH-PERPETUAL" not in result.stdout
    assert "ETH-25DEC26" in result.stdout
    assert "-C " not in result.stdout


def test_bad_arguments_give_a_clear_error_and_a_non_zero_exit() -> None:
    for args in (
        ("instruments", "--underlying", "BTC", "--spot", "-5"),
        ("instruments", "--underlying", "BTC", "--spot", "abc"),
        ("instruments", "--underlying", "DOGE", "--spot", "1"),
        ("instruments", "--underlying", "BTC", "--spot", "1", "--date", "2026-13-01"),
    ):
        result = run(*args)
        assert result.returncode == 2
        assert "error" in result.stderr
