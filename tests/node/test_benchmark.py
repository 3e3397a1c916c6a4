"""The consensus benchmark runs four validator processes and prints one JSON line."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "consensus.py"


def test_the_quick_benchmark_commits_every_submitted_transaction_without_a_fork() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["case"] == "four_validators_loopback_transfers"
    assert row["submitted"] > 0
    assert row["committed"] == row["committed_ok"] == row["submitted"]
    assert row["distinct_state_roots_at_common_height"] == 1
    assert 0 < row["latency_p50_s"] <= row["latency_p99_s"]
