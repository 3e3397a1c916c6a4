"""The risk benchmark runs in quick mode and prints one JSON line per case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_quick_run_prints_its_figures_as_json_lines() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "risk.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [line["case"] for line in lines] == ["sweep", "matrix"]
    assert all(line["scenarios"] >= 50 and line["seconds"] > 0 for line in lines)
