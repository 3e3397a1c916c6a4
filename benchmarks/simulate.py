"""Simulated engine events per second of a full scenario.

The example scenario (examples/scenario.toml): a market maker quoting 100 options with mass
quotes under the risk engine's pre-trade margin check, 10 execution algorithms, noise and
informed traders, and a liquidity ladder on two venues. Prints one JSON line.

    .venv/bin/python benchmarks/simulate.py            # the whole 30-minute scenario
    .venv/bin/python benchmarks/simulate.py --quick    # 30 simulated seconds, a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import msgspec

from optex.sim import Simulation, load_scenario, option_chain

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "scenario.toml"


def main() -> None:
    """Run the scenario and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 simulated seconds only")
    parser.add_argument("--scenario", type=Path, default=EXAMPLE)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    if args.quick:
        scenario = msgspec.structs.replace(scenario, duration_s=30.0)
    started = time.perf_counter()
    sim = Simulation(scenario)
    built = time.perf_counter()
    report = sim.run()
    seconds = time.perf_counter() - built
    fills = sum(v.tape(i).trades for v in sim.venues for i in v.engine.instruments())
    print(
        json.dumps(
            {
                "case": "scenario",
                "options": len(option_chain(scenario)),
                "algos": len(scenario.algos),
                "steps": report.steps,
                "simulated_s": report.steps * scenario.step_ms / 1000,
                "events": report.events,
                "fills": fills,
                "setup_s": round(built - started, 3),
                "seconds": round(seconds, 3),
                "events_per_s": round(report.events / seconds),
                "steps_per_s": round(report.steps / seconds, 1),
                "mm_spread_pnl_usdc": round(report.market_maker.spread_pnl, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
