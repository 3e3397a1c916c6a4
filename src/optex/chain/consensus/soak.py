"""Soak the consensus simulation over many seeds: ``python -m optex.chain.consensus.soak``.

Each seed is an independent, reproducible run of :mod:`optex.chain.consensus.sim`; a failing
seed is printed with its scenario and re-runs identically with ``--start SEED --seeds 1``.
Exits 1 if any seed failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from optex.chain.consensus.sim import Result, run, scenario


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; the exit status is 1 when any seed failed."""
    parser = argparse.ArgumentParser(prog="python -m optex.chain.consensus.soak")
    parser.add_argument("--seeds", type=int, default=5000, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)"
    )
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be at least 1")
    console = Console(stderr=True)
    seeds = range(args.start, args.start + args.seeds)
    failures: list[Result] = []
    started = time.perf_counter()
    columns = (
        TextColumn("[bold]consensus soak"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("soak", total=len(seeds), failed=0)
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for result in pool.map(run, seeds, chunksize=16):
                if not result.ok:
                    failures.append(result)
                    progress.console.print(f"[red]seed {result.seed} FAILED[/]: {result.failure}")
                progress.update(task, advance=1, failed=len(failures))
    elapsed = time.perf_counter() - started
    for result in failures:
        print(f"failing seed {result.seed}: {result.failure}\n  {scenario(result.seed)}")
    print(
        f"{len(seeds)} seeds from {args.start}: {len(seeds) - len(failures)} passed, "
        f"{len(failures)} failed in {elapsed:.1f} s"
    )
    if failures:
        print("failing seeds: " + " ".join(str(r.seed) for r in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
