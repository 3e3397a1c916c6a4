"""A seeded command stream over two instruments with every command type, and a replay entry.

``python -m tests.market.replay SEED COUNT`` prints the hex digests of the events and of the
final state, so a test can compare them with a run in another process.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from optex.core import encode
from optex.market import (
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    MassCancel,
    MassQuote,
    MatchingEngine,
    NewOrder,
    OrderType,
    PostOnly,
    PriceSource,
    Quote,
    ResetMmp,
    SetMmpConfig,
    SetPosition,
    Side,
    StpMode,
    TimeInForce,
    UpdatePrice,
)
from tests.market.kit import CALL, LOT, NAME, PERP, TICK

NAMES = (NAME, CALL.name)


def seeded_stream(seed: int, count: int) -> list[Any]:
    """``count`` commands drawn from ``seed``; a pure function of its arguments."""
    rng = random.Random(seed)
    out: list[Any] = [
        SetMmpConfig(0, "mm", "g", 50, 20, 8 * LOT, 6 * LOT),
        UpdatePrice(0, CALL.name, PriceSource.MARK, 10 * TICK, delta_ppm=400_000),
    ]
    ts = 1
    for _ in range(count):
        ts += rng.choice((0, 1, 1, 2))
        name = rng.choice(NAMES)
        center = 100 if name == NAME else 10
        r = rng.random()
        account = rng.choice(("a", "b", "mm"))
        if r < 0.45:
            order_type = rng.choice([OrderType.LIMIT] * 6 + list(OrderType))
            tif = rng.choice([TimeInForce.GTC] * 5 + list(TimeInForce))
            kw: dict[str, Any] = {}
            if tif is TimeInForce.GTD:
                kw["expire_ts_ms"] = ts + rng.randint(1, 30)
            if order_type not in (OrderType.LIMIT, OrderType.MARKET):
                kw["trigger_price"] = (center + rng.randint(-5, 5)) * TICK
                kw["trigger"] = rng.choice(list(PriceSource))
            if rng.random() < 0.15:
                kw["display_quantity"] = LOT
            if rng.random() < 0.1 and tif in (TimeInForce.GTC, TimeInForce.GTD):
                kw["post_only"] = rng.choice([PostOnly.REJECT, PostOnly.REPRICE])
            if rng.random() < 0.1:
                kw["reduce_only"] = True
            if rng.random() < 0.2:
                kw["stp"] = rng.choice(list(StpMode))
            if account == "mm" and rng.random() < 0.5:
                kw["mmp_group"] = "g"
            out.append(
                NewOrder(
                    ts,
                    account,
                    name,
                    rng.choice(list(Side)),
                    rng.randint(1, 5) * LOT,
                    price=(center + rng.randint(-4, 4)) * TICK,
                    order_type=order_type,
                    tif=tif,
                    **kw,
                )
            )
        elif r < 0.55:
            out.append(CancelOrder(ts, account, order_id=rng.randint(1, ts)))
        elif r < 0.70:
            out.append(
                AmendOrder(
                    ts,
                    account,
                    order_id=rng.randint(1, ts),
                    price=(center + rng.randint(-4, 4)) * TICK,
                    quantity=rng.choice((None, rng.randint(1, 6) * LOT)),
                )
            )
        elif r < 0.82:
            quotes = tuple(
                Quote(
                    n,
                    ((100 if n == NAME else 10) - rng.randint(1, 3)) * TICK,
                    rng.randint(0, 3) * LOT,
                    ((100 if n == NAME else 10) + rng.randint(1, 3)) * TICK,
                    rng.randint(0, 3) * LOT,
                )
                for n in NAMES
            )
            out.append(MassQuote(ts, "mm", "g", quotes))
        elif r < 0.88:
            out.append(
                UpdatePrice(
                    ts, name, rng.choice(list(PriceSource)), (center + rng.randint(-5, 5)) * TICK
                )
            )
        elif r < 0.92:
            out.append(SetPosition(ts, account, name, rng.randint(-4, 4) * LOT))
        elif r < 0.95:
            out.append(ResetMmp(ts, "mm", "g"))
        elif r < 0.97:
            out.append(MassCancel(ts, account))
        else:
            out.append(AdvanceTime(ts))
    return out


def replay(commands: list[Any]) -> tuple[MatchingEngine, str]:
    """A fresh engine after ``commands``, and the SHA-256 of every event it emitted."""
    engine = MatchingEngine([PERP, CALL])
    digest = hashlib.sha256()
    for command in commands:
        digest.update(encode(engine.process(command)))
    return engine, digest.hexdigest()


def replay_elsewhere(seed: int, count: int, cwd: Path, env: dict[str, str]) -> list[str]:
    """The digests that :func:`main` prints for ``seeded_stream(seed, count)``, from a new
    Python process started in ``cwd`` with ``env``."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.market.replay", str(seed), str(count)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout.split()


def main() -> None:
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    engine, events = replay(seeded_stream(seed, count))
    print(events, engine.state_hash().hex())


if __name__ == "__main__":
    main()
