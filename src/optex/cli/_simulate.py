"""``optex simulate``: run a scenario file and write its report, with a progress bar."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


def register(subparsers: Any) -> None:
    """Add ``simulate`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "simulate",
        help="run a simulated market scenario and write its report",
        description="Run a scenario (TOML): seeded index path, option market maker, noise and "
        "informed traders and execution algorithms on the real matching and risk engines. "
        "Writes report.json, report.md and PNG plots.",
    )
    parser.add_argument(
        "config", type=Path, help="scenario file (TOML), e.g. examples/scenario.toml"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("simulation"), help="report folder (default: simulation)"
    )
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar or tables, only the paths written"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load, simulate, print the tables and write the report."""
    # Imported here so that `optex --help` does not pay for numpy, scipy and the engines.
    from optex.sim import Simulation, load_scenario, report_tables, write_report  # noqa: PLC0415

    # A report piped to a file gets room for its tables; a terminal keeps its own width.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    scenario = load_scenario(args.config)
    sim = Simulation(scenario, args.seed)
    started = time.perf_counter()
    if args.quiet:
        report = sim.run()
    else:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"simulating {scenario.name}", total=scenario.steps)
            report = sim.run(lambda done, total: bar.update(task, completed=done))
    elapsed = time.perf_counter() - started
    written = write_report(report, args.out)
    if not args.quiet:
        for table in report_tables(report):
            console.print(table)
        console.print(
            f"{report.events:,} engine events in {elapsed:.1f} s "
            f"({report.events / max(elapsed, 1e-9):,.0f} events/s)"
        )
    for path in written:
        console.print(str(path))
    return 0
