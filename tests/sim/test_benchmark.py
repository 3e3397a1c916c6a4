"""The simulation benchmark runs in quick mode and prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_quick_run_prints_its_figures_as_one_json_line() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "simulate.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(lines) == 1
    line = lines[0]
    assert line["case"] == "scenario" and line["options"] == 100 and line["algos"] == 10
    assert line["steps"] == 30 and line["events"] > 0 and line["events_per_s"] > 0
