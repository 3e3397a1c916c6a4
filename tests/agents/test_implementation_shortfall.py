"""Implementation shortfall against one market order for a large parent, over several seeds."""

from __future__ import annotations

import statistics

from optex.sim import Simulation
from tests.sim.kit import algo, scenario

SEEDS = range(1, 9)


def _cost_bps(kind: str, seed: int, **fields: object) -> float:
    sim = Simulation(
        scenario(
            seed=seed,
            duration_s=45,
            model={"kind": "gbm", "sigma": 0.2},
            chain={"expiry_days": [14], "strikes_per_expiry": 1},
            noise={"option_rate": 0.0, "perp_rate": 1.0},
            # A book whose depth grows slowly away from the touch: walking it is expensive.
            venues=[{"name": "main", "levels": 30, "level_lots": 200, "step_ticks": 10}],
            algos=[algo(kind, side="buy", lots=5000, duration_s=40, **fields)],
        ),
        seed=seed,
    )
    report = sim.run().algos[0]
    assert report.fill_rate == 1.0
    assert report.slippage_bps is not None
    return report.slippage_bps


def test_implementation_shortfall_beats_a_single_market_order_on_expected_cost() -> None:
    shortfall = [
        _cost_bps(
            "implementation_shortfall", seed, slices=20, sigma=1.0, eta=1.0, risk_aversion=2.0
        )
        for seed in SEEDS
    ]
    market = [_cost_bps("market_order", seed) for seed in SEEDS]
    assert statistics.fmean(shortfall) < statistics.fmean(market)
    # The market order's cost is almost all impact: every seed pays it.
    assert min(market) > 2.0
