"""The ledger benchmark runs and prints one JSON line per case."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ledger.py"


def test_the_quick_benchmark_prints_a_json_line_per_case() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["case"] for r in rows] == [
        "fills_cold",
        "fills_cached",
        "fills_resting_makers",
        "state_root",
    ]
    assert rows[0]["signature_verifies"] == 2 * rows[0]["fills"]
    assert rows[2]["signature_verifies"] < rows[0]["signature_verifies"]
    assert all(r.get("fills_per_s", 1) > 0 for r in rows)
