"""The package's public surface and the benchmark's smoke run."""

import json
import subprocess
import sys
from pathlib import Path

import optex.pricing

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_sorted_and_every_name_is_exported():
    names = optex.pricing.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(optex.pricing, name), name


def test_benchmark_quick_run_prints_one_json_line_per_case():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pricing.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    optex_rows = {row["case"]: row for row in lines if row["impl"] == "optex"}
    assert set(optex_rows) == {"black76_price", "black76_greeks", "implied_vol", "heston_smile_100"}
    assert optex_rows["implied_vol"]["max_rel_vol_err"] < 1e-12
    assert optex_rows["heston_smile_100"]["max_abs_err"] < 1e-9
