"""Execution algorithms: schedules meet their targets, reports measure what happened."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.agents import (
    AgentReason,
    Iceberg,
    ParentOrder,
    PassiveAggressive,
    Pov,
    ScheduledAlgo,
    Twap,
    cumulative_targets,
)
from optex.core import InvalidInput
from optex.market import Side
from optex.sim import Simulation
from tests.sim.kit import algo, scenario

LOT = 10_000  # BTC-PERPETUAL: 0.0001 BTC


def test_twap_targets_are_equal_slices() -> None:
    assert cumulative_targets(10 * LOT, LOT, [1.0] * 5) == [
        2 * LOT,
        4 * LOT,
        6 * LOT,
        8 * LOT,
        10 * LOT,
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 10_000),
    st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=30).filter(
        lambda w: sum(w) > 0
    ),
)
def test_vwap_targets_follow_the_profile_within_half_a_lot(lots: int, profile: list[float]) -> None:
    targets = cumulative_targets(lots * LOT, LOT, profile)
    assert targets[-1] == lots * LOT
    assert targets == sorted(targets)
    running = 0.0
    for weight, target in zip(profile, targets[:-1], strict=False):
        running += weight
        assert abs(target / LOT - lots * running / sum(profile)) <= 0.5 + 1e-9


def _run(kind: str, **fields: object) -> Simulation:
    sim = Simulation(scenario(duration_s=70, algos=[algo(kind, **fields)]))
    sim.run()
    return sim


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("twap", {"slices": 6}),
        ("vwap", {"profile": [3.0, 1.0, 1.0, 2.0, 3.0]}),
    ],
)
def test_with_ample_liquidity_each_slice_ends_exactly_on_its_target(
    kind: str, fields: dict[str, object]
) -> None:
    sim = _run(kind, lots=600, duration_s=60, **fields)
    executor = sim.algos[0]
    assert isinstance(executor, ScheduledAlgo)
    assert executor.executed_at_slice == executor.targets
    report = executor.report()
    assert report.fill_rate == 1.0
    assert report.children == len(executor.targets)
    times = [t for t, _ in executor.schedule()]
    assert times[0] == executor.parent.start_ms and times[-1] < executor.parent.end_ms


def test_a_buy_report_counts_paying_above_arrival_as_a_positive_cost() -> None:
    sim = _run("market_order", lots=3000, duration_s=10)
    report = sim.algos[0].report()
    assert report.filled > 0 and report.average_price is not None
    assert report.arrival_price is not None
    assert report.average_price > report.arrival_price
    expected = (report.average_price - report.arrival_price) / report.arrival_price * 1e4
    assert report.slippage_bps == pytest.approx(expected)
    assert report.slippage_bps > 0


def test_pov_keeps_its_participation_at_the_target_rate_after_every_step() -> None:
    sim = Simulation(scenario(duration_s=60, algos=[algo("pov", lots=100_000, rate=0.2)]))
    executor = sim.algos[0]
    assert isinstance(executor, Pov)
    for i in range(1, 41):
        sim.step(i)
        target = 0.2 * executor.market_volume()
        assert target - LOT <= executor.filled <= target
    assert executor.market_volume() > 0 and executor.filled > 0


def test_an_iceberg_shows_only_its_display_quantity() -> None:
    sim = Simulation(
        scenario(duration_s=30, algos=[algo("iceberg", side="sell", lots=500, display_lots=7)])
    )
    sim.step(1)
    executor = sim.algos[0]
    assert isinstance(executor, Iceberg)
    assert executor.order_id is not None
    order = sim.home.engine.order(executor.order_id)
    assert order is not None and order.visible == 7 * LOT
    assert order.remaining + executor.filled == 500 * LOT


def test_passive_aggressive_steps_from_the_mid_towards_the_far_touch() -> None:
    sim = Simulation(
        scenario(
            duration_s=60,
            noise={"option_rate": 0.0, "perp_rate": 0.0},
            algos=[
                algo(
                    "passive_aggressive",
                    instrument="atm_call",
                    lots=2,
                    duration_s=55,
                    steps=4,
                    step_s=10,
                )
            ],
        )
    )
    executor = sim.algos[0]
    assert isinstance(executor, PassiveAggressive)
    sim.step(1)
    assert executor.price is not None and executor.arrival is not None
    tick = executor.instrument.tick_size
    assert abs(executor.price - executor.arrival) < tick  # starts at the arrival mid...
    first = executor.price
    levels = []
    for i in range(2, 61):
        sim.step(i)
        levels.append(executor.level)
    assert levels == sorted(levels) and levels[-1] >= 1  # ...steps once per step_s...
    assert executor.filled == 2 * executor.instrument.lot_size  # ...and trades at the touch
    assert executor.report().average_price is not None
    assert executor.report().average_price > first  # it paid up from the mid


def test_bad_parent_orders_are_refused_with_a_reason() -> None:
    sim = Simulation(scenario(duration_s=5))
    for parent in (
        ParentOrder("a", "BTC-PERPETUAL", Side.BUY, LOT + 1, 0, 10),
        ParentOrder("a", "BTC-PERPETUAL", Side.BUY, LOT, 10, 10),
        ParentOrder("a", "BTC-PERPETUAL", Side.BUY, 0, 0, 10),
        ParentOrder("a", "ETH-PERPETUAL", Side.BUY, LOT, 0, 10),
    ):
        with pytest.raises(InvalidInput) as caught:
            Twap(parent, sim.home)
        assert caught.value.code is AgentReason.INVALID_PARENT_ORDER
    with pytest.raises(InvalidInput) as caught:
        cumulative_targets(LOT, LOT, [0.0, 0.0])
    assert caught.value.code is AgentReason.INVALID_SCHEDULE


def test_a_thin_book_leaves_slices_short_and_the_window_ends_with_one_clean_up_order() -> None:
    sim = Simulation(
        scenario(
            duration_s=40,
            noise={"option_rate": 0.0, "perp_rate": 0.0},
            venues=[{"name": "main", "levels": 10, "level_lots": 15}],
            algos=[algo("twap", lots=600, duration_s=30, slices=3)],
        )
    )
    sim.run()
    executor = sim.algos[0]
    assert isinstance(executor, ScheduledAlgo)
    assert executor.executed_at_slice[0] == 150 * LOT  # the whole visible side, not 200 lots
    assert executor.executed_at_slice[-1] < executor.targets[-1]
    assert executor.children == 4  # three slices and the clean-up at the end
    assert executor.filled == 600 * LOT
