"""The engine service benchmark runs and prints one JSON line per case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_service_benchmark_quick_run_prints_one_json_line_per_case() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "engine_service.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["case"] for line in lines] == [
        "file-always",
        "file-interval",
        "file-always-1-client",
        "jetstream",
    ]
    file_cases = [line for line in lines if line["case"].startswith("file")]
    assert all(
        line["commands_per_s"] > 0 and line["p99_us"] >= line["p50_us"] for line in file_cases
    )
    assert file_cases[0]["state_hash"] == file_cases[1]["state_hash"]
    assert file_cases[2]["mean_batch"] == 1.0
