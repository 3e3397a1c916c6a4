"""Matching throughput and latency of optex.market beside the order books a user might pick.

Two seeded streams, each on one book and spread over 500 option books:

* ``exchange-core``: about 9% new GTC, 3% IOC, 6% cancel, 82% move (amend the price), around
  1,000 resting orders over 750 price levels (per book: 1,000 on one book, 20 on each of 500);
* ``passive``: 60% passive limits near the touch, 35% cancels, 5% crossing IOC orders.

The stream is generated once by driving an optex engine (so every cancel and move names a live
order), then replayed on fresh books: optex ``MatchingEngine.process``, ``pyorderbook`` (pure
Python) and ``liquibook`` (C++ via SWIG) when importable (install them into a separate venv:
``pip install liquibook==2.0.1 pyorderbook==0.4.9``). One JSON line per engine and case: ops/s
over a whole pass, p50/p99 microseconds per operation from a second, individually timed pass,
and whether the final depth agrees with optex's (every level, summed from each library's own
resting orders).

    python benchmarks/matching.py [--quick] [--ops N] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from optex.core import Instrument, instrument_from_name
from optex.market import (
    AmendOrder,
    CancelOrder,
    MatchingEngine,
    NewOrder,
    SetSelfTradePrevention,
    Side,
    StpMode,
    TimeInForce,
)

# ("new", book, is_buy, ticks, lots, ioc, id) | ("cancel", book, id)
# | ("move", book, id, ticks, open lots, is_buy)
Op = tuple[Any, ...]

CENTER = 20_000  # ticks: 100,000 USDC at a 5 USDC tick


def instruments(count: int) -> list[Instrument]:
    """``count`` BTC options (one strike ladder), or the perpetual for one book."""
    if count == 1:
        return [instrument_from_name("BTC-PERPETUAL")]
    strikes = [50_000 + 250 * i for i in range(count // 2)]
    names = [f"BTC-25DEC26-{k}-{cp}" for k in strikes for cp in ("C", "P")]
    return [instrument_from_name(n) for n in names[:count]]


def generate(mix: str, books: int, ops: int, seed: int) -> tuple[list[Any], list[Op]]:
    """A valid command stream and the same stream as engine-neutral operations."""
    rng = random.Random(seed)
    insts = instruments(books)
    engine = MatchingEngine(insts)
    engine.process(SetSelfTradePrevention(0, "mm", StpMode.ALLOW))
    target = 1000 if books == 1 else 20
    live: list[list[int]] = [[] for _ in insts]
    where: dict[int, tuple[int, int]] = {}
    commands: list[Any] = []
    neutral: list[Op] = []
    tick = insts[0].tick_size
    lot = insts[0].lot_size
    spread_half = 750 if books == 1 else 40

    def forget(book: int, oid: int) -> None:
        ids = live[book]
        _, pos = where.pop(oid)
        last = ids.pop()
        if last != oid:
            ids[pos] = last
            where[last] = (book, pos)

    def run(command: Any, book: int) -> None:
        events = engine.process(command)
        commands.append(command)
        for ev in events:
            kind = type(ev).__name__
            if kind == "Fill" and engine.order(ev.maker_order_id) is None:
                if ev.maker_order_id in where:
                    forget(book, ev.maker_order_id)
            elif kind == "BookDelta":
                continue
            elif kind == "OrderAccepted":
                oid = ev.order_id
                if engine.order(oid) is not None:
                    where[oid] = (book, len(live[book]))
                    live[book].append(oid)
        if isinstance(command, CancelOrder | AmendOrder):
            oid = command.order_id
            if engine.order(oid) is None and oid in where:
                forget(book, oid)

    for step in range(ops):
        ts = step + 1
        b = rng.randrange(books)
        inst = insts[b].name
        ids = live[b]
        book = engine.book(inst)
        bid, ask = book.best_bid(), book.best_ask()
        bid_t = bid // tick if bid else CENTER - 1
        ask_t = ask // tick if ask else CENTER + 1
        r = rng.random()
        if mix == "exchange-core":
            if r < 0.09 or not ids:
                kind = "gtc"
            elif r < 0.12:
                kind = "ioc"
            elif r < 0.18:
                kind = "cancel"
            else:
                kind = "move"
            # Hold the book near its target size, as exchange-core's generator does, by
            # trading a new order for a cancel (or back) when the book drifts.
            if kind == "gtc" and len(ids) > target * 1.05:
                kind = "cancel"
            elif kind in ("cancel", "move") and len(ids) < target * 0.95:
                kind = "gtc"
        elif r < 0.60 or not ids:
            kind = "near"
        elif r < 0.95:
            kind = "cancel"
        else:
            kind = "ioc"
        is_buy = rng.random() < 0.5
        lots = rng.randint(1, 10)
        if kind == "gtc":
            off = rng.randint(1, spread_half)
            ticks = CENTER - off if is_buy else CENTER + off
        elif kind == "near":
            off = rng.randint(0, 4)
            ticks = min(bid_t + 1, ask_t - 1) - off if is_buy else max(ask_t - 1, bid_t + 1) + off
            ticks = max(ticks, 1)
        elif kind == "ioc":
            ticks = ask_t + rng.randint(0, 3) if is_buy else max(bid_t - rng.randint(0, 3), 1)
        if kind in ("gtc", "near", "ioc"):
            ioc = kind == "ioc"
            tif = TimeInForce.IOC if ioc else TimeInForce.GTC
            side = Side.BUY if is_buy else Side.SELL
            cmd = NewOrder(ts, "mm", inst, side, lots * lot, price=ticks * tick, tif=tif)
            neutral.append(("new", b, is_buy, ticks, lots, ioc, engine._next_order_id))
            run(cmd, b)
        elif kind == "cancel":
            oid = ids[rng.randrange(len(ids))]
            neutral.append(("cancel", b, oid))
            run(CancelOrder(ts, "mm", order_id=oid), b)
        else:
            oid = ids[rng.randrange(len(ids))]
            order = engine.order(oid)
            assert order is not None and order.price is not None
            old = order.price // tick
            new = max(old + rng.choice((-3, -2, -1, 1, 2, 3)), 1)
            if new == old:
                new = old + 1
            neutral.append(("move", b, oid, new, order.remaining // lot, order.is_buy))
            run(AmendOrder(ts, "mm", order_id=oid, price=new * tick), b)
    return commands, neutral


def optex_depth(engine: MatchingEngine, names: list[str], tick: int, lot: int) -> list[Any]:
    out = []
    for name in names:
        bids, asks = engine.book(name).depth(10_000)
        out.append(
            ([(p // tick, q // lot) for p, q in bids], [(p // tick, q // lot) for p, q in asks])
        )
    return out


class OptexRunner:
    name = "optex"

    def __init__(self, commands: list[Any], insts: list[Instrument]) -> None:
        self.commands = commands
        self.insts = insts

    def fresh(self) -> Callable[[int], None]:
        engine = MatchingEngine(self.insts)
        engine.process(SetSelfTradePrevention(0, "mm", StpMode.ALLOW))
        self.engine = engine
        process = engine.process
        commands = self.commands

        def step(i: int) -> None:
            process(commands[i])

        return step

    def run_all(self) -> float:
        engine = MatchingEngine(self.insts)
        engine.process(SetSelfTradePrevention(0, "mm", StpMode.ALLOW))
        self.engine = engine
        process = engine.process
        start = time.perf_counter()
        for command in self.commands:
            process(command)
        return time.perf_counter() - start

    def depth(self) -> list[Any]:
        names = [i.name for i in self.insts]
        return optex_depth(self.engine, names, self.insts[0].tick_size, self.insts[0].lot_size)


class PyOrderBookRunner:
    name = "pyorderbook"

    def __init__(self, ops: list[Op], insts: list[Instrument]) -> None:
        import pyorderbook

        self.lib = pyorderbook
        self.ops = ops
        self.symbols = [i.name for i in insts]

    def fresh(self) -> Callable[[int], None]:
        lib = self.lib
        book = lib.Book()
        self.book = book
        orders: dict[int, Any] = {}
        ops, symbols = self.ops, self.symbols
        bid, ask = lib.bid, lib.ask

        def step(i: int) -> None:
            op = ops[i]
            if op[0] == "new":
                _, b, is_buy, ticks, lots, ioc, oid = op
                order = (bid if is_buy else ask)(symbols[b], ticks, lots)
                book.match(order)
                if order.quantity:
                    if ioc:
                        book.cancel(order)
                    else:
                        orders[oid] = order
            elif op[0] == "cancel":
                book.cancel(orders.pop(op[2]))
            else:
                _, b, oid, ticks, _, _ = op
                old = orders.pop(oid)
                book.cancel(old)
                order = (bid if old.side == lib.Side.BID else ask)(symbols[b], ticks, old.quantity)
                book.match(order)
                if order.quantity:
                    orders[oid] = order

        return step

    def depth(self) -> list[Any]:
        out = []
        for symbol in self.symbols:
            sides = []
            for side, reverse in ((self.lib.Side.BID, True), (self.lib.Side.ASK, False)):
                levels = self.book.level_map[symbol][side]
                rows = [
                    (int(p), sum(o.quantity for o in lv.orders.values()))
                    for p, lv in levels.items()
                    if lv.orders
                ]
                sides.append(sorted(rows, reverse=reverse))
            out.append((sides[0], sides[1]))
        return out


class LiquibookRunner:
    name = "liquibook"

    def __init__(self, ops: list[Op], insts: list[Instrument]) -> None:
        import liquibook

        self.lib = liquibook
        self.ops = ops
        self.count = len(insts)

    def fresh(self) -> Callable[[int], None]:
        lib = self.lib
        books = [lib.DepthOrderBook() for _ in range(self.count)]
        self.books = books
        orders: dict[int, Any] = {}
        keep: list[Any] = []  # SWIG ownership: every order stays referenced
        ops = self.ops
        simple = lib.SimpleOrder
        ioc_flag = lib.oc_immediate_or_cancel

        def step(i: int) -> None:
            op = ops[i]
            if op[0] == "new":
                _, b, is_buy, ticks, lots, ioc, oid = op
                book = books[b]
                if ioc:
                    # liquibook 2.0.1 rests an IOC order when the other side is empty.
                    if (book.asks() if is_buy else book.bids()).size():
                        order = simple(is_buy, ticks, lots, 0, ioc_flag)
                        keep.append(order)
                        book.add(order)
                        # ... and sometimes an IOC's unfilled rest: cancel whatever is left.
                        book.cancel(order)
                    return
                order = simple(is_buy, ticks, lots)
                keep.append(order)
                book.add(order)
                orders[oid] = order
            elif op[0] == "cancel":
                books[op[1]].cancel(orders.pop(op[2]))
            else:
                # A move is cancel + add of the open quantity (which a user knows from fill
                # callbacks). DepthOrderBook.replace is not used: SimpleOrder learns its new
                # price only through a listener callback, so a second replace of the same order
                # looks for it at the old price and silently does nothing.
                _, b, oid, ticks, lots, is_buy = op
                book = books[b]
                book.cancel(orders[oid])
                order = simple(is_buy, ticks, lots)
                keep.append(order)
                book.add(order)
                orders[oid] = order

        return step

    def depth(self) -> list[Any]:
        # Summed from the order trackers: the DepthOrderBook's own depth cache logs internal
        # errors ("close_order level quantity too low") on replaces and IOCs, so it is not used.
        out = []
        for book in self.books:
            sides = []
            for tracked, reverse in ((book.bids(), True), (book.asks(), False)):
                levels: dict[int, int] = {}
                for key, tracker in tracked.items():
                    if tracker.open_qty():
                        price = key.price()
                        levels[price] = levels.get(price, 0) + tracker.open_qty()
                sides.append(sorted(levels.items(), reverse=reverse))
            out.append((sides[0], sides[1]))
        return out


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def measure(runner: Any, n: int, repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` whole-pass throughput, then one individually timed pass."""
    best = float("inf")
    for _ in range(repeats):
        step = runner.fresh()
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        for i in range(n):
            step(i)
        best = min(best, time.perf_counter() - start)
        gc.enable()
    step = runner.fresh()
    clock = time.perf_counter_ns
    samples = [0] * n
    gc.collect()
    gc.disable()
    for i in range(n):
        t0 = clock()
        step(i)
        samples[i] = clock() - t0
    gc.enable()
    samples.sort()
    return {
        "ops_per_s": round(n / best),
        "p50_us": round(percentile(samples, 0.50), 2),
        "p99_us": round(percentile(samples, 0.99), 2),
    }


def trim(depth: list[Any], levels: int | None) -> list[Any]:
    if levels is None:
        return depth
    return [(b[:levels], a[:levels]) for b, a in depth]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--ops", type=int, default=None, help="operations per case")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    ops = args.ops or (3_000 if args.quick else 200_000)
    repeats = args.repeats or (1 if args.quick else 3)
    for mix in ("exchange-core", "passive"):
        for books in (1, 500):
            insts = instruments(books)
            commands, neutral = generate(mix, books, ops, args.seed)
            optex = OptexRunner(commands, insts)
            # Warm the optex runner's step closure over the same commands.
            step = optex.fresh()
            base = {"case": f"{mix}/{books}-books", "ops": ops, "python": platform.python_version()}
            figures = measure(optex, ops, repeats)
            reference = optex.depth()
            results = {"optex": figures}
            for cls, levels in ((PyOrderBookRunner, None), (LiquibookRunner, None)):
                try:
                    runner = cls(neutral, insts)
                except ImportError:
                    print(json.dumps({**base, "engine": cls.name, "status": "unavailable"}))
                    continue
                peer = measure(runner, ops, repeats)
                peer["depth_agrees"] = trim(runner.depth(), levels) == trim(reference, levels)
                results[cls.name] = peer
            del step
            for name, fig in results.items():
                line = {**base, "engine": name, **fig}
                if name != "optex":
                    line["optex_speedup"] = round(figures["ops_per_s"] / fig["ops_per_s"], 2)
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
