"""Shared builders for the agents and simulation tests: small scenarios in a few lines."""

from __future__ import annotations

from typing import Any

from optex.sim import Scenario, parse_scenario


def scenario(**overrides: Any) -> Scenario:
    """A small, fast scenario (one expiry, five strikes, one venue) with ``overrides``."""
    data: dict[str, Any] = {
        "name": "test",
        "seed": 1,
        "duration_s": 120,
        "step_ms": 1000,
        "record_ms": 5000,
        "model": {"kind": "gbm", "sigma": 0.5},
        "chain": {"expiry_days": [14], "strikes_per_expiry": 5, "strike_step": 2000},
        "noise": {"option_rate": 0.5, "perp_rate": 1.0},
        "venues": [{"name": "main"}],
    }
    data.update(overrides)
    return parse_scenario(data)


def algo(kind: str, **fields: Any) -> dict[str, Any]:
    """An algorithm table for a scenario."""
    return {"kind": kind, **fields}
