"""``optex simulate``: the parser from the command module, and one real process."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from optex.cli import _simulate

SMALL = """
name = "cli-test"
seed = 4
duration_s = 20
record_ms = 5000
[chain]
expiry_days = [14]
strikes_per_expiry = 3
[[algos]]
kind = "twap"
lots = 100
duration_s = 15
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optex")
    _simulate.register(parser.add_subparsers(dest="command"))
    return parser


def test_the_module_registers_simulate_with_its_options() -> None:
    args = _parser().parse_args(["simulate", "s.toml", "--out", "r", "--seed", "9"])
    assert args.config == Path("s.toml") and args.out == Path("r") and args.seed == 9
    assert args.handler is _simulate.run
    defaults = _parser().parse_args(["simulate", "s.toml"])
    assert defaults.seed is None and defaults.out == Path("simulation")


def test_the_handler_writes_the_report_with_the_seed_override(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text(SMALL, encoding="utf-8")
    args = _parser().parse_args(
        ["simulate", str(config), "--out", str(tmp_path / "r"), "--seed", "8", "--quiet"]
    )
    assert args.handler(args) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert report["seed"] == 8 and report["scenario"] == "cli-test"


def test_a_real_process_runs_a_scenario_and_prints_its_tables(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text(SMALL, encoding="utf-8")
    program = (
        "import argparse, sys\n"
        "from optex.cli import _simulate\n"
        "parser = argparse.ArgumentParser(prog='optex')\n"
        "_simulate.register(parser.add_subparsers(dest='command'))\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "sys.exit(args.handler(args))\n"
    )
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-c", program, "simulate", str(config), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "market maker" in result.stdout and "twap" in result.stdout
    assert "events/s" in result.stdout
    assert (tmp_path / "r" / "mm_pnl.png").exists()


def test_a_missing_scenario_file_fails_with_a_clear_error(tmp_path: Path) -> None:
    program = (
        "import argparse, sys\n"
        "from optex.cli import _simulate\n"
        "from optex.core import OptexError\n"
        "parser = argparse.ArgumentParser(prog='optex')\n"
        "_simulate.register(parser.add_subparsers(dest='command'))\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "try:\n"
        "    sys.exit(args.handler(args))\n"
        "except OptexError as exc:\n"
        "    print(exc.reason, exc.message, file=sys.stderr)\n"
        "    sys.exit(1)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, "simulate", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "invalid_scenario" in result.stderr and "nope.toml" in result.stderr
