"""Benchmark: portfolio margin of 10,000 accounts with 20 option and future positions each.

Every distinct instrument is priced once per scenario (instruments x scenarios), and the
accounts' scenario P&L is one matrix product with their positions. Runs on one core (BLAS and
OpenMP threads pinned to 1 before numpy loads). Prints one JSON line per case:

* ``sweep``: :func:`optex.risk.portfolio_margin_many` from the ledger's accounts (building the
  position matrix from the accounts included);
* ``matrix``: :func:`optex.risk.portfolio_margins` on a ready positions matrix (the kernel).

``--quick`` runs 500 accounts, for a smoke test.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402 - threads are pinned before numpy loads
import json  # noqa: E402 - threads are pinned before numpy loads
import time  # noqa: E402 - threads are pinned before numpy loads

import numpy as np  # noqa: E402 - threads are pinned before numpy loads

from optex.core import instrument_from_name  # noqa: E402 - threads are pinned before numpy loads
from optex.risk import (  # noqa: E402
    Ledger,
    Mark,
    Position,
    Prices,
    RiskParams,
    add_instrument,
    open_account,
    portfolio_margin_many,
    portfolio_margins,
    scenario_grid,
    scenario_table,
)

NOW_MS = 1_790_000_000_000
INDEX = 95_000 * 10**6
GOAL_S = 2.0


def build(accounts: int, per_account: int, seed: int) -> tuple[Ledger, Prices, list[str]]:
    ledger = Ledger()
    marks: dict[str, Mark] = {}
    rng = np.random.default_rng(seed)
    names: list[str] = []
    for day in ("25DEC26", "26MAR27", "25JUN27"):
        future = f"BTC-{day}"
        names.append(future)
        marks[future] = Mark(INDEX)
        for strike in range(60_000, 135_000, 5_000):
            for letter in ("C", "P"):
                name = f"BTC-{day}-{strike}-{letter}"
                names.append(name)
                marks[name] = Mark(1_000 * 10**6, iv=float(rng.uniform(0.45, 0.8)))
    names.append("BTC-PERPETUAL")
    marks["BTC-PERPETUAL"] = Mark(INDEX)
    for name in names:
        add_instrument(ledger, instrument_from_name(name))
    accounts_names = [f"acct{i}" for i in range(accounts)]
    for account_name in accounts_names:
        account = open_account(ledger, account_name, portfolio_margin=True)
        for pick in rng.choice(len(names), size=per_account, replace=False):
            name = names[pick]
            lot = ledger.instruments[name].lot_size
            lots = int(rng.integers(1, 200)) * (1 if rng.random() < 0.5 else -1)
            account.positions[name] = Position(lots * lot)
    return ledger, Prices(index={"BTC": INDEX}, marks=marks, ts_ms=NOW_MS), accounts_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 accounts, a smoke run")
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    accounts = 500 if args.quick else args.accounts
    params = {"BTC": RiskParams()}
    scenarios = scenario_grid(params["BTC"].portfolio).moves.size
    ledger, prices, names = build(accounts, 20, seed=1)

    start = time.perf_counter()
    result = portfolio_margin_many(ledger, names, prices, params, now_ms=NOW_MS)
    sweep = time.perf_counter() - start
    assert len(result) == accounts and all(r.initial >= 0 for r in result.values())

    instruments = sorted(ledger.instruments.values(), key=lambda i: i.name)
    column = {inst.name: i for i, inst in enumerate(instruments)}
    matrix = np.zeros((accounts, len(instruments)), dtype=np.int64)
    for row, name in enumerate(names):
        for inst_name, position in ledger.accounts[name].positions.items():
            matrix[row, column[inst_name]] = position.quantity
    start = time.perf_counter()
    table = scenario_table(
        "BTC", instruments, prices, now_ms=NOW_MS, params=params["BTC"].portfolio
    )
    initial, _ = portfolio_margins(table, matrix, params["BTC"].portfolio.mm_fraction_ppm)
    kernel = time.perf_counter() - start
    assert int(initial.sum()) == sum(r.initial for r in result.values())

    common = {
        "accounts": accounts,
        "positions_per_account": 20,
        "instruments": len(instruments),
        "scenarios": scenarios,
        "threads": 1,
        "goal_s": GOAL_S,
    }
    for case, seconds in (("sweep", sweep), ("matrix", kernel)):
        line = {"benchmark": "risk.portfolio_margin", "case": case, **common}
        line["seconds"] = round(seconds, 4)
        line["accounts_per_s"] = round(accounts / seconds)
        line["within_goal"] = seconds < GOAL_S
        print(json.dumps(line))


if __name__ == "__main__":
    main()
