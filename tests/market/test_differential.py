"""The engine against the reference book on random command streams (hypothesis).

Every order type, time in force, self-trade prevention mode, post-only mode, iceberg, stop and
take-profit, reduce-only with positions, amend, cancel and mass cancel; some commands invalid or
stale on purpose. After every command: the same events (book deltas aside), the same depth, and
the invariants (never crossed; filled + remaining + cancelled = quantity; no fill worse than the
limit; the book deltas rebuild the depth).
"""

from __future__ import annotations

import os
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optex.market import (
    AmendOrder,
    BookDelta,
    CancelOrder,
    MassCancel,
    NewOrder,
    OrderAccepted,
    OrderRejected,
    OrderType,
    PostOnly,
    PriceSource,
    SetPosition,
    SetSelfTradePrevention,
    Side,
    StpMode,
    TimeInForce,
    UpdatePrice,
)
from tests.market.kit import LOT, NAME, PERP, TICK, Ledger, depth, engine
from tests.market.reference import ReferenceBook

# Raise for a soak: OPTEX_MARKET_EXAMPLES=20000 pytest tests/market/test_differential.py
EXAMPLES = int(os.environ.get("OPTEX_MARKET_EXAMPLES", "1500"))

ACCOUNTS = ("a", "b", "c")
ticks = st.integers(95, 105)
lots = st.integers(1, 6)


@st.composite
def new_orders(draw: st.DrawFn) -> dict[str, Any]:
    order_type = draw(st.sampled_from([OrderType.LIMIT] * 8 + list(OrderType)))
    market = order_type in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
    triggered = order_type not in (OrderType.LIMIT, OrderType.MARKET)
    tif = draw(st.sampled_from([TimeInForce.GTC] * 6 + list(TimeInForce)))
    quantity = draw(lots) * LOT
    if draw(st.integers(0, 30)) == 0:
        quantity = draw(st.sampled_from([0, -LOT, LOT // 2, 50 * LOT]))
    price: int | None = draw(ticks) * TICK
    if market and draw(st.booleans()):
        price = None
    elif draw(st.integers(0, 30)) == 0:
        price = draw(st.sampled_from([None, 0, TICK + 1]))
    fields: dict[str, Any] = {
        "account": draw(st.sampled_from(ACCOUNTS)),
        "side": draw(st.sampled_from(list(Side))),
        "quantity": quantity,
        "price": price,
        "order_type": order_type,
        "tif": tif,
    }
    if tif is TimeInForce.GTD or (tif is TimeInForce.GTC and draw(st.integers(0, 4)) == 0):
        fields["expire_delta"] = draw(st.integers(-1, 8))
    if triggered:
        fields["trigger_price"] = draw(ticks) * TICK
        fields["trigger"] = draw(st.sampled_from(list(PriceSource)))
    if draw(st.integers(0, 4)) == 0:
        fields["display_quantity"] = draw(st.integers(1, 3)) * LOT
    if draw(st.integers(0, 5)) == 0 and not market and tif in (TimeInForce.GTC, TimeInForce.GTD):
        fields["post_only"] = draw(st.sampled_from([PostOnly.REJECT, PostOnly.REPRICE]))
    if draw(st.integers(0, 5)) == 0:
        fields["reduce_only"] = True
    if draw(st.integers(0, 3)) == 0:
        fields["stp"] = draw(st.sampled_from(list(StpMode)))
    if draw(st.integers(0, 3)) == 0:
        fields["client_order_id"] = draw(st.sampled_from(["x", "y", "z"]))
    return fields


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(
        st.sampled_from(
            ["new"] * 10 + ["cancel"] * 2 + ["amend"] * 3 + ["mass", "price", "position", "stp"]
        )
    )
    account = draw(st.sampled_from(ACCOUNTS))
    if kind == "new":
        return kind, draw(new_orders())
    if kind in ("cancel", "amend"):
        fields: dict[str, Any] = {"account": account, "owner": draw(st.integers(0, 4)) != 0}
        if draw(st.integers(0, 4)) == 0:
            fields["client_order_id"] = draw(st.sampled_from(["x", "y", "z"]))
        elif draw(st.integers(0, 9)) == 0:
            fields["order_id"] = draw(st.integers(1, 40))
        else:
            fields["recent"] = draw(st.integers(0, 6))
        if kind == "amend":
            choice = draw(st.integers(0, 3))
            if choice in (0, 2):
                fields["price"] = draw(ticks) * TICK
            if choice in (1, 2):
                fields["quantity"] = draw(st.integers(1, 8)) * LOT
            if choice == 3:
                fields["trigger_price"] = draw(ticks) * TICK
        return kind, fields
    if kind == "mass":
        return kind, {"account": account}
    if kind == "price":
        return kind, {
            "source": draw(st.sampled_from(list(PriceSource))),
            "price": draw(ticks) * TICK,
        }
    if kind == "position":
        return kind, {"account": account, "position": draw(st.integers(-6, 6)) * LOT}
    return kind, {"account": account, "mode": draw(st.sampled_from(list(StpMode)))}


def build(kind: str, fields: dict[str, Any], ts: int, accepted: list[tuple[int, str]]) -> Any:
    """The command, with ``recent`` resolved to one of the last orders accepted."""
    fields = dict(fields)
    recent = fields.pop("recent", None)
    owner = fields.pop("owner", False)
    if recent is not None:
        order_id, account = accepted[-1 - recent] if recent < len(accepted) else (999, "a")
        fields["order_id"] = order_id
        if owner:
            fields["account"] = account
    if kind == "new":
        delta = fields.pop("expire_delta", None)
        if delta is not None:
            fields["expire_ts_ms"] = ts + delta
        return NewOrder(ts_ms=ts, instrument=NAME, **fields)
    if kind == "cancel":
        return CancelOrder(ts_ms=ts, **fields)
    if kind == "amend":
        return AmendOrder(ts_ms=ts, **fields)
    if kind == "mass":
        return MassCancel(ts_ms=ts, **fields)
    if kind == "price":
        return UpdatePrice(ts_ms=ts, instrument=NAME, **fields)
    if kind == "position":
        return SetPosition(ts_ms=ts, instrument=NAME, **fields)
    return SetSelfTradePrevention(ts_ms=ts, **fields)


def comparable(events: list[Any]) -> list[Any]:
    """Events without book deltas, rejections without their free-text message."""
    out: list[Any] = []
    for ev in events:
        if isinstance(ev, BookDelta):
            continue
        if isinstance(ev, OrderRejected):
            out.append((ev.ts_ms, ev.account, ev.client_order_id, ev.order_id, ev.code, ev.reason))
        else:
            out.append(ev)
    return out


steps = st.sampled_from([0, 0, 1, 1, 1, 2, 3] * 4 + [-1])
streams = st.lists(st.tuples(commands(), steps), min_size=1, max_size=60)


def run_against_reference(stream: list[tuple[tuple[str, dict[str, Any]], int]]) -> None:
    """Drive the engine and the reference with ``stream``, comparing after every command."""
    e = engine()
    ref = ReferenceBook(PERP)
    ledger = Ledger()
    ts = 10
    accepted: list[tuple[int, str]] = []
    for (kind, fields), step in stream:
        ts += step
        command = build(kind, fields, ts, accepted)
        if ts < e.now_ms and kind in ("price", "position", "stp"):
            continue  # administrative commands raise on stale time; tested elsewhere
        got = e.process(command)
        want = ref.process(command)
        assert comparable(got) == comparable(want), command
        assert depth(e) == tuple(
            [(p // TICK, q // LOT) for p, q in side] for side in ref.depth()
        ), command
        ledger.apply(got)
        accepted.extend((ev.order_id, ev.account) for ev in got if isinstance(ev, OrderAccepted))
        ts = max(ts, e.now_ms)
        ledger.check(e)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams)
def test_engine_matches_the_reference_book_on_random_streams(stream: list[Any]) -> None:
    run_against_reference(stream)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(st.integers(0, 2**32))
def test_engine_matches_the_reference_book_on_long_uniform_streams(seed: int) -> None:
    rng = random.Random(seed)
    # Hypothesis shrinks towards simple values (mostly buys, one price); these streams draw
    # every field uniformly, so that long books with many crossings are covered too.
    stream = []
    for _ in range(250):
        stream.append((uniform_command(rng), rng.choice([0, 1, 1, 2, 3] * 6 + [-1])))
    run_against_reference(stream)


def uniform_command(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """One command drawn uniformly, in the same shape as :func:`commands`."""
    kind = rng.choice(
        ["new"] * 12 + ["cancel"] * 3 + ["amend"] * 5 + ["mass", "price", "position", "stp"]
    )
    account = rng.choice(ACCOUNTS)
    if kind == "new":
        order_type = rng.choice([OrderType.LIMIT] * 10 + list(OrderType))
        market = order_type in (
            OrderType.MARKET,
            OrderType.STOP_MARKET,
            OrderType.TAKE_PROFIT_MARKET,
        )
        tif = rng.choice([TimeInForce.GTC] * 8 + list(TimeInForce))
        fields: dict[str, Any] = {
            "account": account,
            "side": rng.choice(list(Side)),
            "quantity": rng.randint(1, 6) * LOT if rng.random() > 0.02 else LOT // 2,
            "price": None if market and rng.random() < 0.5 else rng.randint(95, 105) * TICK,
            "order_type": order_type,
            "tif": tif,
        }
        if tif is TimeInForce.GTD or (tif is TimeInForce.GTC and rng.random() < 0.2):
            fields["expire_delta"] = rng.randint(-1, 12)
        if order_type not in (OrderType.LIMIT, OrderType.MARKET):
            fields["trigger_price"] = rng.randint(95, 105) * TICK
            fields["trigger"] = rng.choice(list(PriceSource))
        if rng.random() < 0.15:
            fields["display_quantity"] = rng.randint(1, 3) * LOT
        if rng.random() < 0.15 and not market and tif in (TimeInForce.GTC, TimeInForce.GTD):
            fields["post_only"] = rng.choice([PostOnly.REJECT, PostOnly.REPRICE])
        if rng.random() < 0.1:
            fields["reduce_only"] = True
        if rng.random() < 0.25:
            fields["stp"] = rng.choice(list(StpMode))
        if rng.random() < 0.2:
            fields["client_order_id"] = rng.choice(["x", "y", "z"])
        return kind, fields
    if kind in ("cancel", "amend"):
        fields = {"account": account, "owner": rng.random() < 0.85}
        if rng.random() < 0.1:
            fields["client_order_id"] = rng.choice(["x", "y", "z"])
        else:
            fields["recent"] = rng.randint(0, 4)
        if kind == "amend":
            choice = rng.randint(0, 3)
            if choice in (0, 2):
                fields["price"] = rng.randint(95, 105) * TICK
            if choice in (1, 2):
                fields["quantity"] = rng.randint(1, 8) * LOT
            if choice == 3:
                fields["trigger_price"] = rng.randint(95, 105) * TICK
        return kind, fields
    if kind == "mass":
        return kind, {"account": account}
    if kind == "price":
        return kind, {"source": rng.choice(list(PriceSource)), "price": rng.randint(95, 105) * TICK}
    if kind == "position":
        return kind, {"account": account, "position": rng.randint(-6, 6) * LOT}
    return kind, {"account": account, "mode": rng.choice(list(StpMode))}
