"""The matching benchmark runs and reports one JSON line per engine and case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_matching_benchmark_quick_run_prints_one_json_line_per_case() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "matching.py"), "--quick", "--ops", "1500"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    optex = [line for line in lines if line["engine"] == "optex"]
    assert {line["case"] for line in optex} == {
        "exchange-core/1-books",
        "exchange-core/500-books",
        "passive/1-books",
        "passive/500-books",
    }
    assert all(line["ops_per_s"] > 0 and line["p99_us"] >= line["p50_us"] for line in optex)
    for line in lines:
        if line["engine"] != "optex" and line.get("status") != "unavailable":
            assert line["depth_agrees"], line
